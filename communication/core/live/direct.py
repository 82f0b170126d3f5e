"""Direct delivery: a feed writes each new item to every caught-up subscriber's transport in one pass.

Why: with one task per subscriber, every value costs each subscriber a task wake-up and a step through its chain
of generators (hub → frames → response) before the one socket write that matters; at 1,000 subscribers that,
not the database, is the node's limit. A subscriber that is *caught up* (it has everything the feed's buffer
holds) and whose transport can take a frame at once needs none of it: the feed, right after its one storage read,
hands each new item to every such subscriber's :class:`Sink`, which writes the pre-encoded frame synchronously.
Sinks: SSE stream and seed-session tails (``communication.http.direct_sse``), WebSocket ``subscribe_stream``
subscriptions (``communication.http.direct_ws``), and the per-workflow feed's subscribers over either transport
(:mod:`communication.core.live.feed_direct`, which applies each one's cursor and filter in the same pass).

The subscriber's own task sleeps meanwhile on one future (:meth:`DirectSinks.hand_over`) and wakes only when it is
*detached*:

* its transport did not take a frame at once (its write buffer is above the high-water mark: a slow client): the
  write already started is finished by the subscriber's own task (:meth:`Sink.flush`), which then continues on
  the per-subscriber path — from the feed's bounded buffer, or as that path decides — from the next position, so
  nothing is lost or repeated;
* the sink refuses an item (e.g. its read token expired, or a WebSocket's send lock is busy with another
  subscription's frame): the item is not taken, the per-subscriber path decides;
* the feed ended (closed, finished, error, shutdown): the subscriber reads the terminal item as before;
* the subscriber's task is cancelled (disconnect, send timeout, server shutdown): it is simply removed.

Positions stay the hub's: an attachment records the next position the subscriber needs, and only items at or
after it are handed over, in the feed's order, each exactly once (a stream feed orders items by ``position``, a
workflow feed its entries by ``seq``).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, Protocol


class Outcome(enum.IntEnum):
    """What a sink did with one item."""

    WRITTEN = 0  # written at once: stay attached
    TAKEN_DETACH = 1  # taken (its write is under way or failed; ``flush`` finishes or reports it): detach
    REFUSED = 2  # not taken: detach, the per-subscriber path delivers it (or ends the subscription)


class Sink(Protocol):
    """A subscriber's transport as the feed sees it (implemented by the HTTP layer)."""

    def ready(self) -> bool:
        """Whether items may be handed over now (the response has started, no write is pending)."""

    def deliver(self, item: Any, now: float) -> Outcome:
        """Write ``item``'s frame without waiting (``now``: ``time.monotonic()`` of this pass). Never raises."""

    async def flush(self) -> None:
        """Finish a write :meth:`deliver` started and could not complete at once; raise what it failed with."""

    def passed(self, item: Any, written: int) -> None:
        """Once per item and pass, on one sink of each kind that wrote it: ``written`` sinks of this kind did (so
        per-frame bookkeeping such as metrics is paid once per pass, not once per subscriber)."""


class SinkSlot:
    """Where the HTTP layer puts a subscription's sink (set before the subscription is first iterated)."""

    __slots__ = ("sink",)

    def __init__(self) -> None:
        self.sink: Sink | None = None


class _Attachment:
    __slots__ = ("detached", "position", "sink")

    def __init__(self, sink: Sink, position: int, detached: asyncio.Future[None]) -> None:
        self.sink = sink
        self.position = position
        self.detached = detached


_POSITION = attrgetter("position")


class DirectSinks:
    """The caught-up subscribers of one feed that take new items directly (insertion-ordered, O(1) removal)."""

    def __init__(self, order: Callable[[Any], int] = _POSITION) -> None:
        """``order``: an item's place in the feed (default its ``position``; a workflow feed's entries: ``seq``)."""
        self._attached: dict[_Attachment, None] = {}
        self._order = order

    def __len__(self) -> int:
        return len(self._attached)

    async def hand_over(self, sink: Sink, position: int) -> int:
        """Let the feed write items at or after ``position`` to ``sink`` until it is detached; then finish the
        pending write and return the next position the subscriber needs.

        Cancellation (the subscriber's task ends) detaches the sink at once.
        """
        attachment = _Attachment(sink, position, asyncio.get_running_loop().create_future())
        self._attached[attachment] = None
        try:
            await attachment.detached
        finally:
            self._attached.pop(attachment, None)
        await sink.flush()
        return attachment.position

    def push(self, items: Iterable[Any]) -> None:
        """Hand ``items`` (ascending positions, just read) to every attached sink, in one pass per item."""
        if not self._attached:
            return
        now = time.monotonic()
        written = Outcome.WRITTEN
        refused = Outcome.REFUSED
        order = self._order
        for item in items:
            position = order(item)
            gone: list[_Attachment] | None = None
            kinds: dict[type, list[Any]] = {}
            for attachment in list(self._attached):
                if position < attachment.position:
                    continue  # this subscriber asked to start further on
                sink = attachment.sink
                outcome = sink.deliver(item, now)
                if outcome is not refused:
                    attachment.position = position + 1
                    tally = kinds.get(type(sink))
                    if tally is None:
                        kinds[type(sink)] = [sink, 1]
                    else:
                        tally[1] += 1
                if outcome is not written:
                    gone = gone or []
                    gone.append(attachment)
            for sink, count in kinds.values():
                sink.passed(item, count)
            if gone:
                for attachment in gone:
                    self._detach(attachment)

    def detach_all(self) -> None:
        """Send every attached subscriber back to its own path (the feed ended)."""
        for attachment in list(self._attached):
            self._detach(attachment)

    def _detach(self, attachment: _Attachment) -> None:
        self._attached.pop(attachment, None)
        if not attachment.detached.done():
            attachment.detached.set_result(None)
