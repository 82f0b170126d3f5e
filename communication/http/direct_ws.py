"""The WebSocket side of direct delivery (:mod:`communication.core.live.direct`): a ``subscribe_stream``
subscription's sink that writes a feed's value frame to its socket without a task wake-up.

Frames of several subscriptions share one socket, so every write holds the connection's send lock (an
:class:`asyncio.Lock`; :mod:`communication.http.routes.ws`). The feed takes it without waiting
(:func:`~communication.http.direct_write.try_acquire`) and steps the socket's ``send`` once by hand
(:class:`~communication.http.direct_write.PendingWrite`): written at once, the lock is released in the same pass;
lock busy (another subscription is writing, or queues for it), the item is refused and the subscriber's own path
sends it in its place; ``send`` suspended (the transport paused writing: a client not reading), the lock stays held
until the subscriber's own task has finished that write (:meth:`WsSink.flush`), so no other frame starts on the
socket before it — a frame is never interleaved, and websockets' legacy protocol never sees two ``drain()`` at
once. A subscription that ends (unsubscribe, disconnect, shutdown) with a write still pending drops it and
releases the lock (:meth:`WsSink.close`).

Kept from the per-subscriber path: the frames are the same text (``frames.ws_value``), deliveries are counted and
timed once per pass (``record_delivery``), and a read token's expiry stops direct writes (the item is refused; the
connection then ends with the ``token_expired`` error frame and close code 4401).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.types import Message

from communication.core.live.direct import Outcome
from communication.core.live.hub import Item
from communication.http.direct_write import PendingWrite, try_acquire
from communication.http.frames import record_delivery, ws_value


class WsSink:
    """One WebSocket subscription's transport, as the feed writes to it directly."""

    __slots__ = ("_closed", "_holds_lock", "_lock", "_send", "_write", "deadline", "sub")

    def __init__(
        self,
        send: Callable[[Message], Awaitable[None]],
        lock: asyncio.Lock,
        sub: str,
        deadline: float | None = None,
    ) -> None:
        """Args:
        send: the socket's ``send`` (Starlette's ``WebSocket.send``: an ASGI ``websocket.send`` message).
        lock: the connection's send lock (held around every frame written to the socket).
        sub: the subscription's id, spliced into each frame.
        deadline: when the read token that opened the socket expires (epoch seconds), else ``None``.
        """
        self._send = send
        self._lock = lock
        self.sub = sub
        self.deadline = deadline
        self._write = PendingWrite()
        self._holds_lock = False  # a pending write holds the send lock until flush (or close) finishes it
        self._closed = False

    def expired(self) -> bool:
        """Whether the read token that opened the socket has expired (no more value frames)."""
        return self.deadline is not None and time.time() >= self.deadline

    def ready(self) -> bool:
        """Whether the feed may write to this subscriber now."""
        return not self._closed and self._write.idle

    def accepts(self) -> bool:
        """Whether a direct write may start now: the subscription is open, no write is under way, and the read
        token (if any) has not expired."""
        return not self._closed and self._write.idle and not self.expired()

    def deliver(self, item: Item, now: float) -> Outcome:
        """Write the item's frame if the lock is free and the transport takes it at once (module docstring)."""
        if not self.accepts():
            return Outcome.REFUSED
        return self.write(ws_value(item, self.sub), now)

    def write(self, text: str, now: float) -> Outcome:
        """Write one frame if the lock is free and the transport takes it at once (after :meth:`accepts`; also the
        workflow feed's WebSocket writer, :mod:`communication.http.direct_feed`)."""
        if not try_acquire(self._lock):
            return Outcome.REFUSED
        written = self._write.start(self._send({"type": "websocket.send", "text": text}))
        if written or not self._write.pending:
            self._lock.release()  # written, or failed at once (flush reports it)
        else:
            self._holds_lock = True
        return Outcome.WRITTEN if written else Outcome.TAKEN_DETACH

    def passed(self, item: Item, written: int) -> None:
        """Count the pass's deliveries of ``item`` at once and observe its latency once."""
        record_delivery(item, "websocket", written, direct=True)

    async def flush(self) -> None:
        """Finish the write :meth:`deliver` left under way (in the subscriber's task), then release the send lock;
        raise the write's failure."""
        try:
            await self._write.finish()
        finally:
            self._release()

    def close(self) -> None:
        """The subscription ended: no more writes; a write still pending is dropped and the lock released."""
        self._closed = True
        self._write.abandon()
        self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            self._lock.release()
