"""Direct, read-mostly access to the DBOS system database.

Why this module exists: DBOS's public API answers "wait until" questions (``get_event``, ``read_stream``) but
not "what is there now" ones that an HTTP API needs: a stream snapshot with offsets and a closed flag, the list
of a workflow's streams, event versions, or whether an idempotent send was a duplicate. Those reads go to the
tables DBOS documents (``workflow_status``, ``workflow_events_history``, ``streams``, ``notifications``) through
the engine and table objects of the running DBOS instance, so they share its pool and schema. Every use of a
DBOS internal is confined here (pinned to dbos 3.4.x in pyproject.toml); nothing here writes except
:func:`send_once`, which reuses DBOS's own insert.

All functions are synchronous (SQLAlchemy); callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dbos._dbos import _get_dbos_instance
from dbos._serialization import WorkflowSerializationFormat
from dbos._sys_db import SendMessage, SystemDatabase, is_serialized_stream_closed_sentinel
from dbos._sys_db import workflow_is_active as _dbos_workflow_is_active

from communication.adapter.safe_decode import decode_value
from communication.protocol.errors import ValueNotDecodable


def is_terminal(status: str) -> bool:
    """Whether a DBOS workflow status string is final (the workflow will never run again unless resumed)."""
    return not _dbos_workflow_is_active(status)


def _sysdb() -> SystemDatabase:
    return _get_dbos_instance()._sys_db


def sysdb() -> SystemDatabase:
    """The launched DBOS instance's system database (engine and table objects) for the adapter's other modules."""
    return _sysdb()


def is_connection_error(exc: BaseException) -> bool:
    """Whether a failed read means "the database is unreachable or busy, retry later" rather than a bad request.

    SQLAlchemy reports lost connections, refused connections and SQLite's "database is locked" as
    ``OperationalError`` / ``InterfaceError`` or with ``connection_invalidated``.
    """
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def _decode(value: str | None, serialization: str | None, *, workflow_id: str, key: str, kind: str) -> Any:
    """Decode one stored value without ever running code it names (:mod:`communication.adapter.safe_decode`).

    Raises:
        ValueNotDecodable: the value is not portable JSON nor a pickle of plain data (typically another
            application's pickled class); names the workflow, the key and the fix.
    """
    return decode_value(value, serialization, workflow_id=workflow_id, key=key, kind=kind)


def workflow_status(workflow_id: str) -> str | None:
    """The workflow's status string, or ``None`` if no such workflow exists. One indexed read."""
    sysdb = _sysdb()
    ws = sysdb.tables.workflow_status
    with sysdb.engine.begin() as c:
        row = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).first()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class EventValue:
    """The latest value of one event key and its version (the DBOS step id that set it; increases per set).

    ``error`` is set (and ``value`` is ``None``) when this one value cannot be decoded: its neighbours still read.
    """

    value: Any
    version: int
    error: ValueNotDecodable | None = None


def read_events(workflow_id: str) -> tuple[str | None, dict[str, EventValue]]:
    """Status and every event's latest value with its version, read in one transaction.

    Returns ``(None, {})`` if the workflow does not exist.
    """
    sysdb = _sysdb()
    ws = sysdb.tables.workflow_status
    hist = sysdb.tables.workflow_events_history
    latest = (
        sa.select(hist.c.key, sa.func.max(hist.c.function_id).label("version"))
        .where(hist.c.workflow_uuid == workflow_id)
        .group_by(hist.c.key)
        .subquery()
    )
    with sysdb.engine.begin() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).first()
        if status is None:
            return None, {}
        rows = c.execute(
            sa.select(hist.c.key, hist.c.value, hist.c.serialization, hist.c.function_id)
            .join(
                latest,
                sa.and_(latest.c.key == hist.c.key, latest.c.version == hist.c.function_id),
            )
            .where(hist.c.workflow_uuid == workflow_id)
            .order_by(hist.c.key)
        ).fetchall()
    events: dict[str, EventValue] = {}
    for r in rows:
        key = str(r[0])
        try:
            events[key] = EventValue(_decode(r[1], r[2], workflow_id=workflow_id, key=key, kind="event"), int(r[3]))
        except ValueNotDecodable as exc:
            events[key] = EventValue(None, int(r[3]), exc)
    return str(status[0]), events


@dataclass(frozen=True)
class StreamSlice:
    """Values of one stream from ``offset``: ``values[i]`` is at offset ``offset + i``.

    ``undecodable`` is set when the value at :attr:`next_offset` cannot be decoded: the slice holds every value
    before it, and a reader reports that error at that offset.
    """

    status: str
    offset: int
    values: list[Any]
    closed: bool
    undecodable: ValueNotDecodable | None = None

    @property
    def next_offset(self) -> int:
        """The offset a reader continues from."""
        return self.offset + len(self.values)


