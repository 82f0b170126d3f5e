"""The workflow feed's writers for direct delivery (:mod:`communication.core.live.feed_direct`): the frames of
``GET /v1/workflows/{id}/feed`` and of a WebSocket ``subscribe_feed``, written through the same sinks as stream
tails (:mod:`communication.http.direct_sse`, :mod:`communication.http.direct_ws`).

The feed applies each subscriber's cursor and filter itself and hands a writer only the entries to write, with the
cursor after each; a writer turns them into the same frames as the subscriber's own path
(:mod:`communication.http.feed_frames`; the SSE ``retry:`` hint on the first, shared through
:meth:`SseFeedWriter.frame`).
"""

from __future__ import annotations

from communication.core.live.direct import Outcome
from communication.core.live.feed_cursor import Position
from communication.core.live.feed_entries import Entry
from communication.http.direct_sse import SseSink
from communication.http.direct_ws import WsSink
from communication.http.feed_frames import sse_feed_frame, ws_feed_frame
from communication.http.frames import with_retry


class SseFeedWriter:
    """One SSE feed response as the workflow feed writes to it directly."""

    __slots__ = ("first", "sink")

    def __init__(self, sink: SseSink) -> None:
        self.sink = sink
        self.first = True  # the next frame is the subscriber's first: it carries ``retry:``

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return self.sink.ready()

    def frame(self, entry: Entry, pos: Position) -> bytes:
        """The entry's frame with cursor ``pos`` (the subscriber's first carries ``retry:``)."""
        frame = sse_feed_frame(entry, pos)
        if self.first:
            self.first = False
            return with_retry(frame)
        return frame

    def write(self, entry: Entry, pos: Position, now: float) -> Outcome:
        """Write the entry's frame if the transport takes it at once."""
        if not self.sink.accepts():
            return Outcome.REFUSED
        return self.sink.write(self.frame(entry, pos), now)

    async def flush(self) -> None:
        """Finish a pending write (in the subscriber's task)."""
        await self.sink.flush()


class WsFeedWriter:
    """One WebSocket ``subscribe_feed`` subscription as the workflow feed writes to it directly."""

    __slots__ = ("sink",)

    def __init__(self, sink: WsSink) -> None:
        self.sink = sink

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return self.sink.ready()

    def write(self, entry: Entry, pos: Position, now: float) -> Outcome:
        """Write the entry's ``feed`` frame if the send lock is free and the transport takes it at once."""
        if not self.sink.accepts():
            return Outcome.REFUSED
        return self.sink.write(ws_feed_frame(entry, pos, self.sink.sub), now)

    async def flush(self) -> None:
        """Finish a pending write and release the send lock (in the subscriber's task)."""
        await self.sink.flush()
