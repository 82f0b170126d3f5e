"""Learning of stream and event writes from DBOS's system database, without touching the running DBOS instance.

Postgres: DBOS announces every committed stream write and ``set_event`` with ``pg_notify`` on two channels
(``_dbos_streams_channel``, ``_dbos_workflow_events_channel``; payload ``"<workflow_id>::<key>"``), coalesced
off the write path by its notifier thread - including writes made by *this* process. :class:`PostgresListener`
holds its own ``LISTEN`` on those channels on a dedicated psycopg async connection and hands each payload to a
callback on the event loop. After a connection loss it reconnects with exponential backoff and reports the
reconnection, since notifications sent while it was away are lost (the caller re-reads what it follows).

SQLite has no push notifications: :func:`poll_changes` finds every stream row, event set and workflow completion
committed since the previous call in one statement, from rowid cursors (SQLite assigns increasing rowids under its
single writer lock, so a committed row is never skipped) and the ``completed_at`` index.

The channel names and table layouts are DBOS internals pinned by ``tests/unit/test_adapter_contract.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa
from dbos._sys_db import _dbos_streams_channel, _dbos_workflow_events_channel

from communication.adapter.store import sysdb

log = logging.getLogger("communication.adapter.notifications")

STREAMS_CHANNEL = _dbos_streams_channel
EVENTS_CHANNEL = _dbos_workflow_events_channel

OnNotify = Callable[[str, str], None]


def split_payload(payload: str) -> list[tuple[str, str]]:
    """Every ``(workflow_id, key)`` a ``"<workflow_id>::<key>"`` payload may mean (ids and keys may hold ``:``)."""
    out = []
    start = 0
    while (i := payload.find("::", start)) != -1:
        out.append((payload[:i], payload[i + 2 :]))
        start = i + 1
    return out


def libpq_url(url: str) -> str:
    """A SQLAlchemy Postgres URL (``postgresql+psycopg://``) as the plain URL libpq accepts."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class PostgresListener:
    """One ``LISTEN`` connection per process on DBOS's stream and event channels, reconnecting after outages.

    Args:
        url: the system database URL.
        on_notify: called on the event loop with ``(channel, payload)`` for every notification.
        on_connect: awaited after every (re)connection, once ``LISTEN`` is in place: anything written while
            disconnected was not announced, so the caller re-reads what it follows.
        backoff_max: longest pause between reconnection attempts (seconds); attempts start at 0.1 s and double.
    """

    def __init__(
        self,
        url: str,
        on_notify: OnNotify,
        on_connect: Callable[[], Awaitable[None]],
        *,
        backoff_max: float = 5.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = libpq_url(url)
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # successful connections so far (tests: a reconnection happened)

    def start(self) -> None:
        """Start listening in a background task (returns at once; see :attr:`connected`)."""
        self._task = asyncio.create_task(self._run(), name="comm-pg-listener")

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=max(1, round(self._connect_timeout))
                )
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            try:
                async with conn:
                    for channel in (STREAMS_CHANNEL, EVENTS_CHANNEL):
                        await conn.execute(f"LISTEN {channel}")
                    self.connections += 1
                    self.connected.set()
                    delay = 0.1
                    await self._on_connect()
                    async for notify in conn.notifies():
                        self._on_notify(notify.channel, notify.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc, delay)
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)


@dataclass
class Cursors:
    """Where :func:`poll_changes` continues: last seen rowids and the completion-time floor (epoch ms)."""

    streams: int = 0
    events: int = 0
    completed_ms: int = 0
    #: workflows already reported finished at or after ``completed_ms`` (the window is re-read, see below)
    finished: set[tuple[str, int]] = field(default_factory=set)


@dataclass(frozen=True)
class Changes:
    """What :func:`poll_changes` found: written streams, workflows with new event sets, finished workflows."""

    streams: set[tuple[str, str]]
    events: set[str]
    finished: set[str]


