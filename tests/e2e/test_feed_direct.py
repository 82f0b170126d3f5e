"""Direct delivery of the per-workflow feed over a real ``python server.py``: caught-up subscribers — SSE and
WebSocket, with and without filters, a read token that must not see the secret event — each get exactly their
frames once, in commit order, while the feed writes them itself (the server's
``comm_direct_deliveries_total{transport="feed"}`` proves it); several subscriptions on one socket get whole
frames; a client that stops reading (its buffers fill, the feed detaches it) gets everything once it reads again,
and a reconnect with the last cursor continues exactly after it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.feed_workflow import GO_TOPIC, expected
from tests.support.raw_sse import RawTail
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.timeout(240)

API_KEY = "feed-direct-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "COMM_WORKFLOWS": "workflows,tests.support.feed_workflow",
        "COMM_API_KEYS": API_KEY,
        "COMM_SERVER_SECRET": "feed-direct-secret-0123456789",
        "COMM_HUB_BUFFER_BYTES": str(64 * 1024 * 1024),  # the stopped reader catches up from the buffer
    }
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        yield proc


def _start(server: ServerProcess, rounds: int, pad: int = 0) -> str:
    wid = f"fd-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as http:
        body = {"type": "feed_busy", "input": {"rounds": rounds, "pad": pad}, "workflow_id": wid}
        assert http.post("/v1/workflows", json=body).status_code == 201
        # The first half is written once the workflow waits for "go": subscribers catch up on it, then follow.
        progress = http.get(f"/v1/workflows/{wid}/events/progress", params={"timeout": 60}).json()
        while progress["value"] != rounds - 1:
            progress = http.get(
                f"/v1/workflows/{wid}/events/progress", params={"timeout": 60, "after_version": progress["version"]}
            ).json()
    return wid


def _go(server: ServerProcess, wid: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as http:
        http.post(f"/v1/workflows/{wid}/messages", json={"topic": GO_TOPIC, "message": 1}).raise_for_status()


def _token(server: ServerProcess, wid: str) -> str:
    with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as http:
        token: str = http.post(f"/v1/workflows/{wid}/read-token").json()["token"]
        return token


def _taken(server: ServerProcess) -> float:
    """The server's count of feed entries its workflow feeds handed to caught-up subscribers themselves."""
    text = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=30).text
    found = re.search(r'^comm_direct_deliveries_total\{transport="feed"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _shape(data: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (d["kind"], d["key"], d["value"]) if d["kind"] in ("event", "stream") else (d["kind"], d["status"])
        for d in data
    ]


def _whole(rounds: int, *, secret: bool = True) -> list[tuple[Any, ...]]:
    return [("status", "PENDING"), *expected(rounds, secret=secret), ("status", "SUCCESS"), ("end", "SUCCESS")]


def _sse_data(tail: RawTail) -> list[dict[str, Any]]:
    assert all(event is None for _, event, _ in tail.frames), "feed frames are unnamed"
    return [json.loads(data) for _, _, data in tail.frames]


