"""How the hub learns of writes: one watcher per process, whatever the number of feeds.

* Postgres: the hub's own ``LISTEN`` on DBOS's stream and event channels
  (:class:`communication.adapter.notifications.PostgresListener`); each payload wakes the one feed it names.
  After a reconnection every feed re-reads, since what was written during the outage was not announced.
* SQLite: every ``poll_interval``, on one dedicated thread, a ``PRAGMA data_version``
  (:class:`communication.adapter.notifications.CommitProbe`) says whether anything was committed; only then one
  query (:func:`communication.adapter.notifications.poll_changes`) finds the streams and workflows written and the
  workflows finished since the last poll, and only their feeds wake. It runs only while feeds exist; feeds wait
  for its cursors before their first read, so no write falls in between.
* Both: every ``recheck_interval`` one transaction reads the head and status of every followed feed
  (:func:`communication.adapter.notifications.read_heads`) and wakes those that moved or whose workflow finished
  (Postgres has no notification for a finished workflow; a NOTIFY can be lost). A failing query is logged
  (rate-limited) and retried at the next interval: it delays wake-ups, never stops feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Protocol

from communication.adapter import notifications, store
from communication.core.live.buffers import Feed
from communication.core.ops.ratelog import RateLimitedLog


class WorkflowWakes(Protocol):
    """The hub's workflow feeds (:mod:`communication.core.live.workflow_feed`): woken by workflow id."""

    def wake(self, workflow_id: str) -> None: ...

    def wake_all(self) -> None: ...


class FeedIndex(Protocol):
    """What the watcher needs of the hub: its live feeds, and its rate-limited error log."""

    errors: RateLimitedLog

    def feeds_of(self, workflow_id: str) -> set[Feed]: ...

    def stream_feeds(self) -> dict[tuple[str, str], Feed]: ...

    def event_feeds(self) -> dict[str, Feed]: ...

    def has_feeds(self) -> bool: ...

    @property
    def workflows(self) -> WorkflowWakes: ...


log = logging.getLogger("communication.core.live.hub")