#: Completion times are taken before the commit, and on SQLite under Python < 3.12 DBOS stamps them in whole seconds
#: (``strftime('%s')``, truncated): re-read this window so neither a slow commit nor the truncation skips one.
#: Repeats inside the window are filtered by (workflow, completed_at) marks.
COMPLETION_OVERLAP_MS = 1500


def _max_rowid(table: sa.Table) -> sa.Select[Any]:
    return sa.select(sa.func.coalesce(sa.func.max(sa.literal_column("rowid")), 0)).select_from(table)


def initial_cursors() -> Cursors:
    """Cursors at the database's current end (only later changes are reported)."""
    db = sysdb()
    with db.engine.begin() as c:
        streams = c.execute(_max_rowid(db.tables.streams)).scalar()
        events = c.execute(_max_rowid(db.tables.workflow_events_history)).scalar()
    return Cursors(int(streams or 0), int(events or 0), int(time.time() * 1000) - COMPLETION_OVERLAP_MS)


def poll_changes(cursors: Cursors) -> Changes:
    """SQLite: every stream and event row and every workflow completion committed since ``cursors`` (advanced).

    One statement: new rows by rowid in ``streams`` and ``workflow_events_history``, ``workflow_status`` rows
    whose ``completed_at`` falls in the window (the partial index on it answers this), and each table's largest
    rowid. Cost is proportional to what was written, not to what is watched.

    SQLite may reuse the largest rowids after the newest rows are deleted (workflow garbage collection): when a
    table's largest rowid falls below its cursor, the cursor moves back to it (the hub's periodic re-check covers
    the rare write that lands in between).
    """
    db = sysdb()
    t = db.tables
    rowid: sa.ColumnClause[int] = sa.literal_column("rowid", sa.Integer)
    st, hist, ws = t.streams, t.workflow_events_history, t.workflow_status
    null = sa.literal(None, sa.String)
    query = sa.union_all(
        sa.select(sa.literal(1), rowid, st.c.workflow_uuid, st.c.key).select_from(st).where(rowid > cursors.streams),
        sa.select(sa.literal(2), rowid, hist.c.workflow_uuid, hist.c.key)
        .select_from(hist)
        .where(rowid > cursors.events),
        sa.select(sa.literal(3), ws.c.completed_at, ws.c.workflow_uuid, ws.c.status).where(
            ws.c.completed_at >= cursors.completed_ms
        ),
        sa.select(sa.literal(4), sa.func.coalesce(sa.func.max(rowid), 0), null, null).select_from(st),
        sa.select(sa.literal(5), sa.func.coalesce(sa.func.max(rowid), 0), null, null).select_from(hist),
    )
    with db.engine.begin() as c:
        rows = c.execute(query).fetchall()
    streams: set[tuple[str, str]] = set()
    events: set[str] = set()
    finished: set[str] = set()
    newest_completion = cursors.completed_ms + COMPLETION_OVERLAP_MS
    seen_now: set[tuple[str, int]] = set()
    max_streams = max_events = None
    for kind, pos, wid, key in rows:
        if kind == 1:
            streams.add((wid, key))
            cursors.streams = max(cursors.streams, int(pos))
        elif kind == 2:
            events.add(wid)
            cursors.events = max(cursors.events, int(pos))
        elif kind == 3:
            mark = (wid, int(pos))
            seen_now.add(mark)
            if mark not in cursors.finished:
                finished.add(wid)
            newest_completion = max(newest_completion, int(pos))
        elif kind == 4:
            max_streams = int(pos)
        else:
            max_events = int(pos)
    if max_streams is not None and max_streams < cursors.streams:
        cursors.streams = max_streams
    if max_events is not None and max_events < cursors.events:
        cursors.events = max_events
    cursors.completed_ms = newest_completion - COMPLETION_OVERLAP_MS
    cursors.finished = {m for m in seen_now if m[1] >= cursors.completed_ms}
    return Changes(streams, events, finished)


