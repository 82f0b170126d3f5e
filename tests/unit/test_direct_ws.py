"""The WebSocket sink of direct delivery against a ``send`` that behaves as uvicorn's does (writes at once unless
the transport paused writing), and the connection's real send lock: a pending write keeps the lock until the
subscriber's own task finishes it, a busy lock refuses the item, an ended subscription releases the lock."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import Message

from communication.core.live.buffers import Item
from communication.core.live.direct import Outcome
from communication.http.direct_write import try_acquire
from communication.http.direct_ws import WsSink


class Socket:
    """A WebSocket ``send`` over a transport that may be paused (uvicorn: wait until writable, then write)."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, message: Message) -> None:
        if not self.writable.is_set():
            await self.writable.wait()
        self.written.append(json.loads(message["text"]))


def _deliver(sink: WsSink, position: int) -> Outcome:
    return sink.deliver(Item(position, {"n": position}), time.monotonic())


async def test_frames_are_written_at_once_and_the_lock_is_free_after_each() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1")
    assert sink.ready()
    assert _deliver(sink, 4) is Outcome.WRITTEN
    assert _deliver(sink, 5) is Outcome.WRITTEN
    assert not lock.locked()
    assert socket.written == [
        {"type": "value", "sub": "s1", "offset": 4, "value": {"n": 4}},
        {"type": "value", "sub": "s1", "offset": 5, "value": {"n": 5}},
    ]


async def test_a_busy_lock_refuses_the_item_and_writes_nothing() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1")
    async with lock:  # another subscription's frame is being written
        assert _deliver(sink, 0) is Outcome.REFUSED
    assert socket.written == [] and sink.ready()


async def test_a_paused_transport_keeps_the_lock_until_flush_so_frames_stay_whole_and_in_order() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1")
    socket.writable.clear()
    assert _deliver(sink, 0) is Outcome.TAKEN_DETACH
    assert lock.locked() and not sink.ready()

    async def other() -> None:  # another subscription of the same socket
        async with lock:
            await socket.send({"type": "websocket.send", "text": '{"type":"event","sub":"e"}'})

    others = asyncio.create_task(other())
    flushing = asyncio.create_task(sink.flush())
    await asyncio.sleep(0)
    assert not flushing.done() and socket.written == []
    socket.writable.set()
    await asyncio.gather(flushing, others)
    assert [f["sub"] for f in socket.written] == ["s1", "e"]  # the pending frame went first, whole
    assert not lock.locked() and sink.ready()


async def test_an_ended_subscription_drops_its_pending_write_and_releases_the_lock() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1")
    socket.writable.clear()
    assert _deliver(sink, 0) is Outcome.TAKEN_DETACH
    sink.close()
    assert not lock.locked() and not sink.ready()
    assert _deliver(sink, 1) is Outcome.REFUSED


async def test_a_cancelled_flush_releases_the_lock() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1")
    socket.writable.clear()
    _deliver(sink, 0)
    flushing = asyncio.create_task(sink.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    try:
        await flushing
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the flush was not cancelled")
    assert not lock.locked()


async def test_a_failing_send_releases_the_lock_and_is_reported_by_flush() -> None:
    async def broken(message: Message) -> None:
        raise RuntimeError('Cannot call "send" once a close message has been sent.')

    lock = asyncio.Lock()
    sink = WsSink(broken, lock, "s1")
    assert _deliver(sink, 0) is Outcome.TAKEN_DETACH
    assert not lock.locked()
    try:
        await sink.flush()
    except RuntimeError as exc:
        assert "close message" in str(exc)
    else:
        raise AssertionError("flush did not report the failed write")


async def test_an_expired_read_token_refuses_the_item() -> None:
    socket, lock = Socket(), asyncio.Lock()
    sink = WsSink(socket.send, lock, "s1", deadline=time.time() - 1)
    assert sink.expired()
    assert _deliver(sink, 0) is Outcome.REFUSED
    assert socket.written == [] and not lock.locked()


async def test_try_acquire_takes_a_free_lock_and_never_jumps_a_queue() -> None:
    lock = asyncio.Lock()
    assert try_acquire(lock) and lock.locked()
    assert not try_acquire(lock)
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)  # queued behind the holder
    lock.release()  # free, but the woken waiter has not run yet: its turn comes first
    assert not lock.locked()
    assert not try_acquire(lock) and not lock.locked()
    assert await waiter and lock.locked()
    lock.release()
