"""Stream feeds' reads gathered into batches: one storage round trip for every feed woken meanwhile.

Why: a node that follows many streams written at once (an LLM-serving shape: hundreds of workflows, each with
its own subscriber) would otherwise pay one thread hop, one pooled connection and one transaction per write for
its reads, competing with the workflows' own writes for the same pool; at a pace DBOS alone sustains, the
reads would hold the writes back. Here a feed's read joins the batch being gathered; one batch is in flight at a
time, and the requests that arrive meanwhile form the next one, so batches grow with load by themselves and a
lone read waits for nothing but one turn of the event loop.

A failing batch fails each of its reads with the same error (each feed retries with its own backoff); a value
that cannot be decoded stays in its own slice (:attr:`communication.adapter.store.StreamSlice.undecodable`).
"""

from __future__ import annotations

import asyncio
import contextlib

from communication.adapter.store import StreamSlice
from communication.adapter.stream_batch import StreamRead, read_streams

#: Most reads in one batch (a batch is a few compound statements of 100 streams each).
MAX_BATCH = 400


class StreamReadBatcher:
    """Gathers stream reads of one event loop into batches (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: list[tuple[StreamRead, asyncio.Future[StreamSlice | None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # storage round trips so far (benchmarks and tests)
        self.reads = 0  # reads served so far

    async def read(self, workflow_id: str, key: str, offset: int, limit: int) -> StreamSlice | None:
        """Up to ``limit`` values of the stream from ``offset`` (``None``: no such workflow), read in a batch."""
        future: asyncio.Future[StreamSlice | None] = asyncio.get_running_loop().create_future()
        self._pending.append((StreamRead(workflow_id, key, offset, limit), future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="comm-hub-read-batches")
        return await future

    async def close(self) -> None:
        """Stop (pending reads are cancelled)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                wanted = [(read, future) for read, future in batch if not future.done()]  # a cancelled feed
                if not wanted:
                    continue
                self.batches += 1
                self.reads += len(wanted)
                try:
                    slices = await asyncio.to_thread(read_streams, [read for read, _ in wanted])
                except Exception as exc:  # noqa: BLE001 - every feed of the batch sees it and retries on its own
                    for _, future in wanted:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(wanted, slices, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._task = None
