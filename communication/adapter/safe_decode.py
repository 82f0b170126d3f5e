"""The one way this server turns a value stored in DBOS's system database into data: never by running code.

Why: a gateway reads values other applications wrote. DBOS's default serializer is pickle, and unpickling runs
whatever the pickle names (``__reduce__``), so an unrestricted ``pickle.loads`` of a foreign value executes that
application's (or an attacker's) code inside this server. Values therefore decode here only as

- DBOS's portable JSON (``serialization = 'portable_json'``): ``json.loads``;
- a pickle (``'py_pickle'``, or no marker: DBOS's default) of plain data only — ``None``, bools, numbers,
  strings, bytes, lists, tuples, dicts, sets and a few value types (``datetime``, ``date``, ``time``,
  ``timedelta``, ``timezone``, ``Decimal``). The unpickler resolves no other global, so no class is instantiated
  and no callable is reached (``REDUCE`` needs one); anything else is :class:`ValueNotDecodable`. This keeps
  this library's own non-portable values (its internal workflows write plain strings and dicts with DBOS's
  default serializer) readable.

Every other serialization name is refused. Every read path of stored values (events, streams, workflow
input/output/error, steps) goes through :func:`decode_value`; nothing in this server calls a DBOS function that
deserializes a value another application may have written.
"""

from __future__ import annotations

import _compat_pickle
import base64
import binascii
import builtins
import datetime
import decimal
import io
import json
import pickle
from typing import Any

from dbos import _error as dbos_errors

from communication.protocol.errors import ValueNotDecodable

PORTABLE_JSON = "portable_json"
PICKLE = "py_pickle"


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Stands in for ``_codecs.encode``, which pickle protocols 0-2 use to rebuild ``bytes``: latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than the latin-1 form pickle writes for bytes")
    return text.encode("latin-1")


#: The only globals a stored pickle may name: plain value types whose reconstruction runs no user code.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _latin1_bytes,
}


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Protocols 0-2 write Python 2 names (``__builtin__.set``); map them as the standard unpickler does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: every global other than the value types above is refused."""

    def find_class(self, module: str, name: str) -> Any:
        module, name = _python3_name(module, name)
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is decoded")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a persistent id: only plain data is decoded")


class _ErrorUnpickler(_PlainDataUnpickler):
    """For a recorded error: plain data, Python's built-in exception classes and DBOS's own (``dbos._error``, e.g.
    a step's ``DBOSMaxStepRetriesExceeded``), whose construction runs no application code; any other exception
    class (an application's own) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        module, name = _python3_name(module, name)
        owner = builtins if module == "builtins" else dbos_errors if module == "dbos._error" else None
        if owner is not None:
            found = getattr(owner, name, None)
            if isinstance(found, type) and issubclass(found, BaseException):
                return found
        return super().find_class(module, name)


def _plain_unpickle(text: str, unpickler: type[pickle.Unpickler] = _PlainDataUnpickler) -> Any:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise pickle.UnpicklingError(f"not base64: {exc}") from exc
    return unpickler(io.BytesIO(raw)).load()


class UndecodableValue(Exception):
    """Why one stored value cannot be decoded (internal; callers turn it into :class:`ValueNotDecodable`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_raw(value: str | None, serialization: str | None) -> Any:
    """Decode one stored value, or raise :class:`UndecodableValue`. Never runs code named by the value."""
    if value is None:
        return None
    try:
        if serialization == PORTABLE_JSON:
            return json.loads(value)
        if serialization is None or serialization == PICKLE:
            return _plain_unpickle(value)
    except Exception as exc:
        raise UndecodableValue(type(exc).__name__, str(exc)) from exc
    raise UndecodableValue("UnknownSerialization", f"serialization {serialization!r} is not decoded by this server")


def decode_error_raw(value: str | None, serialization: str | None) -> str | None:
    """A recorded workflow or step error as ``"<Type>: <message>"``, or raise :class:`UndecodableValue`.

    Portable errors are ``{"name", "message", ...}``; pickled ones decode only as built-in exception classes.
    """
    if value is None:
        return None
    try:
        if serialization == PORTABLE_JSON:
            data = json.loads(value)
            if isinstance(data, dict):
                return f"{data.get('name', 'Error')}: {data.get('message', '')}"
            return str(data)
        if serialization is None or serialization == PICKLE:
            err = _plain_unpickle(value, _ErrorUnpickler)
            return f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else str(err)
    except Exception as exc:
        raise UndecodableValue(type(exc).__name__, str(exc)) from exc
    raise UndecodableValue("UnknownSerialization", f"serialization {serialization!r} is not decoded by this server")


def not_decodable(
    workflow_id: str, key: str, kind: str, serialization: str | None, why: UndecodableValue
) -> ValueNotDecodable:
    """The client-facing error for one value that cannot be decoded; names the workflow, the key and the fix."""
    return ValueNotDecodable(
        f"the {kind} {key!r} of workflow {workflow_id!r} cannot be decoded by this server "
        f"({why.reason}: {why.detail}); make the writing application use portable JSON serialization "
        "(serialization_type=WorkflowSerializationFormat.PORTABLE on its workflows)",
        workflow_id=workflow_id,
        key=key,
        kind=kind,
        serialization=serialization,
        reason=why.reason,
    )


def decode_value(value: str | None, serialization: str | None, *, workflow_id: str, key: str, kind: str) -> Any:
    """Decode one stored value (event, stream item, input, output, error, step output).

    Raises:
        ValueNotDecodable: anything but portable JSON or a pickle of plain data; names the workflow and key.
    """
    try:
        return decode_raw(value, serialization)
    except UndecodableValue as why:
        raise not_decodable(workflow_id, key, kind, serialization, why) from why