class Watcher:
    """Wakes the hub's feeds when their data may have changed (see the module docstring)."""

    def __init__(
        self, hub: FeedIndex, *, poll_interval: float | None, recheck_interval: float, url: str | None
    ) -> None:
        self._hub = hub
        self._poll_interval = poll_interval
        self._recheck_interval = recheck_interval
        self._loop = asyncio.get_running_loop()
        self._polling = threading.Event()  # SQLite: some feed exists, poll
        self._stop = threading.Event()
        self._generation = 0  # SQLite: bumped when the last feed goes; cursors of an older generation are stale
        self._thread: threading.Thread | None = None
        self._ready = asyncio.Event()  # feeds may read: notifications (or poll cursors) are in place
        self._tasks: list[asyncio.Task[None]] = []
        self.listener = (
            notifications.PostgresListener(url, self._on_notify, self._on_connect) if url is not None else None
        )
        self.polls = 0  # SQLite change queries so far
        self.rechecks = 0

    def start(self) -> None:
        """Start listening (Postgres) or polling (SQLite), and the periodic re-check."""
        if self.listener is not None:
            self.listener.start()
        elif self._poll_interval is not None:
            self._thread = threading.Thread(
                target=self._poll_thread, args=(self._poll_interval,), name="comm-hub-poll", daemon=True
            )
            self._thread.start()
        else:
            self._ready.set()
        self._tasks.append(asyncio.create_task(self._recheck_loop(), name="comm-hub-recheck"))

    async def close(self) -> None:
        """Stop every task of the watcher."""
        if self.listener is not None:
            await self.listener.close()
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ready.set()  # nobody waits for a watcher that is gone

    async def ready(self) -> None:
        """Wait until a feed may read without missing a later write's wake-up."""
        await self._ready.wait()

    def feed_added(self) -> None:
        """A feed was created."""
        self._polling.set()

    def idle(self) -> None:
        """The last feed is gone: SQLite stops polling (and re-reads its cursors when the next feed comes)."""
        if self.listener is None and self._poll_interval is not None:
            self._polling.clear()
            self._generation += 1
            self._ready.clear()

    # -- waking ---------------------------------------------------------------------------------------------
    @staticmethod
    def _wake(feed: Feed | None) -> None:
        if feed is not None:
            feed.wake.set()

    def _wake_workflow(self, workflow_id: str) -> None:
        for feed in self._hub.feeds_of(workflow_id):
            feed.wake.set()
        self._hub.workflows.wake(workflow_id)

    def _wake_all(self) -> None:
        for feed in [*self._hub.stream_feeds().values(), *self._hub.event_feeds().values()]:
            feed.wake.set()
        self._hub.workflows.wake_all()

    def _on_notify(self, channel: str, payload: str) -> None:
        streams, events = self._hub.stream_feeds(), self._hub.event_feeds()
        for wid, key in notifications.split_payload(payload):
            if channel == notifications.STREAMS_CHANNEL:
                self._wake(streams.get((wid, key)))
            elif channel == notifications.EVENTS_CHANNEL:
                self._wake(events.get(wid))
            self._hub.workflows.wake(wid)

    async def _on_connect(self) -> None:
        self._ready.set()
        self._wake_all()  # writes during an outage were not announced

    # -- SQLite polling -------------------------------------------------------------------------------------
    # The poll runs on one dedicated thread, not through asyncio.to_thread: an idle poll (no change) then costs the
    # event loop nothing at all, and a change reaches it with one call_soon_threadsafe instead of two pool hops.
    def _poll_thread(self, interval: float) -> None:
        probe = notifications.CommitProbe()
        try:
            self._poll(interval, probe)
        finally:
            probe.close()

    def _poll(self, interval: float, probe: notifications.CommitProbe) -> None:
        errors = RateLimitedLog(log, interval=60.0)  # this thread's own: the hub's is the loop's
        cursors: notifications.Cursors | None = None
        generation = -1
        unread = False  # a commit was seen and its changes not yet read (the query failed): read them first
        while not self._stop.is_set():
            if not self._polling.wait(timeout=0.5):
                continue
            try:
                if cursors is None or generation != self._generation:
                    generation = self._generation
                    probe.changed()  # read before the cursors: a commit after them changes it again
                    cursors = notifications.initial_cursors()
                    self._loop.call_soon_threadsafe(self._poll_ready, generation)
                elif unread or probe.changed():  # read before the query: a commit after it changes it again
                    unread = True
                    changes = notifications.poll_changes(cursors)
                    unread = False
                    self.polls += 1
                    if changes.streams or changes.events or changes.finished:
                        self._loop.call_soon_threadsafe(self._deliver, changes)
            except Exception as exc:  # noqa: BLE001 - logged (rate-limited); the next poll retries
                if self._stop.is_set():
                    return  # shutting down: the loop or DBOS may already be gone
                errors.warning(("poll", type(exc).__name__), "hub change poll failed: %s", exc, exc_info=exc)
                self._stop.wait(max(interval, 0.5))
                continue
            self._stop.wait(interval)

    def _poll_ready(self, generation: int) -> None:
        if generation == self._generation:  # not gone idle (and active again) since those cursors were read
            self._ready.set()
            self._wake_all()  # feeds created while the cursors were read

    def _deliver(self, changes: notifications.Changes) -> None:
        streams, events = self._hub.stream_feeds(), self._hub.event_feeds()
        for skey in changes.streams:
            self._wake(streams.get(skey))
            self._hub.workflows.wake(skey[0])
        for wid in changes.events:
            self._wake(events.get(wid))
            self._hub.workflows.wake(wid)
        for wid in changes.finished:
            self._wake_workflow(wid)

    # -- re-check (both backends) ---------------------------------------------------------------------------
    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_interval)
            if self._hub.has_feeds():
                await self._recheck()  # its own frame: no feed stays referenced while this loop sleeps

    async def _recheck(self) -> None:
        streams = {k: f for k, f in self._hub.stream_feeds().items() if f.located and f.ended is None}
        events = {k: f for k, f in self._hub.event_feeds().items() if f.located and f.ended is None}
        if not streams and not events:
            return
        started = time.monotonic()
        try:
            heads = await asyncio.to_thread(notifications.read_heads, list(streams), list(events))
        except Exception as exc:  # noqa: BLE001 - logged (rate-limited); the next interval retries
            self._hub.errors.warning(("recheck", type(exc).__name__), "hub re-check failed: %s", exc, exc_info=exc)
            return
        self.rechecks += 1
        for (wid, key), feed in streams.items():
            status = heads.statuses.get(wid)
            if status is None or store.is_terminal(status) or heads.streams.get((wid, key), -1) > feed.next_position:
                feed.wake.set()
        for wid, feed in events.items():
            status = heads.statuses.get(wid)
            if status is None or store.is_terminal(status) or heads.events.get(wid, -1) >= feed.next_position:
                feed.wake.set()
        elapsed = time.monotonic() - started
        if elapsed > self._recheck_interval:
            log.debug("hub re-check of %d feeds took %.3f s", len(streams) + len(events), elapsed)
