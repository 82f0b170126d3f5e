"""Direct delivery over a real ``python server.py`` and raw sockets: every SSE subscriber of one stream gets every
value once, in order, with ``id:`` = the durable offset — including a client that stops reading for a while (its
transport fills, the feed detaches it onto its own path) and then catches up, while the others are unaffected;
a reconnect with ``Last-Event-ID`` continues exactly after it; the per-workflow cap still holds.

Raw sockets on purpose: the reader decodes HTTP chunked framing and SSE blocks itself and can stop reading with a
small receive buffer, which no SSE client library lets a test do.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server_proc import ServerProcess

WRITES = 200
# 8 MB in all: more than a stopped reader's socket buffers and the server's (≤ 4 MB send buffer on Linux by
# default, then the transport's high-water mark) hold, so the feed meets a transport that does not take a frame.
PAD = 40_000


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "COMM_WORKFLOWS": "workflows,bench.workflows",
        "COMM_MAX_SUBSCRIPTIONS_PER_WORKFLOW": "4",
        "COMM_HUB_BUFFER_BYTES": str(64 * 1024 * 1024),  # the stopped reader catches up from the buffer
    }
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        yield proc


class RawTail:
    """One SSE tail over a plain socket: ``frames`` is every ``(id, event, data)`` block received, in order."""

    def __init__(self, port: int, path: str, *, last_event_id: str | None = None, rcvbuf: int | None = None):
        self.port, self.path, self.last_event_id, self.rcvbuf = port, path, last_event_id, rcvbuf
        self.frames: list[tuple[str | None, str | None, str]] = []
        self.status = b""
        self.reading = asyncio.Event()
        self.reading.set()

    async def open(self) -> None:
        sock = socket.socket()
        if self.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=2**20)
        extra = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id is not None else ""
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.status = head.split(b"\r\n", 1)[0]

    async def read_all(self) -> None:
        """Read until the response ends (the terminal ``end`` frame, then the last chunk)."""
        buf = b""
        try:
            while True:
                await self.reading.wait()
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                buf += (await self.reader.readexactly(size + 2))[:-2]
                *blocks, buf = buf.split(b"\r\n\r\n")
                for block in blocks:
                    self._frame(block)
        finally:
            self.writer.close()

    def _frame(self, block: bytes) -> None:
        fields: dict[str, str] = {}
        for line in block.decode().split("\r\n"):
            if line.startswith(":"):
                continue  # comments: ": connected", heartbeats
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            self.frames.append((fields.get("id"), fields.get("event"), fields["data"]))

    def values(self) -> list[tuple[int, dict[str, Any]]]:
        return [(int(i), json.loads(d)) for i, e, d in self.frames if e == "value" and i is not None]

    def end(self) -> dict[str, Any]:
        last = self.frames[-1]
        assert last[1] == "end", last
        body: dict[str, Any] = json.loads(last[2])
        return body


def _start(server: ServerProcess, wid: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = {"type": "bench_stream", "workflow_id": wid, "input": {"n": WRITES, "interval_ms": 2, "pad": PAD}}
        assert http.post("/v1/workflows", json=body).status_code == 201
        assert http.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60}).json()["value"] == "ready"


def _go(server: ServerProcess, wid: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        http.post(f"/v1/workflows/{wid}/messages", json={"topic": "go", "message": 1}).raise_for_status()


def _exact(tail: RawTail, first: int = 0) -> None:
    values = tail.values()
    assert [i for i, _ in values] == list(range(first, WRITES))
    assert [v["i"] for _, v in values] == list(range(first, WRITES))
    assert all(len(v["pad"]) == PAD for _, v in values)
    end = tail.end()
    assert (end["reason"], end["next_offset"]) == ("closed", WRITES)


async def test_a_stopped_reader_catches_up_without_loss_while_the_others_get_everything(
    server: ServerProcess,
) -> None:
    assert server.port is not None
    _start(server, "dd-slow")
    path = "/v1/workflows/dd-slow/streams/bench/live"
    fast = [RawTail(server.port, path) for _ in range(2)]
    stopped = RawTail(server.port, path, rcvbuf=4096)
    for tail in [*fast, stopped]:
        await tail.open()
        assert b" 200 " in tail.status
    stopped.reading.clear()  # takes nothing beyond the headers until the others have everything
    readers = [asyncio.create_task(t.read_all()) for t in [*fast, stopped]]
    await asyncio.to_thread(_go, server, "dd-slow")
    async with asyncio.timeout(120):
        await asyncio.gather(*readers[:2])
    for tail in fast:
        _exact(tail)
    assert stopped.values() == []
    stopped.reading.set()
    async with asyncio.timeout(120):
        await readers[2]
    _exact(stopped)


async def test_a_reconnect_with_last_event_id_continues_exactly_after_it(server: ServerProcess) -> None:
    assert server.port is not None
    _start(server, "dd-resume")
    path = "/v1/workflows/dd-resume/streams/bench/live"
    live = RawTail(server.port, path)
    await live.open()
    reading = asyncio.create_task(live.read_all())
    await asyncio.to_thread(_go, server, "dd-resume")
    async with asyncio.timeout(120):
        await reading
    _exact(live)
    again = RawTail(server.port, path, last_event_id="99")
    await again.open()
    async with asyncio.timeout(120):
        await again.read_all()
    _exact(again, first=100)


async def test_the_per_workflow_cap_still_holds_with_direct_subscribers(server: ServerProcess) -> None:
    assert server.port is not None
    _start(server, "dd-cap")
    path = "/v1/workflows/dd-cap/streams/bench/live"
    held = [RawTail(server.port, path) for _ in range(4)]
    for tail in held:
        await tail.open()
        assert b" 200 " in tail.status
    readers = [asyncio.create_task(t.read_all()) for t in held]
    refused = RawTail(server.port, path)
    await refused.open()
    assert b" 429 " in refused.status or b" 503 " in refused.status, refused.status
    refused.writer.close()
    await asyncio.to_thread(_go, server, "dd-cap")
    async with asyncio.timeout(120):
        await asyncio.gather(*readers)
    for tail in held:
        _exact(tail)


async def test_seed_session_subscribers_get_every_post_once_in_order(server: ServerProcess) -> None:
    assert server.port is not None
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.post("/events/dd-seed", json={"type": "start"}).status_code < 300
    tails = [RawTail(server.port, "/stream/dd-seed") for _ in range(3)]
    for tail in tails:
        await tail.open()
        assert b" 200 " in tail.status
    readers = [asyncio.create_task(t.read_all()) for t in tails]

    def post() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i in range(40):
                assert http.post("/events/dd-seed", json={"type": "tick", "i": i}).status_code < 300
            assert http.post("/events/dd-seed", json={"type": "done"}).status_code < 300

    await asyncio.to_thread(post)
    async with asyncio.timeout(120):
        await asyncio.gather(*readers)
    for tail in tails:
        ids = [int(i) for i, _, _ in tail.frames if i is not None]
        posted = [json.loads(d) for _, _, d in tail.frames]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # durable offsets, contiguous: none lost or repeated
        assert posted == [{"type": "start"}, *({"type": "tick", "i": i} for i in range(40)), {"type": "done"}]
