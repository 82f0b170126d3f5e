"""Session posts in one durable write: append straight to the session workflow's stream.

Why: relaying a post through the session workflow (``send`` → ``recv`` → ``write_stream``) costs two database
hops and a workflow wake-up per event. Here a post is one transaction on DBOS's ``streams`` table, shaped like
DBOS's own stream insert (``SystemDatabase._stream_insert_stmt``: same columns, portable JSON, offset = last + 1),
followed by DBOS's post-commit stream signal, so every reader (DBOS ``read_stream``, our hub, other processes
through Postgres NOTIFY) sees it exactly as a workflow's write.

Guarantees, all inside that one transaction, serialised per session (Postgres: a transaction-scoped advisory
lock on the workflow id; SQLite: ``BEGIN IMMEDIATE``):

* idempotent by event id: a marker row ``(workflow, "~id/<event id>", 0)`` in the same table; its primary key
  makes a repeat a no-op, and its value is the event's offset (``~`` cannot start a stream key we accept, so it
  never collides with a user's stream; ``list_streams`` hides these keys);
* ordered: offsets are consecutive in commit order;
* closed: a closing event is followed by DBOS's close marker in the same transaction; later posts see it;
  the session workflow is woken by a message (only on close) so it finishes at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dbos._serialization import DBOSPortableJSON, WorkflowSerializationFormat, serialize_value
from dbos._sys_db import (
    _dbos_stream_closed_sentinel,
    _dbos_streams_channel,
    is_serialized_stream_closed_sentinel,
)

from communication.adapter.store import _decode, insert_message, is_terminal
from communication.adapter.store import sysdb as _sysdb

ID_KEY_PREFIX = "~id/"
PORTABLE_NAME = DBOSPortableJSON.name()  # marker rows' stream keys; KEY_PATTERN forbids '~' as a first character


@dataclass(frozen=True)
class Appended:
    """What :func:`append_event` did.

    ``result``: ``delivered``, ``duplicate``, ``closed`` (the stream is closed or the workflow finished),
    ``not_found`` (no such workflow), ``other_type`` (the workflow is not of ``workflow_name``), or ``active`` (an
    idle-timeout append found newer activity).
    ``offset``: the event's offset (delivered / duplicate); ``last_activity``: epoch seconds of the newest event
    (or the workflow's creation), for ``active``.
    """

    result: str
    offset: int | None = None
    last_activity: float | None = None


def _portable(value: Any) -> tuple[str, str]:
    """Portable JSON, as DBOS writes it (and as the close marker must be, to be recognised)."""
    text, serialization = serialize_value(value, WorkflowSerializationFormat.PORTABLE, _sysdb().serializer)
    assert text is not None
    return text, serialization


def append_event(
    workflow_id: str,
    key: str,
    event: dict[str, Any],
    event_id: str,
    *,
    close: bool,
    wake_topic: str,
    idle_before: float | None = None,
    workflow_name: str | None = None,
) -> Appended:
    """Append ``event`` to stream ``key`` of ``workflow_id`` once per ``event_id``; close the stream if ``close``.

    Args:
        idle_before: only append if the newest event (or the workflow's creation when there is none) is older
            than this epoch time - the idle-timeout check and its close happen in one transaction, so a post
            racing with the timeout either lands before it (and the session stays open) or is refused.
        wake_topic: topic of the message that wakes the session workflow when the stream is closed.
        workflow_name: only append to a workflow of this DBOS name (a session post must never write into another
            type's workflow that happens to hold the id).
    """
    sysdb = _sysdb()
    st = sysdb.tables.streams
    ws = sysdb.tables.workflow_status
    marker = ID_KEY_PREFIX + event_id
    with sysdb.engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 0))"), {"id": "session:" + workflow_id}
            )
        else:
            c.execute(sa.text("BEGIN IMMEDIATE"))  # pysqlite would run the reads below in autocommit
        # One round trip for the status, the duplicate check and the newest row (scalar subqueries).
        mine = (st.c.workflow_uuid == workflow_id, st.c.key == key)
        newest = sa.select(sa.func.max(st.c.offset)).where(*mine).scalar_subquery()
        seen_q = sa.select(st.c.value).where(st.c.workflow_uuid == workflow_id, st.c.key == marker, st.c.offset == 0)
        last_q = sa.select(st.c.value, st.c.serialization).where(*mine, st.c.offset == newest).limit(1)
        row = c.execute(
            sa.select(
                ws.c.status,
                ws.c.created_at,
                seen_q.scalar_subquery(),
                newest,
                last_q.with_only_columns(st.c.value).scalar_subquery(),
                last_q.with_only_columns(st.c.serialization).scalar_subquery(),
                ws.c.name,
            ).where(ws.c.workflow_uuid == workflow_id)
        ).first()
        if row is None:
            return Appended("not_found")
        if workflow_name is not None and row[6] != workflow_name:
            return Appended("other_type")
        if row[2] is not None:  # markers are written as portable JSON integers
            return Appended(
                "duplicate", int(_decode(row[2], PORTABLE_NAME, workflow_id=workflow_id, key=key, kind="stream"))
            )
        last = None if row[3] is None else (row[3], row[4], row[5])
        if (last is not None and is_serialized_stream_closed_sentinel(last[1], last[2])) or is_terminal(str(row[0])):
            return Appended("closed")
        if idle_before is not None:
            activity = float(row[1]) / 1000
            if last is not None:
                previous = _decode(last[1], last[2], workflow_id=workflow_id, key=key, kind="stream")
                if isinstance(previous, dict) and isinstance(previous.get("timestamp"), int | float):
                    activity = float(previous["timestamp"])
            if activity > idle_before:
                return Appended("active", last_activity=activity)
        offset = 0 if last is None else int(last[0]) + 1
        rows = [(key, offset, event), (marker, 0, offset)]
        if close:
            rows.append((key, offset + 1, _dbos_stream_closed_sentinel))
        values = []
        for k, o, v in rows:
            text, serialization = _portable(v)
            values.append(
                {"workflow_uuid": workflow_id, "key": k, "offset": o, "value": text, "serialization": serialization}
            )
        c.execute(sa.insert(st), [{**v, "function_id": 0} for v in values])
        if close:
            insert_message(c, workflow_id, {"closed_at_offset": offset}, wake_topic, None)
    # After commit, as DBOS does after its own stream writes: wakes in-process readers and, on Postgres,
    # queues the coalesced NOTIFY that wakes readers in other processes.
    sysdb._signal_notification(_dbos_streams_channel, f"{workflow_id}::{key}")
    return Appended("delivered", offset)


@dataclass(frozen=True)
class SessionState:
    """The newest event of a session's stream: closed or not, how many events, and when it last moved."""

    closed: bool
    events: int
    last_activity: float
    closed_by: str | None


def session_state(workflow_id: str, key: str) -> SessionState | None:
    """The session stream's state (``None`` if the workflow does not exist)."""
    sysdb = _sysdb()
    st = sysdb.tables.streams
    ws = sysdb.tables.workflow_status
    with sysdb.engine.begin() as c:
        row = c.execute(sa.select(ws.c.created_at).where(ws.c.workflow_uuid == workflow_id)).first()
        if row is None:
            return None
        last_two = c.execute(
            sa.select(st.c.offset, st.c.value, st.c.serialization)
            .where(st.c.workflow_uuid == workflow_id, st.c.key == key)
            .order_by(st.c.offset.desc())
            .limit(2)
        ).fetchall()
    activity = float(row[0]) / 1000
    if not last_two:
        return SessionState(False, 0, activity, None)
    closed = is_serialized_stream_closed_sentinel(last_two[0][1], last_two[0][2])
    newest = last_two[1] if closed and len(last_two) > 1 else (None if closed else last_two[0])
    events = int(last_two[0][0]) + (0 if closed else 1)
    closed_by = None
    if newest is not None:
        value = _decode(newest[1], newest[2], workflow_id=workflow_id, key=key, kind="stream")
        if isinstance(value, dict):
            if isinstance(value.get("timestamp"), int | float):
                activity = float(value["timestamp"])
            closed_by = str(value.get("type")) if closed else None
    return SessionState(closed, events, activity, closed_by)
