"""The live inbox: one bounded poll per process, shared by every ``GET /v1/inbox/live`` subscriber.

Why a poll and not the hub: requests of *every* workflow of every application matter here, while the hub's feeds
are per workflow and key. One read of the open requests every ``COMM_INBOX_POLL_SECONDS`` serves all subscribers
(one database read per interval, whatever their number); the task runs only while someone subscribes. Each
subscriber holds at most one pending snapshot (the latest): a slow reader skips intermediate states, never grows
memory. A request appears in the next snapshot after it is asked and disappears after it is answered, expired
or its workflow ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from communication.core.inbox import InboxService
from communication.protocol.errors import TooManySubscriptions
from communication.protocol.inbox import InboxItem

log = logging.getLogger("communication.core.live.inbox_feed")

#: Most live inbox subscribers of one process.
MAX_SUBSCRIBERS = 1000


class InboxFeed:
    """Open requests, re-read every ``interval`` seconds while anyone subscribes."""

    def __init__(self, inbox: InboxService, interval: float) -> None:
        self._inbox = inbox
        self._interval = interval
        self._subscribers: set[asyncio.Queue[list[InboxItem]]] = set()
        self._snapshot: list[InboxItem] | None = None
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # inbox reads so far (one per interval, not per subscriber)

    async def _run(self) -> None:
        last: str | None = None
        while self._subscribers:
            try:
                items = (await self._inbox.list(status="open", limit=1000)).requests
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - the next interval retries; subscribers keep the last state
                log.warning("inbox read failed: %s", exc)
            else:
                text = "\n".join(item.model_dump_json() for item in items)
                if text != last:
                    last, self._snapshot = text, items
                    for queue in self._subscribers:
                        _offer(queue, items)
            await asyncio.sleep(self._interval)
        self._snapshot = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[list[InboxItem]]]:
        """A queue of snapshots (the current one first), for as long as the context is open.

        Raises:
            TooManySubscriptions: the process already serves ``MAX_SUBSCRIBERS``.
        """
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise TooManySubscriptions("too many live inbox subscribers", scope="inbox", limit=MAX_SUBSCRIBERS)
        queue: asyncio.Queue[list[InboxItem]] = asyncio.Queue(maxsize=1)
        self._subscribers.add(queue)
        if self._snapshot is not None:
            _offer(queue, self._snapshot)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="comm-inbox-feed")
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None
                self._snapshot = None

    @property
    def subscribers(self) -> int:
        """Current number of subscribers."""
        return len(self._subscribers)


def _offer(queue: asyncio.Queue[list[InboxItem]], items: list[InboxItem]) -> None:
    """Replace whatever the subscriber has not read yet with ``items`` (only the latest state matters)."""
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(items)
