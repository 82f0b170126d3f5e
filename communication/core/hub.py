"""The per-process fan-out hub: one durable reader per (workflow, stream) and per workflow's events.

Why: one DBOS ``read_stream`` per subscriber collapses under fan-out (every subscriber polls or is woken and
re-reads the database for every write). Here each process keeps one *feed* per tailed stream (and one per
watched workflow's events), shared by all of its subscribers:

* A feed reads the database only when woken - by the write hooks (``store.install_write_hooks``: the
  in-process post-commit signal and, on Postgres, every LISTEN/NOTIFY payload), by the SQLite polling interval
  (writes from other processes), or by a slow safety re-check - so database work per write does not grow
  with the number of subscribers.
* A feed keeps a bounded buffer of the newest values. Subscribers are cursors into it: they never block the
  feed or each other. A subscriber that starts before the buffer catches up from the database on its own,
  then joins the live tail without a gap; one that falls behind the buffer while live is dropped with
  ``overflow`` and resumes from its offset with a new connection.
* Only committed values are ever delivered: feeds deliver what they read from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from communication.adapter import store
from communication.core.metrics import DELIVERY_LATENCY, LIVE_SUBSCRIBERS, STREAM_VALUES_DELIVERED
from communication.protocol.errors import WorkflowNotFound

log = logging.getLogger("communication.core.hub")

K = TypeVar("K")
_READ_BATCH = 500


@dataclass(frozen=True)
class End:
    """Terminal item of a subscription: why it ended and where a reader would continue."""

    reason: str  # "closed" | "workflow_finished" | "overflow" | "shutdown"
    next_offset: int
    workflow_status: str | None


@dataclass(frozen=True)
class Item:
    """One delivered value at its durable position (stream offset, or event version).

    ``read_at`` (monotonic clock) is when the hub read the committed value from the database: the start of the
    delivery-latency histogram, since the write's own commit time is not known to this process. ``frames``
    caches the item's encoded wire frames (see ``communication.http.frames``).
    """

    position: int
    value: Any
    read_at: float = field(default_factory=time.monotonic, compare=False)
    # Encoded frames by kind, filled lazily by communication.http.frames: every subscriber of a feed gets the
    # same Item object, so each value is encoded once per feed, not once per subscriber.
    frames: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


CatchUp = tuple[list[Item], End | None]


class _Feed(Generic[K]):
    """Shared state of one durable reader: a buffer of recent items and a change signal."""

    def __init__(self, hub: Hub, key: K, buffer_size: int) -> None:
        self.hub = hub
        self.key = key
        self.items: list[Item] = []  # ascending positions; trimmed to the newest ``capacity``
        self.capacity = buffer_size
        self.next_position = 0  # first position not yet read (streams: next offset)
        self.covered_from = 0  # the buffer holds every item with covered_from <= position < next_position
        self.status: str | None = None
        self.ended: End | None = None
        self.subscribers = 0
        self.wake = asyncio.Event()
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def base(self) -> int:
        """Lowest position the buffer still answers for (positions may be sparse, e.g. event versions)."""
        return self.covered_from

    def start_at(self, position: int) -> None:
        self.next_position = self.covered_from = position

    def append(self, item: Item) -> None:
        self.items.append(item)
        if len(self.items) > 2 * self.capacity:  # amortised trim keeps appends O(1)
            del self.items[: len(self.items) - self.capacity]
            self.covered_from = self.items[0].position

    def since(self, position: int) -> list[Item]:
        """Buffered items at or after ``position`` (O(log n) to find)."""
        return self.items[bisect_left(self.items, position, key=lambda it: it.position) :]

    def changed(self) -> asyncio.Event:
        """The event set at the next change; await it after finding nothing new."""
        return self._changed

    def publish(self) -> None:
        old, self._changed = self._changed, asyncio.Event()
        old.set()


class Hub:
    """Feeds for streams and event watches of one process. Create after DBOS launch; ``close()`` before destroy."""

    def __init__(
        self,
        *,
        poll_interval: float | None,
        recheck_interval: float = 1.0,
        buffer_size: int = 4096,
        linger_seconds: float = 5.0,
    ) -> None:
        """Args:
        poll_interval: re-read period of every active feed (SQLite: writes by other processes are only
            seen by polling); ``None`` on Postgres, where NOTIFY wakes feeds.
        recheck_interval: safety re-read period when notifications are the wake source.
        buffer_size: values kept per feed; a live subscriber further behind is dropped.
        linger_seconds: how long a feed without subscribers stays alive (reconnects reuse it).
        """
        self._loop = asyncio.get_running_loop()
        self._interval = poll_interval if poll_interval is not None else recheck_interval
        self._buffer_size = buffer_size
        self._linger = linger_seconds
        self._streams: dict[tuple[str, str], _Feed[tuple[str, str]]] = {}
        self._events: dict[str, _Feed[str]] = {}
        self._closed = False
        self.db_reads = 0  # feed reads since start (benchmarks: database work per write)
        self._uninstall: Callable[[], None] = store.install_write_hooks(self._on_write_threadsafe)

    # -- wake-ups -------------------------------------------------------------------------------------------
    def _on_write_threadsafe(self, channel: str, payload: str) -> None:
        if not self._closed:
            self._loop.call_soon_threadsafe(self._on_write, channel, payload)

    def _on_write(self, channel: str, payload: str) -> None:
        # Payload is "workflow_id::key"; ids and keys may contain ':', so try every split point.
        start = 0
        while (i := payload.find("::", start)) != -1:
            wid, key = payload[:i], payload[i + 2 :]
            if channel == store.STREAMS_CHANNEL:
                feed = self._streams.get((wid, key))
                if feed is not None:
                    feed.wake.set()
            else:
                efeed = self._events.get(wid)
                if efeed is not None:
                    efeed.wake.set()
            start = i + 1

    # -- public API -----------------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop every feed (subscribers end with ``shutdown``) and remove the DBOS hooks."""
        self._closed = True
        self._uninstall()
        feeds: list[_Feed[Any]] = [*self._streams.values(), *self._events.values()]
        for feed in feeds:
            if feed.task is not None:
                feed.task.cancel()
        for feed in feeds:
            if feed.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task
            if feed.ended is None:
                feed.ended = End("shutdown", feed.next_position, feed.status)
            feed.publish()

    def stats(self) -> dict[str, int]:
        """Counts for metrics and benchmarks."""
        return {
            "stream_feeds": len(self._streams),
            "event_feeds": len(self._events),
            "subscribers": sum(f.subscribers for f in self._streams.values())
            + sum(f.subscribers for f in self._events.values()),
            "db_reads": self.db_reads,
        }

    async def tail_stream(self, workflow_id: str, key: str, offset: int) -> AsyncIterator[Item | End]:
        """Open a tail of the stream from ``offset``: values (catch-up, then live), then one :class:`End`.

        Raises:
            WorkflowNotFound: at once, if the workflow does not exist (before any response is started).
        """
        if await asyncio.to_thread(store.workflow_status, workflow_id) is None:
            raise WorkflowNotFound(workflow_id)
        return self._tail(workflow_id, key, offset)

    async def _tail(self, workflow_id: str, key: str, offset: int) -> AsyncIterator[Item | End]:
        feed = self._stream_feed(workflow_id, key, offset)
        feed.subscribers += 1
        LIVE_SUBSCRIBERS.labels(kind="stream").inc()
        try:
            async for out in self._follow(feed, offset, self._catch_up_stream(workflow_id, key)):
                yield out
        finally:
            LIVE_SUBSCRIBERS.labels(kind="stream").dec()
            self._release(feed, self._streams, (workflow_id, key))

    async def watch_events(self, workflow_id: str, after_version: int) -> AsyncIterator[Item | End]:
        """Open a watch of the workflow's events newer than ``after_version``, then one :class:`End`.

        Items carry ``{"key", "value", "version"}``: first the current value of every key (newest first by
        key, ordered by version), then every later ``set_event``.

        Raises:
            WorkflowNotFound: at once, if the workflow does not exist.
        """
        status, current = await asyncio.to_thread(store.read_events, workflow_id)
        if status is None:
            raise WorkflowNotFound(workflow_id)
        fresh = sorted((v.version, k, v.value) for k, v in current.items() if v.version > after_version)
        return self._watch(workflow_id, after_version, fresh)

    def follow_events(self, workflow_id: str, after_version: int) -> AsyncIterator[Item | End]:
        """Like :meth:`watch_events` without the opening snapshot: only sets with version > ``after_version``.

        For callers that have just read the workflow's events themselves (it exists, and ``after_version`` is its
        newest version), so the watch does not read them a second time; the feed reads the history after
        ``after_version``, so nothing set in between is missed.
        """
        return self._watch(workflow_id, after_version, [])

    async def _watch(
        self, workflow_id: str, after_version: int, fresh: list[tuple[int, str, Any]]
    ) -> AsyncIterator[Item | End]:
        position = after_version + 1
        for version, key, value in fresh:
            yield Item(version, {"key": key, "value": value, "version": version})
            position = version + 1
        feed = self._event_feed(workflow_id, position)
        feed.subscribers += 1
        LIVE_SUBSCRIBERS.labels(kind="events").inc()
        try:
            async for out in self._follow(feed, position, self._catch_up_events(workflow_id)):
                yield out
        finally:
            LIVE_SUBSCRIBERS.labels(kind="events").dec()
            self._release(feed, self._events, workflow_id)

    # -- subscribers ----------------------------------------------------------------------------------------
    async def _follow(
        self, feed: _Feed[Any], position: int, catch_up: Callable[[int], Awaitable[CatchUp]]
    ) -> AsyncIterator[Item | End]:
        caught_up = False  # reached the feed's head at least once: from then on the subscriber is live
        while True:
            signal = feed.changed()
            if position < feed.base:
                if caught_up:
                    # Fell behind the bounded buffer while live: drop; the client resumes from its position.
                    yield End("overflow", position, feed.status)
                    return
                # Replaying history older than the buffer: read it from the database, on this subscriber's
                # own account, so it never holds the feed or other subscribers back.
                items, end = await catch_up(position)
                for item in items:
                    yield item
                    position = item.position + 1
                if end is not None:
                    yield end
                    return
                if not items:
                    await signal.wait()
                continue
            pending = feed.since(position)
            if pending:
                for item in pending:
                    yield item
                    position = item.position + 1
                continue
            caught_up = True
            if feed.ended is not None:
                yield End(feed.ended.reason, max(position, feed.ended.next_offset), feed.ended.workflow_status)
                return
            await signal.wait()

    def _catch_up_stream(self, workflow_id: str, key: str) -> Callable[[int], Awaitable[CatchUp]]:
        async def read(position: int) -> CatchUp:
            page = await asyncio.to_thread(store.read_stream, workflow_id, key, position, _READ_BATCH)
            if page is None:
                return [], End("workflow_finished", position, None)
            items = [Item(position + i, v) for i, v in enumerate(page.values)]
            return items, (End("closed", page.next_offset, page.status) if page.closed else None)

        return read

    def _catch_up_events(self, workflow_id: str) -> Callable[[int], Awaitable[CatchUp]]:
        async def read(position: int) -> CatchUp:
            status, changes = await asyncio.to_thread(store.read_event_changes, workflow_id, position - 1, _READ_BATCH)
            if status is None:
                return [], End("workflow_finished", position, None)
            return [Item(c.version, {"key": c.key, "value": c.value, "version": c.version}) for c in changes], None

        return read

    # -- feeds ----------------------------------------------------------------------------------------------
    def _stream_feed(self, workflow_id: str, key: str, offset: int) -> _Feed[tuple[str, str]]:
        feed = self._streams.get((workflow_id, key))
        if feed is None:
            feed = _Feed(self, (workflow_id, key), self._buffer_size)
            feed.start_at(offset)
            feed.task = asyncio.create_task(self._run_stream_feed(feed))
            self._streams[(workflow_id, key)] = feed
        return feed

    def _event_feed(self, workflow_id: str, position: int) -> _Feed[str]:
        feed = self._events.get(workflow_id)
        if feed is None:
            feed = _Feed(self, workflow_id, self._buffer_size)
            feed.start_at(position)
            feed.task = asyncio.create_task(self._run_event_feed(feed))
            self._events[workflow_id] = feed
        return feed

    def _release(self, feed: _Feed[Any], registry: dict[Any, Any], key: Any) -> None:
        feed.subscribers -= 1
        if feed.subscribers == 0:
            self._loop.call_later(self._linger, self._retire, feed, registry, key)

    def _retire(self, feed: _Feed[Any], registry: dict[Any, Any], key: Any) -> None:
        if feed.subscribers == 0 and registry.get(key) is feed:
            del registry[key]
            if feed.task is not None:
                feed.task.cancel()

    async def _pause_after_error(self, feed: _Feed[Any]) -> None:
        # A failed read (database restarting, network blip) must not end the feed: every subscriber would stall
        # on it. Wait a little (or for the next write signal) and read again.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.wake.wait(), max(self._interval, 0.5))

    async def _run_stream_feed(self, feed: _Feed[tuple[str, str]]) -> None:
        wid, key = feed.key
        while feed.ended is None:
            feed.wake.clear()  # before the read: a write after it leaves the wake set
            self.db_reads += 1
            try:
                page = await asyncio.to_thread(store.read_stream, wid, key, feed.next_position, _READ_BATCH)
            except Exception:  # e.g. Postgres restarting: keep the feed and its subscribers, and retry
                log.warning("stream feed %s/%s: read failed; retrying", wid, key, exc_info=True)
                await self._pause_after_error(feed)
                continue
            if page is None:
                feed.ended = End("workflow_finished", feed.next_position, None)
            else:
                feed.status = page.status
                for i, value in enumerate(page.values):
                    feed.append(Item(feed.next_position + i, value))
                feed.next_position = page.next_offset
                if page.closed:
                    feed.ended = End("closed", feed.next_position, page.status)
                elif not page.values and store.is_terminal(page.status):
                    feed.ended = End("workflow_finished", feed.next_position, page.status)
            feed.publish()
            if feed.ended is None and not (page is not None and len(page.values) == _READ_BATCH):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), self._interval)

    async def _run_event_feed(self, feed: _Feed[str]) -> None:
        wid = feed.key
        while feed.ended is None:
            feed.wake.clear()
            self.db_reads += 1
            try:
                status, changes = await asyncio.to_thread(
                    store.read_event_changes, wid, feed.next_position - 1, _READ_BATCH
                )
            except Exception:  # e.g. Postgres restarting: keep the feed and its subscribers, and retry
                log.warning("event feed %s: read failed; retrying", wid, exc_info=True)
                await self._pause_after_error(feed)
                continue
            feed.status = status
            for ch in changes:
                feed.append(Item(ch.version, {"key": ch.key, "value": ch.value, "version": ch.version}))
                feed.next_position = ch.version + 1
            if status is None or (not changes and store.is_terminal(status)):
                feed.ended = End("workflow_finished", feed.next_position, status)
            feed.publish()
            if feed.ended is None and len(changes) < _READ_BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), self._interval)


def record_delivery(item: Item, transport: str) -> None:
    """Count one value sent to a live client and observe its hub-read → send latency."""
    STREAM_VALUES_DELIVERED.labels(transport=transport).inc()
    DELIVERY_LATENCY.labels(transport=transport).observe(time.monotonic() - item.read_at)
