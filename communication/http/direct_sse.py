"""The SSE side of direct delivery (:mod:`communication.core.live.direct`): a stream tail's sink that writes a
feed's pre-encoded frame through the response's ASGI ``send`` without a task wake-up.

How a frame is written without waiting, and finished by the subscriber's own task when the server applies
back-pressure, is shared with the WebSocket sink (:mod:`communication.http.direct_write`): the sink steps ``send``
once by hand; if it suspends, the subscriber is detached and :meth:`SseSink.flush` finishes the write under the
response's send timeout before that task goes on at its own pace.

Kept from the per-subscriber path: the frames are the same bytes (``frames.sse_item``; the ``retry:`` hint on the
subscriber's first value, shared through :attr:`SseSink.first`), deliveries are counted and timed
(``record_delivery``), heartbeats see the write (``last_write``), a read token's expiry stops direct writes (the
item is refused, the per-subscriber path ends the response with ``token_expired``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from communication.core.live.direct import Outcome
from communication.core.live.hub import End, Item
from communication.http.direct_write import PendingWrite
from communication.http.frames import (
    CONNECTED,
    record_delivery,
    sse_end,
    sse_item,
    sse_overflow,
    with_retry,
)

if TYPE_CHECKING:
    from starlette.types import Send

    from communication.http.sse_response import FrameStream


class SseSink:
    """One SSE tail's transport, as the feed writes to it directly."""

    __slots__ = ("_frame_of", "_response", "_send", "_write", "deadline", "first")

    def __init__(self, deadline: float | None = None, frame_of: Callable[[Item], bytes] | None = None) -> None:
        """Args:
        deadline: when the read token that authenticated the request expires (epoch seconds), else ``None``.
        frame_of: the frame of one item (cached per item), for tails other than ``/streams/{key}/live`` (the seed
            ``GET /stream/{sid}``); ``None``: ``event: value`` frames with the ``retry:`` hint on the first.
        """
        self.deadline = deadline
        self._frame_of = frame_of
        self.first = frame_of is None  # the next value frame is the subscriber's first: it carries ``retry:``
        self._send: Send | None = None
        self._response: FrameStream | None = None
        self._write = PendingWrite()

    def bind(self, response: FrameStream, send: Send) -> None:
        """The response has started: frames may now be written with ``send``."""
        self._response, self._send = response, send

    def close(self) -> None:
        """The response ended: no more writes (a write still pending is abandoned with its connection)."""
        self._send = None
        self._write.abandon()

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return self._send is not None and self._write.idle

    def frame(self, item: Item) -> bytes:
        """The item's value frame for this subscriber (cached per item; the first one carries ``retry:``)."""
        frame = sse_item(item, "value")
        if self.first:
            self.first = False
            return with_retry(frame)
        return frame

    def accepts(self) -> bool:
        """Whether a direct write may start now: the response has started, no write is under way, and the read
        token (if any) has not expired."""
        return self._send is not None and self._write.idle and (self.deadline is None or time.time() < self.deadline)

    def deliver(self, item: Item, now: float) -> Outcome:
        """Write the item's frame if the transport takes it at once (see the module docstring)."""
        if not self.accepts():
            return Outcome.REFUSED
        if self._frame_of is not None:
            frame = self._frame_of(item)
        elif self.first:
            self.first = False
            frame = with_retry(sse_item(item, "value"))
        else:
            frame = item.frames.get("sse:value") or sse_item(item, "value")
        return self.write(frame, now)

    def write(self, frame: bytes, now: float) -> Outcome:
        """Write one frame if the transport takes it at once (after :meth:`accepts`; also the workflow feed's
        SSE writer, :mod:`communication.http.direct_feed`)."""
        send, response = self._send, self._response
        if send is None or response is None:
            return Outcome.REFUSED
        if self._write.start(send({"type": "http.response.body", "body": frame, "more_body": True})):
            response.last_write = now
            return Outcome.WRITTEN
        if self._write.pending:
            response.write_started = now  # the response's send timeout now covers this write
        return Outcome.TAKEN_DETACH

    def passed(self, item: Item, written: int) -> None:
        """Count the pass's deliveries of ``item`` at once and observe its latency once (every subscriber of one
        pass got it at the same moment)."""
        record_delivery(item, "sse", written, direct=True)

    async def flush(self) -> None:
        """Finish the write :meth:`deliver` left under way (in the subscriber's task); raise its failure."""
        if await self._write.finish() and self._response is not None:
            self._response.last_write = time.monotonic()
            self._response.write_started = None


async def tail_frames(items: AsyncIterator[Item | End], sink: SseSink) -> AsyncIterator[bytes]:
    """The per-subscriber frames of a stream tail (as ``frames.sse_live`` for ``value`` events), sharing the
    first-frame state with ``sink``: what the feed does not write directly comes through here."""
    yield CONNECTED
    async for out in items:
        if isinstance(out, Item):
            yield sink.frame(out)
            record_delivery(out, "sse")
        elif out.reason == "overflow":
            yield sse_overflow(out)
        elif out.reason == "shutdown":
            return
        else:
            yield sse_end(out, with_offset=True)