def read_stream(workflow_id: str, key: str, offset: int, limit: int) -> StreamSlice | None:
    """Up to ``limit`` consecutive values of a stream from ``offset``, never waiting.

    ``closed`` is true once the workflow has closed the stream and this slice reaches the close marker.
    Returns ``None`` if the workflow does not exist.
    """
    sysdb = _sysdb()
    ws = sysdb.tables.workflow_status
    st = sysdb.tables.streams
    with sysdb.engine.begin() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).first()
        if status is None:
            return None
        rows = c.execute(
            sa.select(st.c.offset, st.c.value, st.c.serialization)
            .where(st.c.workflow_uuid == workflow_id, st.c.key == key, st.c.offset >= offset)
            .order_by(st.c.offset)
            .limit(limit + 1)  # one more, so a close marker right after the window is seen
        ).fetchall()
    return stream_slice(rows, str(status[0]), workflow_id, key, offset, limit)


def stream_slice(rows: Any, status: str, workflow_id: str, key: str, offset: int, limit: int) -> StreamSlice:
    """The slice of one stream from ``offset`` given its rows ``(offset, value, serialization)`` in ascending
    offset order (up to ``limit + 1`` of them, so a close marker right after the window is seen)."""
    values: list[Any] = []
    closed = False
    undecodable: ValueNotDecodable | None = None
    for expected, row in enumerate(rows, start=offset):
        if int(row[0]) != expected:
            break  # a gap can only be a write not yet visible; stop at the first hole
        if is_serialized_stream_closed_sentinel(row[1], row[2]):
            closed = True
            break
        if len(values) == limit:
            break
        try:
            values.append(_decode(row[1], row[2], workflow_id=workflow_id, key=key, kind="stream"))
        except ValueNotDecodable as exc:
            undecodable = exc  # the values before it are delivered; the reader reports this one at its offset
            break
    return StreamSlice(status, offset, values, closed, undecodable)


@dataclass(frozen=True)
class StreamInfo:
    """Summary of one stream: number of values (close marker excluded) and whether it is closed."""

    key: str
    length: int
    closed: bool


def list_streams(workflow_id: str) -> tuple[str | None, list[StreamInfo]]:
    """Status and a summary of every stream the workflow has written, ordered by key."""
    sysdb = _sysdb()
    ws = sysdb.tables.workflow_status
    st = sysdb.tables.streams
    last = (
        sa.select(st.c.key, sa.func.max(st.c.offset).label("last"))
        .where(st.c.workflow_uuid == workflow_id)
        .group_by(st.c.key)
        .subquery()
    )
    with sysdb.engine.begin() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).first()
        if status is None:
            return None, []
        rows = c.execute(
            sa.select(st.c.key, st.c.offset, st.c.value, st.c.serialization)
            .join(last, sa.and_(last.c.key == st.c.key, last.c.last == st.c.offset))
            .where(st.c.workflow_uuid == workflow_id)
            .order_by(st.c.key)
        ).fetchall()
    infos = []
    for key, last_offset, value, serialization in rows:
        if str(key).startswith("~"):
            continue  # session event-id markers (adapter/session_store.py), not a stream
        closed = is_serialized_stream_closed_sentinel(value, serialization)
        infos.append(StreamInfo(str(key), int(last_offset) + (0 if closed else 1), closed))
    return str(status[0]), infos


def stored_key(idempotency_key: str) -> str:
    """The idempotency key as handed to DBOS, chosen so that DBOS's message id ``f"{key}::{destination}"`` can
    never be the same for two different ``(key, destination)`` pairs.

    Destination ids may contain ``::`` (``b::c``), so with raw keys ``("approve-1::b", "c")`` and
    ``("approve-1", "b::c")`` both gave ``approve-1::b::c``. The id splits unambiguously at its first ``::`` when the
    stored key has no ``::``, does not end in ``:`` (destinations never start with ``:``), and the encoding is
    injective. Keys that already qualify and do not start with ``%`` are stored as they are, so ids written before
    this encoding stay valid (a retry of such a key after an upgrade is still a duplicate); every other key is
    stored as ``%`` + the key with ``%`` and ``:`` percent-encoded (``%25``, ``%3A``), which contains no ``:`` at
    all and cannot equal a key stored as is (those never start with ``%``).
    """
    if "::" not in idempotency_key and not idempotency_key.endswith(":") and not idempotency_key.startswith("%"):
        return idempotency_key
    return "%" + idempotency_key.replace("%", "%25").replace(":", "%3A")


def _message_uuid(idempotency_key: str | None, destination_id: str) -> str:
    """DBOS's own message id for a keyed send (``_send_bulk_txn``): the stored key scoped to its destination."""
    return f"{None if idempotency_key is None else stored_key(idempotency_key)}::{destination_id}"


