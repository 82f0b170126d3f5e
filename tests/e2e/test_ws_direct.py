"""Direct delivery on the WebSocket, over a real ``python server.py``: every ``subscribe_stream`` subscription gets
every value once, in order, with its durable offset, while the feed writes to the socket itself (the server's
``comm_direct_deliveries_total{transport="websocket"}`` proves it) — several subscriptions on one socket included,
each frame whole; a client that stops reading (its socket buffers fill, the feed detaches it) gets everything once
it reads again, while the others are unaffected; a subscription from an offset continues exactly there; a read
token's expiry still ends the socket with ``token_expired`` and 4401, with no value after it.

The slow client is a real socket with a small receive buffer whose reader stops: the websockets client library
then stops reading the socket once its queue is full (``max_queue``), and compression is off so the padded values
fill the server's buffers.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.server_proc import ServerProcess

WRITES = 200
# 8 MB in all: more than a stopped reader's socket buffers and the server's hold (see test_direct_delivery.py).
PAD = 40_000
ADMIN = {"Authorization": "Bearer wsd-admin-key"}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "COMM_WORKFLOWS": "workflows,bench.workflows",
        "COMM_HUB_BUFFER_BYTES": str(64 * 1024 * 1024),  # the stopped reader catches up from the buffer
        "COMM_API_KEYS": "wsd-admin-key",
        "COMM_SERVER_SECRET": "wsd-server-secret-0123456789",
    }
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        yield proc


def _start(server: ServerProcess, wid: str, n: int = WRITES, pad: int = PAD, interval_ms: float = 2) -> None:
    with httpx.Client(base_url=server.url, timeout=60, headers=ADMIN) as http:
        body = {"type": "bench_stream", "workflow_id": wid, "input": {"n": n, "interval_ms": interval_ms, "pad": pad}}
        assert http.post("/v1/workflows", json=body).status_code == 201
        assert http.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60}).json()["value"] == "ready"


def _go(server: ServerProcess, wid: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60, headers=ADMIN) as http:
        http.post(f"/v1/workflows/{wid}/messages", json={"topic": "go", "message": 1}).raise_for_status()


def _direct(server: ServerProcess) -> float:
    """The server's count of values the feed wrote to WebSockets itself."""
    text = httpx.get(f"{server.url}/metrics", headers=ADMIN, timeout=30).text
    found = re.search(r'^comm_direct_deliveries_total\{transport="websocket"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _open(server: ServerProcess, wid: str, *, query: str = "", rcvbuf: int | None = None) -> ClientConnection:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    url = server.url.replace("http", "ws") + f"/v1/workflows/{wid}/ws{query}"
    headers = ADMIN if not query else None
    ws = await connect(url, sock=sock, compression=None, max_queue=1, max_size=2**20, additional_headers=headers)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


async def _subscribe(ws: ClientConnection, sub: str, offset: int = 0) -> None:
    await ws.send(json.dumps({"op": "subscribe_stream", "sub": sub, "key": "bench", "offset": offset}))


async def _until_ends(ws: ClientConnection, subs: set[str]) -> list[dict[str, Any]]:
    """Every frame until each of ``subs`` has its ``end`` (each message parsed whole: frames never interleave)."""
    frames: list[dict[str, Any]] = []
    ended: set[str] = set()
    while ended != subs:
        frame = json.loads(await ws.recv())
        frames.append(frame)
        if frame["type"] == "end":
            ended.add(frame["sub"])
    return frames


def _exact(frames: list[dict[str, Any]], sub: str, first: int = 0, pad: int = PAD) -> None:
    mine = [f for f in frames if f.get("sub") == sub]
    values = [f for f in mine if f["type"] == "value"]
    assert [f["offset"] for f in values] == list(range(first, WRITES))
    assert [f["value"]["i"] for f in values] == list(range(first, WRITES))
    assert all(len(f["value"].get("pad", "")) == pad for f in values)
    assert [(f["type"], f["reason"], f["next_offset"]) for f in mine[len(values) :]] == [("end", "closed", WRITES)]


async def test_subscriptions_get_every_value_once_in_order_on_the_direct_path(server: ServerProcess) -> None:
    _start(server, "wsd-all", pad=2000)
    before = await asyncio.to_thread(_direct, server)
    shared = await _open(server, "wsd-all")  # two subscriptions of the stream and a ping on one socket
    alone = await _open(server, "wsd-all")
    for ws, sub in ((shared, "a"), (shared, "b"), (alone, "c")):
        await _subscribe(ws, sub)
    await asyncio.to_thread(_go, server, "wsd-all")
    await shared.send(json.dumps({"op": "ping", "req": "p"}))
    async with asyncio.timeout(120):
        both, single = await asyncio.gather(_until_ends(shared, {"a", "b"}), _until_ends(alone, {"c"}))
    for frames, sub in ((both, "a"), (both, "b"), (single, "c")):
        _exact(frames, sub, pad=2000)
    assert {"type": "pong", "req": "p"} in both
    assert await asyncio.to_thread(_direct, server) > before  # the feed wrote to these sockets itself
    await shared.close()
    await alone.close()


async def test_a_stopped_reader_catches_up_without_loss_while_the_others_get_everything(
    server: ServerProcess,
) -> None:
    _start(server, "wsd-slow")
    before = await asyncio.to_thread(_direct, server)
    fast = [await _open(server, "wsd-slow") for _ in range(2)]
    stopped = await _open(server, "wsd-slow", rcvbuf=4096)
    for i, ws in enumerate([*fast, stopped]):
        await _subscribe(ws, f"s{i}")
    # The stopped reader takes nothing until the others have everything (8 MB: beyond every buffer in between).
    await asyncio.to_thread(_go, server, "wsd-slow")
    async with asyncio.timeout(120):
        done = await asyncio.gather(*(_until_ends(ws, {f"s{i}"}) for i, ws in enumerate(fast)))
    for i, frames in enumerate(done):
        _exact(frames, f"s{i}")
    async with asyncio.timeout(120):
        late = await _until_ends(stopped, {"s2"})
    _exact(late, "s2")
    assert await asyncio.to_thread(_direct, server) > before
    for ws in [*fast, stopped]:
        await ws.close()


async def test_a_subscription_from_an_offset_continues_exactly_there(server: ServerProcess) -> None:
    _start(server, "wsd-resume", pad=0)
    ws = await _open(server, "wsd-resume")
    await _subscribe(ws, "all")
    await asyncio.to_thread(_go, server, "wsd-resume")
    async with asyncio.timeout(120):
        _exact(await _until_ends(ws, {"all"}), "all", pad=0)
        await _subscribe(ws, "rest", offset=100)  # as a client resuming after offset 99
        _exact(await _until_ends(ws, {"rest"}), "rest", first=100, pad=0)
    await ws.close()


async def test_an_expired_read_token_ends_a_socket_on_the_direct_path(server: ServerProcess) -> None:
    # 40 s of values, one per 20 ms; the token lives 2 s.
    _start(server, "wsd-token", n=2000, pad=0, interval_ms=20)
    with httpx.Client(base_url=server.url, timeout=30, headers=ADMIN) as http:
        token = http.post("/v1/workflows/wsd-token/read-token", json={"ttl_seconds": 2}).json()["token"]
    before = await asyncio.to_thread(_direct, server)
    ws = await _open(server, "wsd-token", query=f"?access_token={token}")
    await _subscribe(ws, "t")
    await asyncio.to_thread(_go, server, "wsd-token")
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(await ws.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert frames[-1]["type"] == "error" and frames[-1]["error"]["code"] == "token_expired"
    offsets = [f["offset"] for f in frames[:-1]]
    assert [f["type"] for f in frames[:-1]] == ["value"] * len(offsets)  # nothing after the error frame
    assert offsets == list(range(len(offsets))) and offsets  # in order, none lost or repeated
    assert await asyncio.to_thread(_direct, server) > before
