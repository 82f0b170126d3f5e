"""The SSE side of direct delivery (:mod:`communication.core.live.direct`): a stream tail's sink that writes a
feed's pre-encoded frame through the response's ASGI ``send`` without a task wake-up.

What ASGI and uvicorn give publicly: ``send`` is a coroutine function, and no public ASGI extension exposes the
transport or its write-buffer size. uvicorn's ``send`` writes to the transport synchronously and suspends only
when the transport has paused writing (its buffer is above the high-water mark: a client not reading), and so do
the Starlette / FastAPI / CORS wrappers around it, which only inspect the message. So a sink drives the ``send``
coroutine one step by hand (the coroutine protocol: ``coro.send(None)``): if it finishes, the frame is written and
the subscriber stays on the direct path; if it suspends, the server is applying back-pressure, and the sink keeps
the suspended coroutine for the subscriber's own task to finish (:meth:`SseSink.flush`, under the response's send
timeout) before that task goes on at its own pace. Any ASGI server works: one whose ``send`` always suspends
simply keeps every subscriber on its own path. No private attribute of uvicorn is read.

Kept from the per-subscriber path: the frames are the same bytes (``frames.sse_item``; the ``retry:`` hint on the
subscriber's first value, shared through :attr:`SseSink.first`), deliveries are counted and timed
(``record_delivery``), heartbeats see the write (``last_write``), a read token's expiry stops direct writes (the
item is refused, the per-subscriber path ends the response with ``token_expired``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

from communication.core.live.direct import Outcome
from communication.core.live.hub import End, Item
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


def _resume(coro: Generator[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """Go on driving ``coro``, which already yielded ``yielded`` to whoever stepped it, inside the awaiting task."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - a cancellation or error thrown in: passed on to the write
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration:
                return


class _Await:
    """An awaitable over a generator that steps like a coroutine (``_resume``'s result)."""

    __slots__ = ("_gen",)

    def __init__(self, gen: Generator[Any, Any, None]) -> None:
        self._gen = gen

    def __await__(self) -> Generator[Any, Any, None]:
        return self._gen


class SseSink:
    """One SSE stream tail's transport, as the feed writes to it directly."""

    __slots__ = ("_error", "_frame_of", "_pending", "_response", "_send", "deadline", "first")

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
        self._pending: Generator[Any, Any, None] | None = None
        self._error: BaseException | None = None

    def bind(self, response: FrameStream, send: Send) -> None:
        """The response has started: frames may now be written with ``send``."""
        self._response, self._send = response, send

    def close(self) -> None:
        """The response ended: no more writes (a write still pending is abandoned with its connection)."""
        self._send = None
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return self._send is not None and self._pending is None and self._error is None

    def frame(self, item: Item) -> bytes:
        """The item's value frame for this subscriber (cached per item; the first one carries ``retry:``)."""
        frame = sse_item(item, "value")
        if self.first:
            self.first = False
            return with_retry(frame)
        return frame

    def deliver(self, item: Item, now: float) -> Outcome:
        """Write the item's frame if the transport takes it at once (see the module docstring)."""
        send, response = self._send, self._response
        if send is None or response is None or (self.deadline is not None and time.time() >= self.deadline):
            return Outcome.REFUSED
        # Any awaitable's iterator steps like a coroutine (send / throw / close).
        if self._frame_of is not None:
            frame = self._frame_of(item)
        elif self.first:
            self.first = False
            frame = with_retry(sse_item(item, "value"))
        else:
            frame = item.frames.get("sse:value") or sse_item(item, "value")
        coro = send({"type": "http.response.body", "body": frame, "more_body": True}).__await__()
        try:
            yielded = coro.send(None)
        except StopIteration:
            response.last_write = now
            return Outcome.WRITTEN
        except BaseException as exc:  # noqa: BLE001 - reported by flush, in the subscriber's own task
            self._error = exc
            return Outcome.TAKEN_DETACH
        response.write_started = now  # the response's send timeout now covers this write
        self._pending = _resume(coro, yielded)
        return Outcome.TAKEN_DETACH

    def passed(self, item: Item, written: int) -> None:
        """Count the pass's deliveries of ``item`` at once and observe its latency once (every subscriber of one
        pass got it at the same moment)."""
        record_delivery(item, "sse", written)

    async def flush(self) -> None:
        """Finish the write :meth:`deliver` left under way (in the subscriber's task); raise its failure."""
        error, self._error = self._error, None
        if error is not None:
            raise error
        pending, self._pending = self._pending, None
        if pending is not None:
            await _Await(pending)
            if self._response is not None:
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