def message_sent(destination_id: str, idempotency_key: str) -> bool:
    """Whether a message with this idempotency key was ever sent to ``destination_id`` (consumed or not).

    DBOS keeps consumed messages (marked ``consumed``), so this also answers after the workflow read it.
    """
    sysdb = _sysdb()
    notifications = sysdb.tables.notifications
    message_uuid = _message_uuid(idempotency_key, destination_id)
    with sysdb.engine.begin() as c:
        row = c.execute(
            sa.select(notifications.c.message_uuid).where(notifications.c.message_uuid == message_uuid)
        ).first()
    return row is not None


@dataclass(frozen=True)
class SendOutcome:
    """What :func:`send_once` did: ``result`` is ``delivered``, ``duplicate``, ``not_found`` or ``finished``."""

    result: str
    workflow_status: str | None


def send_once(destination_id: str, topic: str, message: Any, idempotency_key: str | None) -> SendOutcome:
    """Send a message, exactly once per ``(destination, idempotency_key)``, in one transaction that also checks
    the destination's status.

    DBOS makes a keyed send idempotent (``ON CONFLICT DO NOTHING`` on the message id) but does not say
    whether the row was new. We run DBOS's own insert inside our transaction after checking for the
    message id, serialised against concurrent senders of the same key: Postgres by a transaction-scoped
    advisory lock on the id, SQLite by taking the database write lock (``BEGIN IMMEDIATE``) first.

    A repeat of a key already delivered answers ``duplicate`` even once the workflow has finished, so a client
    retrying an acknowledged send after a lost response gets the same answer; a *new* message to a finished
    workflow answers ``finished`` and stores nothing (it would never be read).
    """

    sysdb = _sysdb()
    notifications = sysdb.tables.notifications
    ws = sysdb.tables.workflow_status
    message_uuid = _message_uuid(idempotency_key, destination_id)
    with sysdb.engine.begin() as c:
        if c.dialect.name == "postgresql":
            if idempotency_key is not None:
                c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 0))"), {"id": message_uuid})
        else:
            # pysqlite opens a transaction only at the first write, so the checks below would run in
            # autocommit and two senders could both see "absent". Take the write lock first.
            c.execute(sa.text("BEGIN IMMEDIATE"))
        # One statement for the destination's status and the duplicate check (one round trip, not two).
        seen_expr: sa.ColumnElement[bool] = (
            sa.exists().where(notifications.c.message_uuid == message_uuid)
            if idempotency_key is not None
            else sa.false()
        )
        row = c.execute(sa.select(ws.c.status, seen_expr).where(ws.c.workflow_uuid == destination_id)).first()
        if row is None:
            return SendOutcome("not_found", None)
        status = str(row[0])
        if row[1]:
            return SendOutcome("duplicate", status)
        if is_terminal(status):
            return SendOutcome("finished", status)
        insert_message(
            c, destination_id, message, topic, None if idempotency_key is None else stored_key(idempotency_key)
        )
    return SendOutcome("delivered", status)


def insert_message(c: sa.Connection, destination_id: str, message: Any, topic: str, message_key: str | None) -> None:
    """DBOS's own insert of one message, inside the caller's transaction ``c``.

    Portable JSON: whatever arrives over HTTP is JSON, and any DBOS client can then read it.
    """
    _sysdb().send_bulk_with_connection(
        [SendMessage(destination_id, message, topic, message_key, None)],
        c,
        serialization_type=WorkflowSerializationFormat.PORTABLE,
        function_name="DBOS.send",
        send_to_forks=False,
    )


@dataclass(frozen=True)
class EventChange:
    """One ``set_event`` from the durable history; ``error`` set (``value`` ``None``) if it cannot be decoded."""

    key: str
    value: Any
    version: int
    error: ValueNotDecodable | None = None


def read_event_changes(workflow_id: str, after_version: int, limit: int) -> tuple[str | None, list[EventChange]]:
    """Status and every event set with version > ``after_version`` (oldest first, at most ``limit``)."""
    sysdb = _sysdb()
    ws = sysdb.tables.workflow_status
    hist = sysdb.tables.workflow_events_history
    with sysdb.engine.begin() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).first()
        if status is None:
            return None, []
        rows = c.execute(
            sa.select(hist.c.key, hist.c.value, hist.c.serialization, hist.c.function_id)
            .where(hist.c.workflow_uuid == workflow_id, hist.c.function_id > after_version)
            .order_by(hist.c.function_id)
            .limit(limit)
        ).fetchall()
    changes: list[EventChange] = []
    for r in rows:
        key = str(r[0])
        try:
            changes.append(
                EventChange(key, _decode(r[1], r[2], workflow_id=workflow_id, key=key, kind="event"), int(r[3]))
            )
        except ValueNotDecodable as exc:
            changes.append(EventChange(key, None, int(r[3]), exc))
    return str(status[0]), changes
