"""One resumable feed per workflow: its status, every event set, every stream value and its end, in commit order,
shared by all of a process's subscribers of that workflow (``GET /v1/workflows/{id}/feed``).

How it rides the hub (:mod:`communication.core.live.hub`):

* One :class:`WorkflowFeed` per followed workflow and process. The hub's watcher wakes it on every stream or event
  write of the workflow (Postgres ``LISTEN``, SQLite change poll) and when the workflow finishes (SQLite); it also
  wakes itself every ``recheck_interval`` to see status changes no notification announces (``ENQUEUED`` to
  ``PENDING``, a finish on Postgres). Each wake is **one** storage read
  (:func:`communication.adapter.feed_store.read_feed`) for every subscriber, whatever their filters.
* The feed starts at what storage holds (:func:`~communication.adapter.feed_store.feed_head`) and keeps the
  entries it read in a buffer bounded by count and bytes. Each entry carries the position after it
  (:class:`~communication.core.live.feed_cursor.Position`), which is the frame's cursor.
* A subscriber starts at its client's cursor. While it is behind the buffer it reads storage on its own account
  (the same read), so it never holds the feed or the others back; once its position covers the buffer's start it
  follows the buffer, skipping what it already has, and filters per subscriber (keys, status, secret events).
  One that falls behind a trimmed buffer goes back to reading on its own; it holds one entry at a time.
* A subscriber that is caught up, and whose transport offers a writer, is written to by the feed itself in its
  one pass (:mod:`communication.core.live.feed_direct`: the same skipping and filtering, in the pass) until it is
  detached; its loop then goes on from the cursor the pass left.
* A read that fails is retried with backoff (the hub's policy); when the feed gives up, its subscribers end
  without an ``end`` frame, so clients reconnect and resume from their cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from operator import attrgetter
from typing import Any, cast

from communication.adapter import feed_store, store
from communication.core.live.buffers import Subscription
from communication.core.live.direct import DirectSinks
from communication.core.live.feed_cursor import MAX_FEED_STREAMS, Position, key_hash
from communication.core.live.feed_direct import FeedSink, FeedWriter, WriterSlot
from communication.core.live.feed_entries import Entry, FeedFilter, entries_of, final_of, status_entry
from communication.core.live.reader import READ_BATCH, FeedReader, backoff
from communication.core.ops.metrics import FEED_READS, LIVE_SUBSCRIBERS
from communication.protocol.errors import WorkflowNotFound


class FeedSubscription:
    """An open feed subscription: ``(entry, position after it)`` pairs, ending after ``end``. It holds one slot of
    the hub's caps until it ends, is closed, or is dropped (see :class:`~communication.core.live.buffers.Subscription`).
    """

    def __init__(
        self, items: AsyncIterator[tuple[Entry, Position]], release: Callable[[], None], slot: WriterSlot
    ) -> None:
        self._sub = Subscription(cast(AsyncIterator[Any], items), release)
        self._slot = slot

    def deliver_to(self, writer: FeedWriter) -> None:
        """Let the feed write this subscription's entries straight to ``writer`` whenever it is caught up (see
        :mod:`communication.core.live.feed_direct`); call before the first iteration."""
        self._slot.writer = writer

    def __aiter__(self) -> FeedSubscription:
        return self

    async def __anext__(self) -> tuple[Entry, Position]:
        return cast(tuple[Entry, Position], await self._sub.__anext__())

    async def aclose(self) -> None:
        """End the subscription now (releases its slot and its feed)."""
        await self._sub.aclose()


class FeedFinished(Exception):
    """The client's cursor already covers the workflow's end: nothing will ever follow (HTTP 204)."""


_SEQ = attrgetter("seq")
_SHARED_READS = FEED_READS.labels(kind="shared")
_CATCH_UP_READS = FEED_READS.labels(kind="catch_up")
_LIVE = LIVE_SUBSCRIBERS.labels(kind="feed")


async def read_entries(
    workflow_id: str, state: Position, batch: int = READ_BATCH, *, shared: bool = False
) -> tuple[str | None, list[Entry], bool]:
    """One storage read from ``state`` (advanced): ``(status, entries, drained)``; status ``None``: no workflow.

    ``shared``: the feed's own read (counted apart from subscribers' catch-up reads in ``comm_feed_reads``).
    """
    (_SHARED_READS if shared else _CATCH_UP_READS).inc()
    page = await asyncio.to_thread(
        feed_store.read_feed, workflow_id, state.events, state.offset, batch, MAX_FEED_STREAMS
    )
    if page.status is None:
        return None, [], True
    final = None
    if store.is_terminal(page.status) and page.drained and not (state.ended and state.status == page.status):
        final = await final_of(workflow_id)
    return page.status, entries_of(page, state, final), page.drained


class WorkflowFeed:
    """The shared state of one workflow's feed: a bounded buffer of entries and a change signal."""

    def __init__(self, workflow_id: str, capacity: int, byte_budget: int) -> None:
        self.workflow_id = workflow_id
        self.entries: list[Entry] = []
        self.bytes = 0
        self.capacity = capacity
        self.byte_budget = byte_budget
        self.located = False
        self.state = Position()  # after the newest entry
        self.base = Position()  # before the oldest buffered entry
        self.base_seq = 0  # seq of the oldest buffered entry (next_seq when empty)
        self.next_seq = 0
        self.done = False  # ended, gone or failed: no more entries
        self.failed = False
        self.subscribers = 0
        self.wake = asyncio.Event()
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.direct = DirectSinks(order=_SEQ)  # caught-up subscribers written to in one pass (core.live.feed_direct)
        self._fresh: list[Entry] = []  # appended since the last publish: what the direct pass hands over

    def changed(self) -> asyncio.Event:
        """Set at the next change; await it after finding nothing new."""
        return self._changed

    def publish(self) -> None:
        """New entries go straight to the attached sinks, in one pass; the others (and any sink detached by it)
        are woken through the change signal."""
        fresh, self._fresh = self._fresh, []
        if len(self.direct):
            self.direct.push(fresh)
            if self.done:
                self.direct.detach_all()
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def append(self, entry: Entry) -> None:
        entry.seq = self.next_seq
        self.next_seq += 1
        self.entries.append(entry)
        self._fresh.append(entry)
        self.bytes += entry.size
        if len(self.entries) > self.capacity or self.bytes > self.byte_budget:
            # Trim to three quarters (amortised); the newest entry always stays.
            cut, remaining = 0, self.bytes
            while cut < len(self.entries) - 1 and (
                len(self.entries) - cut > self.capacity * 3 // 4 or remaining > self.byte_budget * 3 // 4
            ):
                remaining -= self.entries[cut].size
                cut += 1
            self.base = self.entries[cut - 1].after if cut else self.base
            del self.entries[:cut]
            self.bytes = remaining
        self.base_seq = self.entries[0].seq if self.entries else self.next_seq

    def at(self, seq: int) -> Entry | None:
        """The entry with this seq, if buffered."""
        i = seq - self.base_seq
        return self.entries[i] if 0 <= i < len(self.entries) else None

    def status_before(self, seq: int) -> str | None:
        """The workflow's status as of just before entry ``seq``."""
        prev = self.at(seq - 1)
        return prev.after.status if prev is not None else self.base.status


