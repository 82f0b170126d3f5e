"""How a hub feed fills itself from storage: one read per wake, into a buffer bounded in count and bytes.

A failing read is retried with backoff: for ever while the database is unreachable (a restart must not end live
tails), :data:`MAX_READ_FAILURES` times otherwise, then the feed ends with reason ``error``; a value this process
cannot decode ends it at once (``value_not_decodable``). Subscribers are woken only when a read found something.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from communication.adapter import notifications, store
from communication.core.live.buffers import End, Feed, Item, event_change, json_size
from communication.core.live.read_batches import StreamReadBatcher
from communication.core.ops.ratelog import RateLimitedLog
from communication.protocol.errors import ValueNotDecodable

log = logging.getLogger("communication.core.live.hub")

#: A read that fails for another reason than an unreachable database is retried this often, then the feed ends.
MAX_READ_FAILURES = 5
_BACKOFF_START, _BACKOFF_MAX = 0.1, 5.0
#: Most rows one read brings (catch-ups of late subscribers read in pages of this size too).
READ_BATCH = 500


class FeedReader:
    """Reads storage for the hub's feeds and keeps the count of reads (database work per write, for benchmarks)."""

    def __init__(
        self, *, buffer_size: int, buffer_bytes: int, errors: RateLimitedLog, ready: Callable[[], Awaitable[None]]
    ) -> None:
        """Args:
        buffer_size, buffer_bytes: the feeds' bounds; one read fills at most half of each.
        errors: the hub's rate-limited log (identical errors once per interval).
        ready: awaited before a feed's first read (the watcher's notifications are in place by then).
        """
        self._buffer_size = buffer_size
        self._buffer_bytes = buffer_bytes
        self._errors = errors
        self._ready = ready
        self.db_reads = 0
        self.batches = StreamReadBatcher()  # stream feeds woken together read together

    def give_up(self, exc: Exception, failures: int, where: tuple[Any, ...]) -> bool:
        """Log (rate-limited) a failed read; whether to stop retrying it (never while the database is away)."""
        transient = store.is_connection_error(exc)
        give_up = not transient and failures >= MAX_READ_FAILURES
        what = (" ".join(str(w) for w in where[:2]), "/".join(str(w) for w in where[2:] if w is not None))
        key = (where, type(exc).__name__, str(exc)[:200])
        self._errors.warning(
            key,
            "hub %s read of %s failed (%s: %s); retrying with backoff",
            *what,
            type(exc).__name__,
            str(exc)[:200],
            exc_info=exc,
        )
        if give_up:
            self._errors.warning(
                (key, "give-up"),
                "hub %s read of %s failed %d times (%s); its subscribers end with reason 'error'",
                *what,
                failures,
                type(exc).__name__,
            )
        return give_up

    async def run(self, feed: Feed) -> None:
        """Fill ``feed`` from storage until it ends: read when woken, publish what changed, retry failures."""
        read_once = self._read_stream if feed.kind == "stream" else self._read_events
        failures = 0
        await self._ready()  # notifications in place before the first read: no write falls in between
        while feed.ended is None:
            feed.wake.clear()  # before the read: a write after it leaves the wake set
            self.db_reads += 1
            before = (feed.next_position, feed.located, feed.status)
            try:
                full = await read_once(feed)
            except ValueNotDecodable as exc:
                # Another application wrote a value this process cannot decode (e.g. a pickle of its own class):
                # not transient, so end the feed at that value with a reason the transports pass on.
                log.warning("live feed %s/%s: %s", feed.workflow_id, feed.key, exc.message)
                feed.ended = End("value_not_decodable", feed.next_position, feed.status)
                feed.publish()
                return
            except Exception as exc:  # noqa: BLE001 - e.g. Postgres restarting; logged by give_up
                failures += 1
                if self.give_up(exc, failures, ("feed", feed.kind, feed.workflow_id, feed.key)):
                    feed.ended = End("error", feed.next_position, feed.status)
                    feed.publish()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), backoff(failures))
                continue
            failures = 0
            # Wake subscribers only when the read found something: an idle poll (SQLite wakes feeds every few ms)
            # must not wake every subscriber task of the feed.
            if feed.ended is not None or (feed.next_position, feed.located, feed.status) != before:
                feed.publish()
            if feed.ended is None and not full:
                await feed.wake.wait()

    def _batch(self) -> int:
        # One read never brings more than half a buffer (in count, and below in bytes): a subscriber that was at
        # the head before a burst is never overflowed by the burst itself, only by not reading.
        return max(1, min(READ_BATCH, self._buffer_size // 2))

    def _take(self, feed: Feed, items: list[Item]) -> int:
        """Append ``items`` until half the byte budget is used by this read; how many were taken (at least one)."""
        used = 0
        for n, item in enumerate(items):
            used += item.size
            if n > 0 and used > self._buffer_bytes // 2:
                return n
            feed.append(item)
        return len(items)

    async def _read_stream(self, feed: Feed) -> bool:
        wid, key = feed.workflow_id, str(feed.key)
        if not feed.located:
            feed.start_at(await asyncio.to_thread(notifications.stream_head, wid, key))
        batch = self._batch()
        page = await self.batches.read(wid, key, feed.next_position, batch)
        if page is None:
            feed.ended = End("workflow_finished", feed.next_position, None)
            return False
        feed.status = page.status
        start = feed.next_position
        taken = self._take(feed, [Item(start + i, v, size=json_size(v)) for i, v in enumerate(page.values)])
        feed.next_position = start + taken
        if taken < len(page.values):
            return True  # the rest on the next read, right away
        if page.undecodable is not None:
            # Every value before it is delivered; the feed ends at the undecodable value's offset.
            log.warning("live feed %s/%s: %s", wid, key, page.undecodable.message)
            feed.ended = End("value_not_decodable", feed.next_position, page.status)
        elif page.closed:
            feed.ended = End("closed", feed.next_position, page.status)
        elif not page.values and store.is_terminal(page.status):
            feed.ended = End("workflow_finished", feed.next_position, page.status)
        return len(page.values) == batch

    async def _read_events(self, feed: Feed) -> bool:
        wid = feed.workflow_id
        if not feed.located:
            feed.start_at(await asyncio.to_thread(notifications.events_head, wid) + 1)
        batch = self._batch()
        status, changes = await asyncio.to_thread(store.read_event_changes, wid, feed.next_position - 1, batch)
        feed.status = status
        items = []
        for ch in changes:
            value = event_change(ch.key, ch.value, ch.version, ch.error)
            items.append(Item(ch.version, value, size=json_size(value)))
        taken = self._take(feed, items)
        if taken:
            feed.next_position = items[taken - 1].position + 1
        if taken < len(items):
            return True
        if status is None or (not changes and store.is_terminal(status)):
            feed.ended = End("workflow_finished", feed.next_position, status)
        return len(changes) == batch


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failed reads (doubling, capped)."""
    return float(min(_BACKOFF_START * 2.0 ** (failures - 1), _BACKOFF_MAX))
