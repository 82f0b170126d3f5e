"""Stream snapshots and stream listings (never blocking; live tails build on these offsets)."""

from __future__ import annotations

import asyncio

from communication.adapter import page_sizes, store
from communication.protocol.errors import WorkflowNotFound
from communication.protocol.models import StreamItem, StreamList, StreamSnapshot, StreamSummary
from communication.protocol.page_budget import fitting


class StreamService:
    """Read-only views of workflow streams; snapshot pages stop at ``max_bytes`` (``COMM_PAGE_MAX_BYTES``)."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self._max_bytes = max_bytes

    async def list(self, workflow_id: str) -> StreamList:
        """Every stream of the workflow with its length and closed flag. Raises WorkflowNotFound."""
        status, infos = await asyncio.to_thread(store.list_streams, workflow_id)
        if status is None:
            raise WorkflowNotFound(workflow_id)
        return StreamList(
            workflow_id=workflow_id,
            status=status,
            streams=[StreamSummary(key=i.key, length=i.length, closed=i.closed) for i in infos],
        )

    async def snapshot(
        self, workflow_id: str, key: str, offset: int, limit: int, max_bytes: int | None = None
    ) -> StreamSnapshot:
        """Up to ``limit`` values from ``offset`` with ``next_offset`` and flags. Raises WorkflowNotFound.

        A stream that was never written reads as empty (it may be written later). With ``max_bytes`` the page also
        (default: the service's budget) stops before the value that would take its stored size over that budget
        (at least one value is returned); ``truncated`` then says that more values are already there from
        ``next_offset``. A page also ends before a value this server cannot decode (``next_offset`` is its
        offset); a read from that offset raises ValueNotDecodable.
        """
        truncated = False
        max_bytes = self._max_bytes if max_bytes is None else max_bytes
        if max_bytes is not None:
            # Only integers come back from this query: the values that do not fit are never loaded.
            sizes = await asyncio.to_thread(page_sizes.stream_value_sizes, workflow_id, key, offset, limit)
            fits = fitting(sizes, max_bytes)
            if fits < len(sizes):
                limit, truncated = fits, True
        page = await asyncio.to_thread(store.read_stream, workflow_id, key, offset, limit)
        if page is None:
            raise WorkflowNotFound(workflow_id)
        if page.undecodable is not None and not page.values:
            raise page.undecodable  # at this offset; the values before it were delivered by earlier pages
        complete = page.closed
        if (
            not complete
            and not truncated
            and page.undecodable is None
            and store.is_terminal(page.status)
            and len(page.values) < limit
        ):
            # Finished workflow and the page ended before the limit: nothing more will ever be written.
            complete = True
        return StreamSnapshot(
            workflow_id=workflow_id,
            key=key,
            offset=offset,
            values=[StreamItem(offset=offset + i, value=v) for i, v in enumerate(page.values)],
            next_offset=page.next_offset,
            closed=page.closed,
            workflow_status=page.status,
            complete=complete,
            truncated=truncated and not page.closed,
        )
