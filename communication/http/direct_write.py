"""Driving one ASGI ``send`` by hand, for direct delivery (:mod:`communication.core.live.direct`): what the SSE
sink (:mod:`communication.http.direct_sse`) and the WebSocket sink (:mod:`communication.http.direct_ws`) share.

What ASGI servers give publicly: ``send`` is a coroutine function, and no public ASGI interface exposes the
transport or its write-buffer size. uvicorn writes a frame to the transport synchronously and suspends only when
the transport has paused writing (its buffer is above the high-water mark: a client not reading) — HTTP bodies,
and WebSocket messages with both of its ``websockets`` implementations (the sans-I/O one waits for the transport to
be writable, then writes; the legacy one writes, then awaits ``drain()``) — and so do the Starlette / FastAPI /
middleware wrappers around it, which only inspect the message. So a feed steps the ``send`` coroutine once by hand
(the coroutine protocol: ``coro.send(None)``): if it finishes, the frame is written; if it suspends, the server is
applying back-pressure, and :class:`PendingWrite` keeps the suspended coroutine for the subscriber's own task to
finish (:meth:`PendingWrite.finish`) before that task goes on at its own pace. A server whose ``send`` always
suspends simply keeps every subscriber on its own path. Nothing private of uvicorn, Starlette or websockets is read.

:func:`try_acquire` takes an :class:`asyncio.Lock` without waiting by the same means (the WebSocket's send lock,
which keeps frames of several subscriptions on one socket whole and in order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any


def _resume(coro: Generator[Any, Any, Any], yielded: Any) -> Generator[Any, Any, None]:
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


class PendingWrite:
    """At most one write a sink started by hand and could not finish at once (or that failed at once)."""

    __slots__ = ("_error", "_pending")

    def __init__(self) -> None:
        self._pending: Generator[Any, Any, None] | None = None
        self._error: BaseException | None = None

    @property
    def idle(self) -> bool:
        """No write is under way and none failed unreported: a new one may start."""
        return self._pending is None and self._error is None

    @property
    def pending(self) -> bool:
        """A write is under way (suspended: the transport applies back-pressure)."""
        return self._pending is not None

    def start(self, write: Awaitable[Any]) -> bool:
        """Step ``write`` once, here and now: True if it finished (the frame is written). False if it suspended
        (now :attr:`pending`) or raised (kept for :meth:`finish` to raise): either way, :meth:`finish` next."""
        # Any awaitable's iterator steps like a coroutine (send / throw / close).
        coro = write.__await__()
        try:
            yielded = coro.send(None)
        except StopIteration:
            return True
        except BaseException as exc:  # noqa: BLE001 - reported by finish, in the subscriber's own task
            self._error = exc
            return False
        self._pending = _resume(coro, yielded)
        return False

    async def finish(self) -> bool:
        """Finish the write :meth:`start` left under way, in the awaiting task (a cancellation of that task is
        passed on to the write); raise what it failed with. Returns whether there was a write to finish."""
        error, self._error = self._error, None
        if error is not None:
            raise error
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        await _Await(pending)
        return True

    def abandon(self) -> None:
        """Drop a write still under way (its connection is ending): the suspended coroutine is closed."""
        self._error = None
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()


def try_acquire(lock: asyncio.Lock) -> bool:
    """Take ``lock`` now if that needs no waiting (it is free and nobody queues for it), else leave it as it was.

    ``Lock.acquire`` finishes without suspending exactly then; stepped by hand, a suspension (waiters queued) is
    undone by closing the coroutine, which removes its own waiter.
    """
    if lock.locked():
        return False
    coro = lock.acquire().__await__()
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False
