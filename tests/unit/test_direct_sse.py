"""The SSE sink of direct delivery against an ASGI ``send`` that behaves as uvicorn's does: it writes at once
unless the transport paused writing, then it waits for the drain before writing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from communication.core.live.buffers import Item
from communication.core.live.direct import Outcome
from communication.http.direct_sse import SseSink
from communication.http.sse_response import FrameStream


class Transport:
    """An ASGI ``send`` over a transport that may be paused (uvicorn: ``if write_paused: await drain()``)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.writable = asyncio.Event()
        self.writable.set()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if not self.writable.is_set():
            await self.writable.wait()
        self.written.append(message["body"])


async def _frames() -> Any:
    yield b""


def _sink(transport: Transport, deadline: float | None = None) -> tuple[SseSink, FrameStream]:
    sink = SseSink(deadline=deadline)
    response = FrameStream(_frames(), heartbeat=15, send_timeout=30, sink=sink)
    sink.bind(response, transport.send)
    return sink, response


async def test_frames_are_written_at_once_and_the_first_carries_the_retry_hint() -> None:
    transport = Transport()
    sink, _ = _sink(transport)
    assert sink.ready()
    assert sink.deliver(Item(7, {"a": 1}), time.monotonic()) is Outcome.WRITTEN
    assert sink.deliver(Item(8, {"a": 2}), time.monotonic()) is Outcome.WRITTEN
    assert transport.written == [
        b'id: 7\r\nevent: value\r\ndata: {"a":1}\r\nretry: 1000\r\n\r\n',
        b'id: 8\r\nevent: value\r\ndata: {"a":2}\r\n\r\n',
    ]


async def test_a_paused_transport_detaches_and_flush_finishes_the_write_in_order() -> None:
    transport = Transport()
    sink, response = _sink(transport)
    sink.deliver(Item(0, 0), time.monotonic())
    transport.writable.clear()
    assert sink.deliver(Item(1, 1), time.monotonic()) is Outcome.TAKEN_DETACH
    assert not sink.ready()  # no further direct write while this one is under way
    assert response.write_started is not None  # the response's send timeout covers it
    flushing = asyncio.create_task(sink.flush())
    await asyncio.sleep(0)
    assert not flushing.done() and len(transport.written) == 1
    transport.writable.set()
    await flushing
    assert [f.split(b"\r\n", 1)[0] for f in transport.written] == [b"id: 0", b"id: 1"]
    assert sink.ready() and response.write_started is None


async def test_an_expired_read_token_refuses_the_item() -> None:
    transport = Transport()
    sink, _ = _sink(transport, deadline=time.time() - 1)
    assert sink.deliver(Item(0, 0), time.monotonic()) is Outcome.REFUSED
    assert transport.written == []


async def test_a_failing_send_is_reported_by_flush() -> None:
    async def broken(message: MutableMapping[str, Any]) -> None:
        raise OSError("peer gone")

    sink, response = _sink(Transport())
    sink.bind(response, broken)
    assert sink.deliver(Item(0, 0), time.monotonic()) is Outcome.TAKEN_DETACH
    try:
        await sink.flush()
    except OSError as exc:
        assert "peer gone" in str(exc)
    else:
        raise AssertionError("flush did not report the failed write")


async def test_a_closed_response_takes_nothing() -> None:
    transport = Transport()
    sink, _ = _sink(transport)
    sink.close()
    assert not sink.ready()
    assert sink.deliver(Item(0, 0), time.monotonic()) is Outcome.REFUSED
