"""Documented patterns and bounds for every value that crosses the HTTP boundary, and the one strict JSON parser.

Kept in one place so the API's OpenAPI schema, the handlers and the docs agree.

Patterns are written with ``^...$`` because pydantic (Rust regex) and OpenAPI read them that way; in Rust's regex
``$`` only matches at the very end. Python's ``re`` lets ``$`` match *before* a trailing newline, so every Python
check uses ``fullmatch`` (:func:`matches`), never ``match``: ``"done\\n"`` fails everywhere alike.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from itertools import accumulate
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from communication.protocol.errors import MalformedJSON, ValidationFailed

#: Workflow ids: 1-128 chars, letters, digits and ``._:-``, starting with a letter or digit.
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: Event keys, message topics and stream keys: 1-128 chars of letters, digits and ``._:-``,
#: starting with a letter, digit or underscore.
KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$"
#: Idempotency keys (and session event ids): 1-200 printable ASCII characters without spaces.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"

#: Largest stream offset / event version storage can hold (BIGINT): every position from a client is checked
#: against it (``0 <= position <= MAX_POSITION``) before it reaches a query.
MAX_POSITION = 2**63 - 1

_KEY_RE = re.compile(KEY_PATTERN)
_WORKFLOW_ID_RE = re.compile(WORKFLOW_ID_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)

#: Largest integer accepted where a value reaches storage as a number (step ids, counters): SQLite and Postgres
#: integer columns and DBOS's step ids are at most signed 32/64-bit; 2^31-1 is far beyond any real value.
MAX_STORED_INT = 2**31 - 1
#: Accepted range of date-times in filters and schedule ranges (UTC): epoch-millisecond columns and cron
#: arithmetic near years 1 and 9999 overflow, and nothing real happens outside this range.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime(3000, 1, 1, tzinfo=UTC)


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """Whether ``value`` is a string matching ``pattern`` in full (no trailing newline sneaks past ``$``)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_workflow_id(value: str) -> str:
    """Return ``value`` if it is a valid workflow id, else raise :class:`ValidationFailed`."""
    if not matches(_WORKFLOW_ID_RE, value):
        raise ValidationFailed("invalid workflow id", field="workflow_id", pattern=WORKFLOW_ID_PATTERN)
    return value


def check_key(value: str, field: str = "key") -> str:
    """Return ``value`` if it is a valid event key / topic / stream key."""
    if not matches(_KEY_RE, value):
        raise ValidationFailed(f"invalid {field}", field=field, pattern=KEY_PATTERN)
    return value


