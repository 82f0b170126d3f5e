"""Direct delivery over a real ``python server.py`` and raw sockets: every SSE subscriber of one stream gets every
value once, in order, with ``id:`` = the durable offset — including a client that stops reading for a while (its
transport fills, the feed detaches it onto its own path) and then catches up, while the others are unaffected;
a reconnect with ``Last-Event-ID`` continues exactly after it; the per-workflow cap still holds.

Raw sockets on purpose (``tests/support/raw_sse.py``): the reader can stop reading with a small receive buffer, which
no SSE client library lets a test do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.raw_sse import RawTail
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
