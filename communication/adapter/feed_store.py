"""One read of everything a workflow feed delivers: status, event sets and stream values after given positions.

Why a read of its own: a workflow's feed merges its events and all of its streams in commit order, so it needs
each stored row's ``function_id`` (the DBOS step that wrote it, which orders one workflow's writes) and must
report a value this process cannot decode *on its own* without losing its neighbours; :mod:`store`'s reads
raise for a whole page instead. Everything is read in one transaction, so status and data agree.

Stream keys are found with a recursive "next key after" query (an index skip scan on the primary key
``(workflow_uuid, key, offset)``): its cost grows with the number of keys, not with how long the streams are.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dbos._serialization import deserialize_value
from dbos._sys_db import is_serialized_stream_closed_sentinel

from communication.adapter.store import sysdb


@dataclass(frozen=True)
class Row:
    """One stored event set or stream value. ``error`` is set (and ``value`` is None) when it cannot be decoded."""

    kind: str  # "event" | "stream"
    key: str
    position: int  # event: version (function_id); stream: offset
    function_id: int
    value: Any
    error: str | None


@dataclass(frozen=True)
class FeedPage:
    """What one read found: the workflow's status (``None``: no such workflow), rows merged by
    ``(function_id, kind, key)`` (each source in its own order), whether every source was read to its end (not
    cut by ``limit``), and the stream keys read."""

    status: str | None
    rows: list[Row]
    drained: bool
    keys: list[str]


@contextmanager
def _snapshot() -> Iterator[sa.Connection]:
    """A read-only transaction that sees one snapshot of the database for all of its statements.

    Why: the feed merges several sources by commit order, so they must be read at the same instant. Postgres'
    default (READ COMMITTED) gives each statement its own snapshot, and pysqlite runs SELECTs outside any
    transaction: a write committed between two statements would be seen by the second only (a stream value
    before the event set that preceded it).
    """
    db = sysdb()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as c, c.begin():
            yield c
    else:
        with db.engine.begin() as c:
            c.exec_driver_sql("BEGIN")  # a deferred read transaction: one snapshot (WAL) until commit
            yield c


def _decode(value: str | None, serialization: str | None) -> tuple[Any, str | None]:
    try:
        return deserialize_value(value, serialization, sysdb().serializer), None
    except Exception as exc:  # noqa: BLE001 - reported on this value's own frame, its neighbours go on
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def stream_keys(c: sa.Connection, workflow_id: str, max_keys: int) -> list[str]:
    """The workflow's first ``max_keys`` stream keys, ascending (session id markers ``~…``, which sort last,
    excluded). The recursion stops after ``max_keys`` steps, whatever the number of keys."""
    st = sysdb().tables.streams
    first = (
        sa.select(sa.func.min(st.c.key).label("k"), sa.literal(1).label("n"))
        .where(st.c.workflow_uuid == workflow_id)
        .cte("feed_keys", recursive=True)
    )
    nxt = (
        sa.select(sa.func.min(st.c.key))
        .where(st.c.workflow_uuid == workflow_id, st.c.key > first.c.k)
        .scalar_subquery()
    )
    keys = first.union_all(
        sa.select(nxt.label("k"), (first.c.n + 1).label("n")).where(first.c.k.is_not(None), first.c.n < max_keys)
    )
    rows = c.execute(sa.select(keys.c.k).where(keys.c.k.is_not(None))).fetchall()
    return [str(k) for (k,) in rows if not str(k).startswith("~")]


def read_feed(
    workflow_id: str, after_version: int, offset_of: Callable[[str], int], limit: int, max_keys: int
) -> FeedPage:
    """Status, event sets with version > ``after_version`` and stream values from
    ``offset_of(key)``, about ``limit`` rows in all (shared by the sources, at least 16 each), for the first
    ``max_keys`` stream keys (ascending).

    When a source is cut by ``limit``, rows written after its last one (by ``function_id``) are left for the
    next read, so what is returned is in commit order across sources. Close markers are never returned.
    """
    db = sysdb()
    ws, hist, st = db.tables.workflow_status, db.tables.workflow_events_history, db.tables.streams
    with _snapshot() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).scalar()
        if status is None:
            return FeedPage(None, [], True, [])
        keys = stream_keys(c, workflow_id, max_keys)
        # The budget is shared by the sources, so one read (and one subscriber's catch-up page) stays bounded
        # whatever the number of streams.
        limit = max(16, limit // (1 + len(keys)))
        ev = c.execute(
            sa.select(hist.c.key, hist.c.function_id, hist.c.value, hist.c.serialization)
            .where(hist.c.workflow_uuid == workflow_id, hist.c.function_id > after_version)
            .order_by(hist.c.function_id, hist.c.key)
            .limit(limit)
        ).fetchall()
        per_key: dict[str, Sequence[Any]] = {}
        for key in keys:
            per_key[key] = c.execute(
                sa.select(st.c.offset, st.c.function_id, st.c.value, st.c.serialization)
                .where(st.c.workflow_uuid == workflow_id, st.c.key == key, st.c.offset >= offset_of(key))
                .order_by(st.c.offset)
                .limit(limit)
            ).fetchall()
    # Where each cut source stops: later rows of other sources wait for the next read (commit order).
    cut_points = [int(ev[-1][1])] if len(ev) == limit else []
    cut_points += [int(rows[-1][1]) for rows in per_key.values() if len(rows) == limit]
    cutoff = min(cut_points) if cut_points else None
    sources: list[list[Row]] = [[]]
    for key, fid, value, ser in ev:
        if cutoff is None or int(fid) <= cutoff:
            decoded, error = _decode(value, ser)
            sources[0].append(Row("event", str(key), int(fid), int(fid), decoded, error))
    for key, rows in per_key.items():
        out: list[Row] = []
        sources.append(out)
        expected = offset_of(key)
        for offset, fid, value, ser in rows:
            if int(offset) != expected or (cutoff is not None and int(fid) > cutoff):
                break  # a gap is a write not yet visible: stop at the first hole
            expected += 1
            if is_serialized_stream_closed_sentinel(value, ser):
                break
            decoded, error = _decode(value, ser)
            out.append(Row("stream", key, int(offset), int(fid), decoded, error))
    # A merge, not a sort: each source keeps its own order (a stream by offset, even where a value written
    # from outside the workflow carries an out-of-order function_id).
    merged = list(heapq.merge(*sources, key=lambda r: (r.function_id, r.kind, r.key)))
    return FeedPage(str(status), merged, cutoff is None, keys)


def feed_head(workflow_id: str, max_keys: int) -> tuple[str | None, int, dict[str, int]]:
    """Where a workflow's feed starts: its status, newest event version (-1: none) and each stream's next offset
    (a close marker is not counted: it is never delivered). One transaction."""
    db = sysdb()
    ws, hist, st = db.tables.workflow_status, db.tables.workflow_events_history, db.tables.streams
    with _snapshot() as c:
        status = c.execute(sa.select(ws.c.status).where(ws.c.workflow_uuid == workflow_id)).scalar()
        if status is None:
            return None, -1, {}
        version = c.execute(
            sa.select(sa.func.max(hist.c.function_id)).where(hist.c.workflow_uuid == workflow_id)
        ).scalar()
        heads: dict[str, int] = {}
        for key in stream_keys(c, workflow_id, max_keys):
            last = c.execute(
                sa.select(st.c.offset, st.c.value, st.c.serialization)
                .where(st.c.workflow_uuid == workflow_id, st.c.key == key)
                .order_by(st.c.offset.desc())
                .limit(1)
            ).first()
            if last is not None:
                heads[key] = int(last[0]) + (0 if is_serialized_stream_closed_sentinel(last[1], last[2]) else 1)
    return str(status), -1 if version is None else int(version), heads