class WorkflowFeeds:
    """Every workflow feed of one process (owned by the hub; see the module docstring)."""

    def __init__(
        self,
        *,
        acquire: Callable[[str], Callable[[], None]],
        reader: FeedReader,
        ready: Callable[[], Awaitable[None]],
        on_first: Callable[[], None],
        on_last: Callable[[], None],
        buffer_size: int,
        buffer_bytes: int,
        linger_seconds: float,
        recheck_interval: float,
    ) -> None:
        self._acquire = acquire
        self._reader = reader
        self._ready = ready
        self._on_first = on_first
        self._on_last = on_last
        self._capacity = buffer_size
        self._budget = buffer_bytes
        self._linger = linger_seconds
        self._recheck = recheck_interval
        self._loop = asyncio.get_running_loop()
        self.feeds: dict[str, WorkflowFeed] = {}
        self.db_reads = 0  # shared feed reads (one per wake, whatever the number of subscribers)
        self.catch_up_reads = 0  # reads of subscribers behind the buffer, on their own account
        self._closed = False

    def wake(self, workflow_id: str) -> None:
        """Storage may hold something new for this workflow (called by the hub's watcher)."""
        feed = self.feeds.get(workflow_id)
        if feed is not None:
            feed.wake.set()

    def wake_all(self) -> None:
        """Every feed re-reads (notifications may have been lost)."""
        for feed in self.feeds.values():
            feed.wake.set()

    async def close(self) -> None:
        """Stop every feed; subscribers end without ``end`` (clients resume elsewhere)."""
        self._closed = True
        feeds = list(self.feeds.values())
        for feed in feeds:
            if feed.task is not None:
                feed.task.cancel()
        for feed in feeds:
            if feed.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task
            feed.done = feed.failed = True
            feed.publish()

    async def open(self, workflow_id: str, cursor: Position, wanted: FeedFilter) -> FeedSubscription:
        """Open a subscription from ``cursor``: items ``(entry, position after it)``, ending after ``end``.

        Raises:
            WorkflowNotFound: the workflow does not exist (before any response starts).
            FeedFinished: ``cursor`` already has the workflow's end.
            TooManySubscriptions, SubscriptionCapacity: a cap is reached.
        """
        release = self._acquire(workflow_id)
        try:
            state = cursor.copy()
            self.catch_up_reads += 1
            status, first, drained = await read_entries(workflow_id, state)
            if status is None:
                raise WorkflowNotFound(workflow_id)
            if not first and state.ended and state.status == status and store.is_terminal(status):
                raise FeedFinished(workflow_id)
        except BaseException:
            release()
            raise
        slot = WriterSlot()
        return FeedSubscription(self._run(workflow_id, cursor, state, first, drained, wanted, slot), release, slot)

    # -- a subscriber ---------------------------------------------------------------------------------------
    async def _run(
        self,
        workflow_id: str,
        pos: Position,
        state: Position,
        pending: list[Entry],
        drained: bool,
        wanted: FeedFilter,
        slot: WriterSlot,
    ) -> AsyncIterator[tuple[Entry, Position]]:
        feed: WorkflowFeed | None = None
        sink = FeedSink(slot.writer, wanted, pos) if slot.writer is not None else None
        _LIVE.inc()
        try:
            while True:
                # Behind the shared buffer: deliver what this subscriber read on its own account.
                for entry in pending:
                    pos = entry.advance(pos)
                    if wanted.wants(entry):
                        yield entry, pos
                    if entry.kind == "end":
                        return
                if not drained:
                    self.catch_up_reads += 1
                    _, pending, drained = await read_entries(workflow_id, state)
                    continue
                if feed is None:
                    feed = self._feed(workflow_id)
                    feed.subscribers += 1
                while not feed.located and not feed.done:
                    await feed.changed().wait()
                if feed.failed or not feed.located:
                    return  # no end frame: the client reconnects and resumes from its cursor
                if not pos.covers(feed.base):
                    self.catch_up_reads += 1
                    state = pos.copy()
                    _, pending, drained = await read_entries(workflow_id, state)
                    continue
                # Live: follow the shared buffer from its start, skipping what this subscriber already has.
                seq = feed.base_seq
                synced = False
                while True:
                    signal = feed.changed()
                    if seq < feed.base_seq:
                        break  # fell behind the trimmed buffer: read on our own account again
                    found = feed.at(seq)
                    if (found is None or not found.covered_by(pos)) and not synced:
                        # The first new thing: say the status as of here if this subscriber's differs.
                        synced = True
                        current = feed.status_before(seq)
                        if current is not None and current != pos.status:
                            own = pos.copy()
                            sync = status_entry(current, own)
                            pos = own
                            if wanted.wants(sync):
                                yield sync, pos
                    if found is None:
                        if feed.done:
                            return  # failed (no end frame: the client resumes) or ended before this cursor
                        if sink is not None and sink.ready():
                            # Caught up: the feed writes new entries to this subscriber's transport itself until
                            # it is detached; then on from the entry and cursor where that left off.
                            sink.pos = pos
                            seq = await feed.direct.hand_over(sink, seq)
                            pos = sink.pos
                            continue
                        await signal.wait()
                        continue
                    seq += 1
                    if found.covered_by(pos):
                        continue
                    pos = found.advance(pos)
                    if wanted.wants(found):
                        yield found, pos
                    if found.kind == "end":
                        return
                state = pos.copy()
                self.catch_up_reads += 1
                _, pending, drained = await read_entries(workflow_id, state)
        finally:
            _LIVE.dec()
            if feed is not None:
                self._release(feed)

    # -- the shared feeds -----------------------------------------------------------------------------------
    def _feed(self, workflow_id: str) -> WorkflowFeed:
        feed = self.feeds.get(workflow_id)
        if feed is not None and feed.done:
            # An ended feed lingers for its own subscribers' reconnects, but a newcomer never joins it: the workflow
            # may have been resumed since its end (a cancelled one), or the feed gave up reading. Its subscribers
            # keep their reference; the registry moves on to a feed that reads again.
            self._unregister(feed)
            if feed.subscribers == 0:
                feed.entries.clear()  # nobody reads it any more; its pending retire no longer finds it
                feed.bytes = 0
            feed = None
        if feed is None:
            feed = self.feeds[workflow_id] = WorkflowFeed(workflow_id, self._capacity, self._budget)
            feed.task = asyncio.create_task(self._fill(feed), name=f"comm-feed-{workflow_id}")
            self._on_first()
        return feed

    def _release(self, feed: WorkflowFeed) -> None:
        feed.subscribers -= 1
        if feed.subscribers == 0 and not self._closed:
            self._loop.call_later(self._linger, self._retire, feed)

    def _retire(self, feed: WorkflowFeed) -> None:
        if feed.subscribers == 0 and self.feeds.get(feed.workflow_id) is feed:
            self._unregister(feed)
            if feed.task is not None:
                feed.task.cancel()
            feed.entries.clear()
            feed.bytes = 0

    def _unregister(self, feed: WorkflowFeed) -> None:
        """The one way a feed leaves the registry (retired, or replaced once it has ended)."""
        del self.feeds[feed.workflow_id]
        self._on_last()

    async def _fill(self, feed: WorkflowFeed) -> None:
        """The feed's one reader: locate at storage's head, then one read per wake (or per recheck interval)."""
        wid = feed.workflow_id
        await self._ready()  # notifications in place before the first read: no write falls in between
        failures = 0
        while not feed.done:
            feed.wake.clear()  # before the read: a write after it leaves the wake set
            self.db_reads += 1
            try:
                if not feed.located:
                    _SHARED_READS.inc()
                    status, version, heads = await asyncio.to_thread(feed_store.feed_head, wid, MAX_FEED_STREAMS)
                    if status is None:
                        feed.done = True
                        feed.publish()
                        return
                    feed.state = Position(version, {key_hash(k): n for k, n in heads.items()}, status)
                    feed.base = feed.state.copy()
                    feed.located = True
                    feed.publish()
                    continue
                status, entries, drained = await read_entries(wid, feed.state, shared=True)
                if status is None:  # the workflow was deleted
                    feed.done = feed.failed = True
                    feed.publish()
                    return
            except Exception as exc:  # noqa: BLE001 - e.g. Postgres restarting; logged by give_up
                failures += 1
                if self._reader.give_up(exc, failures, ("feed", "workflow", wid, None)):
                    feed.done = feed.failed = True
                    feed.publish()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), backoff(failures))
                continue
            failures = 0
            for entry in entries:
                feed.append(entry)
                if entry.kind == "end":
                    feed.done = True
            if entries:
                feed.publish()
            if not feed.done and drained:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.wake.wait(), self._recheck)
