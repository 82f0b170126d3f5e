"""Stored sizes of stream values, read before the values themselves so a page can stop at a byte budget.

Why a separate query: a snapshot page of ``limit`` values is read in one go; with large values that is the whole
page in memory (hundreds of MB). Asking the database for the stored length of each value first (computed by the
database, nothing is transferred but integers) lets the caller read only the values that fit.
"""

from __future__ import annotations

import sqlalchemy as sa

from communication.adapter.store import sysdb


def stream_value_sizes(workflow_id: str, key: str, offset: int, limit: int) -> list[int]:
    """Stored byte length of each value of the stream from ``offset`` (at most ``limit``, consecutive offsets)."""
    db = sysdb()
    st = db.tables.streams
    with db.engine.begin() as c:
        rows = c.execute(
            sa.select(st.c.offset, sa.func.length(st.c.value))
            .where(st.c.workflow_uuid == workflow_id, st.c.key == key, st.c.offset >= offset)
            .order_by(st.c.offset)
            .limit(limit)
        ).fetchall()
    sizes: list[int] = []
    for expected, row in enumerate(rows, start=offset):
        if int(row[0]) != expected:
            break
        sizes.append(int(row[1] or 0))
    return sizes
