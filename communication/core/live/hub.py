"""The per-process fan-out hub: one durable reader per (workflow, stream) and per watched workflow's events.

Why: one DBOS ``read_stream`` per subscriber collapses under fan-out. Here each process keeps one *feed* per
tailed stream (and one per watched workflow's events), shared by all of its subscribers:

* A feed reads the database only when woken, so database work per write does not grow with subscribers. One
  *watcher* per process wakes them (:mod:`communication.core.live.watcher`): on Postgres, the hub's own ``LISTEN`` on
  DBOS's notification channels (every process's writes, this one's included); on SQLite, one query per polling
  interval that finds every written stream, event and finished workflow; on both, a periodic re-check of every
  followed feed's head and status in one transaction (missed notifications, finished workflows).
* A feed starts at what storage holds (the stream's last offset, the newest event version), never at a
  subscriber's position: a subscriber is untrusted, and its position only decides what *it* reads. Positions are
  checked against what storage can hold (``0 <= p <= MAX_POSITION``) before anything reads with them.
* A feed keeps a buffer of the newest values, bounded by count *and* bytes. Subscribers are cursors into it: they
  never block the feed or each other. A subscriber that starts before the buffer catches up from the database on
  its own; one that falls behind the buffer while live is dropped with ``overflow`` and resumes from its offset.
* A failing read is retried with backoff (for ever while the database is unreachable, a few times otherwise,
  then the feed's subscribers get ``end`` with reason ``error``); one feed's failure never holds another back.
  Repeated identical errors are logged once per interval.
* Live subscriptions are capped per workflow and per process (:class:`TooManySubscriptions`,
  :class:`SubscriptionCapacity`); a feed without subscribers is dropped, with its buffer, after a short linger.
* Only committed values are ever delivered: feeds deliver what they read from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from communication.adapter import store
from communication.core.live.buffers import (
    CatchUp,
    End,
    Feed,
    Item,
    Subscription,
    check_position,
    event_change,
)
from communication.core.live.caps import SubscriptionCaps
from communication.core.live.direct import SinkSlot
from communication.core.live.reader import READ_BATCH, FeedReader, backoff
from communication.core.live.watcher import Watcher
from communication.core.live.workflow_feed import WorkflowFeeds
from communication.core.ops.metrics import LIVE_SUBSCRIBERS
from communication.core.ops.ratelog import RateLimitedLog
from communication.core.settings import Settings
from communication.protocol.errors import WorkflowNotFound

__all__ = ["End", "Hub", "Item", "Subscription"]

log = logging.getLogger("communication.core.live.hub")

#: How a feed may end and still be followed again later: the workflow finished (it can be resumed) or reads failed.
_REPLACEABLE_ENDS = ("workflow_finished", "error")


class Hub:
    """Feeds for streams and event watches of one process. Create after DBOS launch; ``close()`` before destroy."""

    def __init__(
        self,
        *,
        poll_interval: float | None,
        recheck_interval: float = 1.0,
        buffer_size: int = 4096,
        buffer_bytes: int = 8 * 1024 * 1024,
        linger_seconds: float = 5.0,
        listen_url: str | None = None,
        max_per_workflow: int = 2000,
        max_per_process: int = 10_000,
    ) -> None:
        """Args:
        poll_interval: SQLite: how often one query looks for writes (``None`` on Postgres).
        recheck_interval: how often every followed feed's head and status are re-read (one transaction).
        buffer_size: values kept per feed; buffer_bytes: bytes (JSON length) kept per feed. A live subscriber
            further behind is dropped with ``overflow``.
        linger_seconds: how long a feed without subscribers stays alive (reconnects reuse it).
        listen_url: Postgres: the database to ``LISTEN`` on.
        max_per_workflow, max_per_process: caps on open subscriptions.
        """
        self._loop = asyncio.get_running_loop()
        self._buffer_size = buffer_size
        self._buffer_bytes = buffer_bytes
        self._linger = linger_seconds
        self._caps = SubscriptionCaps(max_per_workflow=max_per_workflow, max_per_process=max_per_process)
        self._streams: dict[tuple[str, str], Feed] = {}
        self._events: dict[str, Feed] = {}
        self._by_workflow: dict[str, set[Feed]] = {}
        self._closed = False
        self.errors = RateLimitedLog(log, interval=60.0)
        self.watcher = Watcher(self, poll_interval=poll_interval, recheck_interval=recheck_interval, url=listen_url)
        self.reader = FeedReader(
            buffer_size=buffer_size, buffer_bytes=buffer_bytes, errors=self.errors, ready=self.watcher.ready
        )
        self.workflows = WorkflowFeeds(
            acquire=self._caps.acquire,
            reader=self.reader,
            ready=self.watcher.ready,
            on_first=self.watcher.feed_added,
            on_last=self._maybe_idle,
            buffer_size=buffer_size,
            buffer_bytes=buffer_bytes,
            linger_seconds=linger_seconds,
            recheck_interval=recheck_interval,
        )
        self.watcher.start()

    @property
    def db_reads(self) -> int:
        """Feed reads since start, workflow feeds included (benchmarks: database work per write)."""
        return self.reader.db_reads + self.workflows.db_reads

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        """A hub configured by ``settings`` (SQLite polls every ``hub_poll_seconds``; Postgres LISTENs)."""
        sqlite = settings.is_sqlite()
        return cls(
            poll_interval=settings.hub_poll_seconds if sqlite else None,
            recheck_interval=settings.hub_recheck_seconds,
            buffer_size=settings.hub_buffer_size,
            buffer_bytes=settings.hub_buffer_bytes,
            linger_seconds=settings.hub_linger_seconds,
            listen_url=None if sqlite else settings.resolved_database_url(),
            max_per_workflow=settings.max_subscriptions_per_workflow,
            max_per_process=settings.max_subscriptions_per_process,
        )

    # -- what the watcher sees --------------------------------------------------------------------------------
    def stream_feeds(self) -> dict[tuple[str, str], Feed]:
        """Live stream feeds by (workflow id, key)."""
        return self._streams

    def event_feeds(self) -> dict[str, Feed]:
        """Live event feeds by workflow id."""
        return self._events

    def feeds_of(self, workflow_id: str) -> set[Feed]:
        """Every live feed of one workflow."""
        return self._by_workflow.get(workflow_id, set())

    def has_feeds(self) -> bool:
        """Whether any feed is alive (workflow feeds included)."""
        return bool(self._streams or self._events or self.workflows.feeds)

    def _maybe_idle(self) -> None:
        if not self.has_feeds():
            self.watcher.idle()

    # -- public API -----------------------------------------------------------------------------------------
    def stream_written(self, workflow_id: str, key: str) -> None:
        """This process has just committed a write to the stream: wake its feed now, not when the write's
        notification (Postgres) or the next change poll (SQLite) comes round. A hint: the feed reads what
        storage holds, so an early or repeated wake costs one read and never delivers anything twice."""
        feed = self._streams.get((workflow_id, key))
        if feed is not None:
            feed.wake.set()
        self.workflows.wake(workflow_id)

    async def close(self) -> None:
        """Stop every feed (subscribers end with ``shutdown``) and the watcher."""
        self._closed = True
        await self.watcher.close()
        await self.reader.batches.close()
        await self.workflows.close()
        feeds: list[Feed] = [*self._streams.values(), *self._events.values()]
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
        """Counts for metrics, tests and benchmarks."""
        return {
            "stream_feeds": len(self._streams),
            "event_feeds": len(self._events),
            "subscribers": sum(f.subscribers for f in self._streams.values())
            + sum(f.subscribers for f in self._events.values()),
            "subscriptions": self._caps.total,
            "buffered_bytes": sum(f.bytes for f in self._streams.values())
            + sum(f.bytes for f in self._events.values()),
            "db_reads": self.db_reads,
            "workflow_feeds": len(self.workflows.feeds),
            "workflow_feed_catch_up_reads": self.workflows.catch_up_reads,
        }

    async def tail_stream(self, workflow_id: str, key: str, offset: int) -> Subscription:
        """Open a tail of the stream from ``offset``: values (catch-up, then live), then one :class:`End`.

        Raises:
            ValidationFailed: ``offset`` outside what storage can hold.
            TooManySubscriptions, SubscriptionCapacity: a cap is reached.
            WorkflowNotFound: at once, if the workflow does not exist (before any response is started).
        """
        check_position(offset, "offset")
        release = self._caps.acquire(workflow_id)
        try:
            if await asyncio.to_thread(store.workflow_status, workflow_id) is None:
                raise WorkflowNotFound(workflow_id)
        except BaseException:
            release()
            raise
        slot = SinkSlot()
        return Subscription(self._tail(workflow_id, key, offset, slot), release, slot)

    async def watch_events(self, workflow_id: str, after_version: int) -> Subscription:
        """Open a watch of the workflow's events newer than ``after_version``, then one :class:`End`.

        Items carry ``{"key", "value", "version"}``: first the current value of every key (ordered by version),
        then every later ``set_event``.

        Raises:
            ValidationFailed: ``after_version + 1`` outside what storage can hold.
            TooManySubscriptions, SubscriptionCapacity: a cap is reached.
            WorkflowNotFound: at once, if the workflow does not exist.
        """
        check_position(after_version + 1, "after_version")
        release = self._caps.acquire(workflow_id)
        try:
            status, current = await asyncio.to_thread(store.read_events, workflow_id)
            if status is None:
                raise WorkflowNotFound(workflow_id)
        except BaseException:
            release()
            raise
        fresh = sorted(
            (v.version, event_change(k, v.value, v.version, v.error))
            for k, v in current.items()
            if v.version > after_version
        )
        return Subscription(self._watch(workflow_id, after_version, fresh), release)

    def follow_events(self, workflow_id: str, after_version: int) -> Subscription:
        """Like :meth:`watch_events` without the opening snapshot: only sets with version > ``after_version``.

        For callers that have just read the workflow's events themselves (it exists, and ``after_version`` is its
        newest version), so the watch does not read them a second time.

        Raises:
            ValidationFailed, TooManySubscriptions, SubscriptionCapacity: as :meth:`watch_events`.
        """
        check_position(after_version + 1, "after_version")
        release = self._caps.acquire(workflow_id)
        return Subscription(self._watch(workflow_id, after_version, []), release)

    # -- subscribers ----------------------------------------------------------------------------------------
    async def _tail(self, workflow_id: str, key: str, offset: int, slot: SinkSlot) -> AsyncIterator[Item | End]:
        feed = self._stream_feed(workflow_id, key)
        feed.subscribers += 1
        LIVE_SUBSCRIBERS.labels(kind="stream").inc()
        try:
            async for out in self._follow(feed, offset, self._catch_up_stream(workflow_id, key), slot):
                yield out
        finally:
            LIVE_SUBSCRIBERS.labels(kind="stream").dec()
            self._release(feed)

    async def _watch(
        self, workflow_id: str, after_version: int, fresh: list[tuple[int, dict[str, Any]]]
    ) -> AsyncIterator[Item | End]:
        position = after_version + 1
        for version, change in fresh:
            yield Item(version, change)
            position = version + 1
        feed = self._event_feed(workflow_id)
        feed.subscribers += 1
        LIVE_SUBSCRIBERS.labels(kind="events").inc()
        try:
            async for out in self._follow(feed, position, self._catch_up_events(workflow_id)):
                yield out
        finally:
            LIVE_SUBSCRIBERS.labels(kind="events").dec()
            self._release(feed)

    async def _follow(
        self, feed: Feed, position: int, catch_up: Callable[[int], Awaitable[CatchUp]], slot: SinkSlot | None = None
    ) -> AsyncIterator[Item | End]:
        caught_up = False  # served from the feed's buffer at least once: from then on the subscriber is live
        failures = 0
        while True:
            signal = feed.changed()
            if not feed.located:
                if feed.ended is not None:
                    yield End(feed.ended.reason, position, feed.ended.workflow_status)
                    return
                await signal.wait()
                continue
            if position < feed.base:
                if caught_up:
                    # Fell behind the bounded buffer while live: drop; the client resumes from its position.
                    yield End("overflow", position, feed.status)
                    return
                # Replaying history older than the buffer: read it from the database, on this subscriber's
                # own account, so it never holds the feed or other subscribers back.
                try:
                    items, end = await catch_up(position)
                except Exception as exc:  # noqa: BLE001 - logged (rate-limited) by give_up, retried or ended
                    failures += 1
                    if self.reader.give_up(exc, failures, ("catch-up", feed.kind, feed.workflow_id, feed.key)):
                        yield End("error", position, feed.status)
                        return
                    await asyncio.sleep(backoff(failures))
                    continue
                failures = 0
                for item in items:
                    yield item
                    position = item.position + 1
                if end is not None:
                    yield end
                    return
                if not items:
                    await signal.wait()
                continue
            caught_up = True  # served from the shared buffer from now on: live
            buffered = feed.first_from(position)
            if buffered is not None:
                yield buffered
                position = buffered.position + 1
                continue
            if feed.ended is not None:
                yield End(feed.ended.reason, max(position, feed.ended.next_offset), feed.ended.workflow_status)
                return
            sink = slot.sink if slot is not None else None
            if sink is not None and sink.ready():
                # Caught up: the feed writes new items to this subscriber's transport itself until it is
                # detached (slow transport, refused item, feed ended); then on from where that left off.
                position = await feed.direct.hand_over(sink, position)
                continue
            await signal.wait()

    def _catch_up_stream(self, workflow_id: str, key: str) -> Callable[[int], Awaitable[CatchUp]]:
        async def read(position: int) -> CatchUp:
            page = await asyncio.to_thread(store.read_stream, workflow_id, key, position, READ_BATCH)
            if page is None:
                return [], End("workflow_finished", position, None)
            items = [Item(position + i, v) for i, v in enumerate(page.values)]
            if page.undecodable is not None:
                # The values before it are delivered; the tail ends at the undecodable value's offset.
                return items, End("value_not_decodable", page.next_offset, page.status)
            return items, (End("closed", page.next_offset, page.status) if page.closed else None)

        return read

    def _catch_up_events(self, workflow_id: str) -> Callable[[int], Awaitable[CatchUp]]:
        async def read(position: int) -> CatchUp:
            status, changes = await asyncio.to_thread(store.read_event_changes, workflow_id, position - 1, READ_BATCH)
            if status is None:
                return [], End("workflow_finished", position, None)
            return [Item(c.version, event_change(c.key, c.value, c.version, c.error)) for c in changes], None

        return read

    # -- feeds ----------------------------------------------------------------------------------------------
    def _new_feed(self, kind: str, workflow_id: str, key: str | None) -> Feed:
        feed = Feed(kind, workflow_id, key, self._buffer_size, self._buffer_bytes)
        self._by_workflow.setdefault(workflow_id, set()).add(feed)
        feed.task = asyncio.create_task(self.reader.run(feed))
        self.watcher.feed_added()
        return feed

    def _stream_feed(self, workflow_id: str, key: str) -> Feed:
        feed = self._current(self._streams, (workflow_id, key))
        if feed is None:
            feed = self._streams[(workflow_id, key)] = self._new_feed("stream", workflow_id, key)
        return feed

    def _event_feed(self, workflow_id: str) -> Feed:
        feed = self._current(self._events, workflow_id)
        if feed is None:
            feed = self._events[workflow_id] = self._new_feed("events", workflow_id, None)
        return feed

    def _current(self, registry: dict[Any, Feed], key: Any) -> Feed | None:
        """The live feed under ``key``, if a new subscriber may share it. A feed that ended because its workflow
        finished (or its reads kept failing) is replaced: the workflow may have been resumed since (cancel, then
        resume) and a lingering ended feed would end the newcomer at once with a stale answer."""
        feed = registry.get(key)
        if feed is None or feed.ended is None or feed.ended.reason not in _REPLACEABLE_ENDS:
            return feed
        self._unregister(feed, registry, key)
        if feed.subscribers == 0:
            feed.items.clear()
            feed.bytes = 0
        return None

    def _unregister(self, feed: Feed, registry: dict[Any, Feed], key: Any) -> None:
        """No new subscriber finds ``feed`` any more (its own subscribers keep it until they end)."""
        del registry[key]
        feeds = self._by_workflow.get(feed.workflow_id)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._by_workflow[feed.workflow_id]

    def _release(self, feed: Feed) -> None:
        feed.subscribers -= 1
        if feed.subscribers == 0 and not self._closed:
            self._loop.call_later(self._linger, self._retire, feed)

    def _retire(self, feed: Feed) -> None:
        registry: dict[Any, Feed] = self._streams if feed.kind == "stream" else self._events
        key: Any = (feed.workflow_id, feed.key) if feed.kind == "stream" else feed.workflow_id
        if feed.subscribers == 0 and registry.get(key) is feed:
            self._unregister(feed, registry, key)
            if feed.task is not None:
                feed.task.cancel()
            feed.items.clear()  # the memory goes now, whoever still holds the feed object
            feed.bytes = 0
            if not self.has_feeds():
                self.watcher.idle()