class CommitProbe:
    """SQLite: whether anything was committed to the database file since the last look, for a few microseconds.

    ``PRAGMA data_version`` on a connection of its own changes whenever *another* connection commits (every DBOS
    connection is another one), so a poll that finds it unchanged can skip the change query: an idle poll then
    costs one pragma instead of a statement over three tables, which a node pays every few milliseconds for as
    long as any feed lives. Opened read-only, used by one thread. Any failure answers "changed" (poll as before).
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._conn: sqlite3.Connection | None = None
        path = sysdb().engine.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                self._conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False)
            except sqlite3.Error:
                self._conn = None

    def changed(self) -> bool:
        """Whether a commit happened since the previous call (the first call answers ``True``)."""
        if self._conn is None:
            return True
        try:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return True
        if version == self._last:
            return False
        self._last = version
        return True

    def close(self) -> None:
        """Close the probe's connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class Heads:
    """Where followed feeds stand in storage: status per workflow (absent: no such workflow), each stream's next
    offset (the close marker counts), each workflow's newest event version (-1: none)."""

    statuses: dict[str, str]
    streams: dict[tuple[str, str], int]
    events: dict[str, int]


_CHUNK = 200  # ids per IN list


def read_heads(streams: list[tuple[str, str]], workflows: list[str]) -> Heads:
    """Both backends: the heads of the given streams and of the given workflows' events, with their statuses.

    One transaction; each head is an index-only ``max`` (the primary keys lead with workflow id, key / workflow
    id), so the cost grows with what is followed, not with how long the streams are. Each statement has one
    shape whatever the number of feeds (an expanding ``IN``, or one small statement per head), so SQLAlchemy
    compiles it once per process instead of once per re-check.
    """
    db = sysdb()
    t = db.tables
    st, hist, ws = t.streams, t.workflow_events_history, t.workflow_status
    ids = sorted({w for w, _ in streams} | set(workflows))
    statuses: dict[str, str] = {}
    stream_heads: dict[tuple[str, str], int] = {}
    event_heads: dict[str, int] = {}
    stream_head = sa.select(sa.func.max(st.c.offset)).where(
        st.c.workflow_uuid == sa.bindparam("wid"), st.c.key == sa.bindparam("key")
    )
    event_head = sa.select(sa.func.max(hist.c.function_id)).where(hist.c.workflow_uuid == sa.bindparam("wid"))
    by_ids = sa.select(ws.c.workflow_uuid, ws.c.status).where(
        ws.c.workflow_uuid.in_(sa.bindparam("ids", expanding=True))
    )
    with db.engine.begin() as c:
        for i in range(0, len(ids), _CHUNK):
            for wid, status in c.execute(by_ids, {"ids": ids[i : i + _CHUNK]}):
                statuses[str(wid)] = str(status)
        for wid, key in streams:
            last = c.execute(stream_head, {"wid": wid, "key": key}).scalar()
            stream_heads[(wid, key)] = -1 if last is None else int(last) + 1
        for wid in sorted(set(workflows)):
            last = c.execute(event_head, {"wid": wid}).scalar()
            event_heads[wid] = -1 if last is None else int(last)
    return Heads(statuses, stream_heads, event_heads)


def stream_head(workflow_id: str, key: str) -> int:
    """The offset of the stream's last row (close marker included), or 0 if it has none: where a feed starts."""
    db = sysdb()
    st = db.tables.streams
    with db.engine.begin() as c:
        last = c.execute(
            sa.select(sa.func.max(st.c.offset)).where(st.c.workflow_uuid == workflow_id, st.c.key == key)
        ).scalar()
    return 0 if last is None else int(last)


def events_head(workflow_id: str) -> int:
    """The workflow's newest event version, or -1 if it set none: a feed starts right after it."""
    db = sysdb()
    hist = db.tables.workflow_events_history
    with db.engine.begin() as c:
        last = c.execute(sa.select(sa.func.max(hist.c.function_id)).where(hist.c.workflow_uuid == workflow_id)).scalar()
    return -1 if last is None else int(last)