def _pad_free(shape: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``log`` values without their padding (checked apart)."""
    return [(f[0], f[1], {"line": f[2]["line"]}) if f[1] == "log" else f for f in shape]


async def test_feed_subscribers_on_the_direct_path_get_exactly_their_frames_once_in_order(
    server: ServerProcess,
) -> None:
    assert server.port is not None
    rounds = 30
    wid = _start(server, rounds)
    before = await asyncio.to_thread(_taken, server)
    path = f"/v1/workflows/{wid}/feed"
    everything = RawTail(server.port, path, headers=AUTH)
    scoped = RawTail(server.port, f"{path}?streams=tokens&access_token={_token(server, wid)}")
    for tail in (everything, scoped):
        await tail.open()
        assert b" 200 " in tail.status
    readers = [asyncio.create_task(t.read_all()) for t in (everything, scoped)]
    url = server.url.replace("http", "ws") + f"/v1/workflows/{wid}/ws"
    async with connect(url, additional_headers=AUTH, compression=None) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"op": "subscribe_feed", "sub": "all"}))
        await ws.send(
            json.dumps({"op": "subscribe_feed", "sub": "few", "events": ["progress"], "streams": [], "status": False})
        )
        await ws.send(json.dumps({"op": "subscribe_stream", "sub": "tok", "key": "tokens"}))
        await asyncio.to_thread(_go, server, wid)
        frames: list[dict[str, Any]] = []
        ended: set[str] = set()
        async with asyncio.timeout(120):
            while ended != {"all", "few", "tok"}:
                frame = json.loads(await ws.recv())  # each message whole: frames never interleave
                frames.append(frame)
                if frame["type"] == "end" or (frame["type"] == "feed" and frame["data"]["kind"] == "end"):
                    ended.add(frame["sub"])
            await asyncio.gather(*readers)
    whole = _whole(rounds)
    assert _shape(_sse_data(everything)) == whole
    no_secret = _whole(rounds, secret=False)
    assert _shape(_sse_data(scoped)) == [f for f in no_secret if f[0] != "stream" or f[1] == "tokens"]
    assert _shape([f["data"] for f in frames if f["sub"] == "all"]) == whole
    few = [f for f in whole if (f[0] == "event" and f[1] == "progress") or f[0] == "end"]
    assert _shape([f["data"] for f in frames if f["sub"] == "few"]) == few
    tokens = [f["value"] for f in frames if f["sub"] == "tok" and f["type"] == "value"]
    assert tokens == [f"t{n}" for n in range(2 * rounds)]
    # Each frame's id is the cursor after it: the SSE and WebSocket subscribers without filters agree.
    assert [i for i, _, _ in everything.frames] == [f["id"] for f in frames if f["sub"] == "all"]
    assert await asyncio.to_thread(_taken, server) > before  # the feed wrote to these subscribers itself


async def test_a_stopped_feed_reader_catches_up_without_loss_and_a_reconnect_continues_after_its_cursor(
    server: ServerProcess,
) -> None:
    assert server.port is not None
    rounds, pad = 100, 90_000  # 100 log values of 90 kB after "go": 9 MB, beyond every buffer in between
    wid = _start(server, rounds, pad)
    before = await asyncio.to_thread(_taken, server)
    path = f"/v1/workflows/{wid}/feed"
    fast = RawTail(server.port, path, headers=AUTH)
    # Stops reading once it has the first half (status + 3 frames a round): caught up, then it stops.
    stopped = RawTail(server.port, path, headers=AUTH, rcvbuf=4096, pause_after=1 + 3 * rounds)
    for tail in (fast, stopped):
        await tail.open()
        assert b" 200 " in tail.status
    readers = [asyncio.create_task(t.read_all()) for t in (fast, stopped)]
    async with asyncio.timeout(120):
        await stopped.paused.wait()
    await asyncio.to_thread(_go, server, wid)
    async with asyncio.timeout(120):
        await readers[0]
    stopped.reading.set()
    async with asyncio.timeout(120):
        await readers[1]
    whole = _whole(rounds)
    for tail in (fast, stopped):
        data = _sse_data(tail)
        assert _pad_free(_shape(data)) == _pad_free(whole)
        assert all(len(d["value"]["pad"]) == pad for d in data if d.get("key") == "log")
    assert await asyncio.to_thread(_taken, server) > before
    # A reconnect after the 100th frame gets exactly the rest.
    again = RawTail(server.port, path, headers=AUTH, last_event_id=fast.frames[99][0])
    await again.open()
    async with asyncio.timeout(120):
        await again.read_all()
    assert _pad_free(_shape(_sse_data(again))) == _pad_free(whole[100:])


def _live_feeds(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=30).text
    found = re.search(r'^comm_live_subscribers\{kind="feed"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_an_expired_read_token_ends_a_socket_whose_feed_subscription_is_on_the_direct_path(
    server: ServerProcess,
) -> None:
    wid = _start(server, 2)
    with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as http:
        token = http.post(f"/v1/workflows/{wid}/read-token", json={"ttl_seconds": 2}).json()["token"]
    url = server.url.replace("http", "ws") + f"/v1/workflows/{wid}/ws?access_token={token}"
    frames: list[dict[str, Any]] = []
    async with connect(url, compression=None) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"op": "subscribe_feed", "sub": "f"}))
        # The first half, then nothing until the token expires: the subscription waits attached to the feed.
        async with asyncio.timeout(60):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    frames.append(json.loads(await ws.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert frames[-1]["type"] == "error" and frames[-1]["error"]["code"] == "token_expired"
    assert _shape([f["data"] for f in frames[:-1]]) == _whole(2, secret=False)[: 1 + 3 * 2]
    assert await asyncio.to_thread(_live_feeds, server) == 0  # the attached subscription was released