def check_idempotency_key(value: object, field: str = "idempotency_key") -> str:
    """Return ``value`` if it is a valid idempotency key (or session event id): a string, or an integer
    (written as its decimal digits), matching :data:`IDEMPOTENCY_KEY_PATTERN`. Objects, lists, floats and booleans
    are refused rather than turned into text."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not matches(_IDEMPOTENCY_KEY_RE, value):
        raise ValidationFailed(f"invalid {field}", field=field, pattern=IDEMPOTENCY_KEY_PATTERN)
    assert isinstance(value, str)
    return value


#: Longest accepted date-time text: ``2024-01-01T00:00:00.123456+00:00`` is 32 characters; anything much longer
#: is not a date-time, and refusing it first keeps every later check short.
MAX_DATETIME_CHARS = 64
# Possessive quantifiers and one way to read each digit run: a fullmatch that fails costs one pass, however long
# the text (``\d+\.?\d*`` could split a run of digits at every position, quadratic on "1111…x").
_NUMBER_RE = re.compile(r"\s*+[+-]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][+-]?+\d++)?+\s*+")


def _not_a_number(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_DATETIME_CHARS:
        raise ValueError(f"must be an ISO 8601 date-time of at most {MAX_DATETIME_CHARS} characters")
    # pydantic would read 0.5 or "1700000000" as a unix time; the contract says ISO 8601 date-time.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER_RE.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time, not a number")
    return value


def _in_datetime_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not DATETIME_MIN <= aware < DATETIME_MAX:
        raise ValueError(f"must be between {DATETIME_MIN.isoformat()} and {DATETIME_MAX.isoformat()} (UTC)")
    return value


#: A date-time within [``DATETIME_MIN``, ``DATETIME_MAX``); use for every date-time parameter or body field.
BoundedDatetime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_datetime_range)]
#: A non-negative integer that fits every storage column it may reach.
BoundedInt = Annotated[int, Field(ge=0, le=MAX_STORED_INT)]


def json_depth(value: Any, limit: int) -> int:
    """Depth of a decoded JSON value, iteratively (a deep document cannot blow the stack).

    Raises:
        MalformedJSON: when the depth exceeds ``limit``.
    """
    depth = 0
    frontier: list[tuple[Any, int]] = [(value, 1)]
    while frontier:
        node, level = frontier.pop()
        if isinstance(node, dict | list):
            depth = max(depth, level)
            if depth > limit:
                raise MalformedJSON(f"JSON nests deeper than {limit} levels", max_depth=limit)
            children = node.values() if isinstance(node, dict) else node
            frontier.extend((child, level + 1) for child in children)
    return depth


# A JSON string literal, and every byte that is not a bracket. The closing quote is optional and every quantifier
# possessive, so the match at an opening quote never fails and never backtracks: an unterminated string is taken
# to the end of the text in one pass. (With a required closing quote, an unterminated string full of ``\\"``
# made the engine retry from every quote inside it: quadratic, 48 KB took 27 s.) Treating the rest of the text
# as string is what the parser does too: it stops at an unterminated string before reading any bracket after it.
_JSON_STRING_RE = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?+', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def text_depth(text: str, limit: int) -> int:
    """Nesting depth of JSON *text*, measured without parsing (so a deep document never reaches a recursive
    parser). Exact for valid JSON; for invalid JSON it may over-count, which only rejects what would fail anyway.

    Raises:
        MalformedJSON: when the depth exceeds ``limit``.
    """
    # Outside strings valid JSON is ASCII, so the rest can be bytes (anything else fails the parse anyway); keeping
    # only the brackets and accumulating +1/-1 all run in C: a 1 MB body of brackets costs ~30 ms.
    rest = _JSON_STRING_RE.sub("", text).encode("ascii", errors="ignore")
    brackets = rest.translate(None, _NOT_BRACKETS)
    deepest = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if deepest > limit:
        raise MalformedJSON(f"JSON nests deeper than {limit} levels", max_depth=limit)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json(data: bytes | str, max_depth: int) -> Any:
    """The one strict JSON parser for everything that arrives from outside (bodies, WebSocket frames, webhooks).

    UTF-8 only; nesting checked on the text *before* parsing (:func:`text_depth`), so no input can make the
    parser recurse deeply; ``NaN``, ``Infinity`` and numbers that overflow to infinity are refused (they are not
    JSON and would be stored as ``null`` or ``"nan"``).

    Raises:
        MalformedJSON: not UTF-8, not JSON, non-finite numbers, or nested deeper than ``max_depth``.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON("request body is not UTF-8 encoded JSON", reason=str(exc)[:200]) from None
    else:
        text = data
    text_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:  # unreachable after text_depth with max_depth well under the recursion limit
        raise MalformedJSON("JSON nests too deeply", max_depth=max_depth) from None
    except ValueError as exc:  # JSONDecodeError, refused constants, huge integers
        details: dict[str, object] = {"reason": str(exc)[:200]}
        if isinstance(exc, json.JSONDecodeError):
            details.update(line=exc.lineno, column=exc.colno)
        raise MalformedJSON("request body is not valid JSON", **details) from None


#: Longest prompt an approval link or a human-input request shows a person.
MAX_PROMPT_CHARS = 500
