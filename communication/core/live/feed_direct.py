"""Direct delivery (:mod:`communication.core.live.direct`) for the per-workflow feed: a caught-up subscriber's
entries are written by the feed, in its one pass, with the subscriber's own cursor and filter applied here.

A workflow feed's subscribers differ where a stream tail's do not: each has a filter (keys, status frames, secret
events for a read token) and its own cursor, which may run ahead of the feed in some stream. So the feed's
:class:`~communication.core.live.direct.DirectSinks` (ordered by the entries' ``seq``) holds one
:class:`FeedSink` per caught-up subscriber; it does for each new entry exactly what the subscriber's own loop
(:meth:`~communication.core.live.workflow_feed.WorkflowFeeds._run`) would: an entry the cursor already has is
skipped, every other advances the cursor, one the filter excludes is taken without a frame, and the rest are
handed to the transport's :class:`FeedWriter` with the cursor after them (the frame's id). The subscriber's loop
reads the cursor back when it is detached, so it goes on exactly where the direct pass left off.
"""

from __future__ import annotations

from typing import Protocol

from communication.core.live.direct import Outcome
from communication.core.live.feed_cursor import Position
from communication.core.live.feed_entries import Entry, FeedFilter
from communication.core.ops.metrics import DIRECT_DELIVERIES

_TAKEN = DIRECT_DELIVERIES.labels(transport="feed")


class FeedWriter(Protocol):
    """A feed subscriber's transport as the feed sees it (implemented by the HTTP layer)."""

    def ready(self) -> bool:
        """Whether entries may be written now (the response has started, no write is pending)."""

    def write(self, entry: Entry, pos: Position, now: float) -> Outcome:
        """Write ``entry``'s frame with cursor ``pos`` without waiting. Never raises."""

    async def flush(self) -> None:
        """Finish a write :meth:`write` could not complete at once; raise what it failed with."""


class WriterSlot:
    """Where the HTTP layer puts a feed subscription's writer (set before the subscription is first iterated)."""

    __slots__ = ("writer",)

    def __init__(self) -> None:
        self.writer: FeedWriter | None = None


class FeedSink:
    """One caught-up feed subscriber as the feed's direct pass sees it: its cursor, its filter, its writer."""

    __slots__ = ("pos", "wanted", "writer")

    def __init__(self, writer: FeedWriter, wanted: FeedFilter, pos: Position) -> None:
        self.writer = writer
        self.wanted = wanted
        self.pos = pos  # the subscriber's cursor: read back by its loop once detached

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return self.writer.ready()

    def deliver(self, item: Entry, now: float) -> Outcome:
        """Take ``item`` as the subscriber's loop would (see the module docstring)."""
        if item.covered_by(self.pos):
            return Outcome.WRITTEN  # already has it: nothing to write
        pos = item.advance(self.pos)
        if not self.wanted.wants(item):
            self.pos = pos  # filtered out: taken, nothing written
            return Outcome.WRITTEN
        outcome = self.writer.write(item, pos, now)
        if outcome is Outcome.REFUSED:
            return outcome
        self.pos = pos
        # After ``end`` there is nothing more: the subscriber's loop ends the subscription.
        return Outcome.TAKEN_DETACH if item.kind == "end" else outcome

    async def flush(self) -> None:
        """Finish the writer's pending write."""
        await self.writer.flush()

    def passed(self, item: Entry, written: int) -> None:
        """Count the pass's subscribers that took ``item`` (written, or skipped by their cursor or filter) at once."""
        _TAKEN.inc(written)
