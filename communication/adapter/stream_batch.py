"""Many streams' new values in one transaction: what a node's live feeds read when many streams move at once.

Why: each live feed reading on its own costs a thread hop, a pooled connection and a transaction per write, and
with hundreds of streams written at once those reads compete with the workflows' own writes for the same
connection pool (and, on SQLite, the same file). A few statements, answered from the streams table's primary key
``(workflow_uuid, key, offset)``, bring every woken feed its slice; one more brings the workflows' statuses.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from communication.adapter.store import StreamSlice, stream_slice, sysdb

#: Streams per statement (ids per ``IN`` list).
_CHUNK = 100
#: Most offsets one statement's streams lie apart.
_SPREAD = 64


@dataclass(frozen=True)
class StreamRead:
    """One stream slice wanted: up to ``limit`` values of ``(workflow_id, key)`` from ``offset``."""

    workflow_id: str
    key: str
    offset: int
    limit: int


def read_streams(reads: list[StreamRead]) -> list[StreamSlice | None]:
    """Every slice in ``reads`` (same order), as :func:`communication.adapter.store.read_stream` would answer each
    (``None``: no such workflow), in one transaction.

    Reads are grouped by offset (live feeds of similar age sit at similar offsets): one statement per group brings
    the rows of its streams from the group's lowest offset to its highest ``offset + limit`` (one more than each
    window, so a close marker right after it is seen), and each stream keeps its own window. A group never spans
    more than ``_SPREAD`` offsets, so no stream drags in much history it already has. The statements keep one
    shape (expanding ``IN`` lists), compiled once per process.
    """
    if not reads:
        return []
    db = sysdb()
    st, ws = db.tables.streams, db.tables.workflow_status
    ids = sorted({r.workflow_id for r in reads})
    statuses: dict[str, str] = {}
    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    by_ids = sa.select(ws.c.workflow_uuid, ws.c.status).where(
        ws.c.workflow_uuid.in_(sa.bindparam("ids", expanding=True))
    )
    values = sa.select(st.c.workflow_uuid, st.c.key, st.c.offset, st.c.value, st.c.serialization).where(
        st.c.workflow_uuid.in_(sa.bindparam("ids", expanding=True)),
        st.c.key.in_(sa.bindparam("keys", expanding=True)),
        st.c.offset >= sa.bindparam("lo"),
        st.c.offset <= sa.bindparam("hi"),
    )
    with db.engine.begin() as c:
        for i in range(0, len(ids), _CHUNK):
            for wid, status in c.execute(by_ids, {"ids": ids[i : i + _CHUNK]}):
                statuses[str(wid)] = str(status)
        for group in _groups(reads):
            wanted = {(r.workflow_id, r.key) for r in group}
            params = {
                "ids": sorted({r.workflow_id for r in group}),
                "keys": sorted({r.key for r in group}),
                "lo": min(r.offset for r in group),
                "hi": max(r.offset + r.limit for r in group),
            }
            for wid, key, offset, value, serialization in c.execute(values, params):
                if (wid, key) in wanted:
                    rows[(wid, key)].append((offset, value, serialization))
    out: list[StreamSlice | None] = []
    for r in reads:
        status = statuses.get(r.workflow_id)
        if status is None:
            out.append(None)
            continue
        mine = sorted(
            (row for row in rows.get((r.workflow_id, r.key), ()) if r.offset <= int(row[0]) <= r.offset + r.limit),
            key=lambda row: int(row[0]),
        )
        out.append(stream_slice(mine, status, r.workflow_id, r.key, r.offset, r.limit))
    return out


def _groups(reads: list[StreamRead]) -> list[list[StreamRead]]:
    """``reads`` by ascending offset, cut where a group would span more than ``_SPREAD`` offsets or hold more than
    ``_CHUNK`` reads."""
    groups: list[list[StreamRead]] = []
    for r in sorted(reads, key=lambda r: r.offset):
        if groups and len(groups[-1]) < _CHUNK and r.offset - groups[-1][0].offset <= _SPREAD:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups
