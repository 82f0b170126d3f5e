"""Live delivery under hostile input: each finding of the outside probe, reproduced, on real HTTP.

Positions beyond storage on every edge (query, ``Last-Event-ID``, WebSocket) are refused while another subscriber
keeps receiving; subscription caps answer 429/503 with the error envelope; a client that leaves cancels its
blocking GET or tail within a second; feed buffers stay within their byte budget and are freed after the
subscribers leave; a read token's expiry ends the SSE tail or WebSocket it opened.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from dbos import DBOS
from fastapi import FastAPI
from httpx_sse import connect_sse
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from communication.adapter import store
from communication.core.live.hub import End, Hub, Item
from communication.core.ops.ratelog import RateLimitedLog
from communication.core.registry import registry
from communication.core.services import Core
from server import create_app
from tests.support.inprocess import make_settings
from tests.support.live_server import LiveServer, live_server

TOO_BIG = str(2**63)  # one past what a BIGINT holds
LAST = str(2**63 - 1)  # the largest position: "after it" is not storable


class _BigInput(BaseModel):
    n: int = 10
    size: int = 20_000


@registry.register("test_big_stream", _BigInput, "Test only: waits for 'go', writes n values of ~size bytes, closes.")
async def big_stream_workflow(params: dict[str, Any]) -> int:
    p = _BigInput.model_validate(params)
    await DBOS.set_event_async("status", "waiting")
    await DBOS.recv_async("go", timeout_seconds=120)
    for i in range(p.n):
        await DBOS.write_stream_async("big", {"i": i, "pad": "x" * p.size})
    await DBOS.close_stream_async("big")
    return p.n


def _eventually(check: Callable[[], bool], within: float, what: str) -> float:
    """Bounded wait for a server-side condition no request can wait on (hub state); the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        threading.Event().wait(0.01)  # poll pacing; the loop re-checks the condition
    return time.monotonic() - start


def _start(http: httpx.Client, type_name: str, wid: str, **inputs: Any) -> None:
    r = http.post("/v1/workflows", json={"type": type_name, "input": inputs, "workflow_id": wid})
    assert r.status_code == 201, r.text
    r = http.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 30})
    assert r.json()["value"] == "waiting", r.text


def _ws(server: LiveServer, wid: str, query: str = "") -> ClientConnection:
    return connect(server.url.replace("http", "ws") + f"/v1/workflows/{wid}/ws{query}", open_timeout=10)


def _recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return frame


def _hub(server: LiveServer) -> Hub:
    hub: Hub = server.app.state.hub
    return hub


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as s:
        yield s


def test_positions_beyond_storage_are_refused_on_every_edge_while_another_subscriber_keeps_receiving(
    server: LiveServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _start(http, "test_gated_stream", "sec-pos", n=20)
        base = "/v1/workflows/sec-pos"
        with connect_sse(http, "GET", f"{base}/streams/numbers/live") as good:
            frames = good.iter_sse()
            # HTTP query parameters and Last-Event-ID, on stream tails and event watches: 422 with the envelope.
            hostile = [
                http.get(f"{base}/events/live", params={"after_version": TOO_BIG}),
                http.get(f"{base}/events/live", params={"after_version": LAST}),
                http.get(f"{base}/events/status", params={"after_version": TOO_BIG, "timeout": 1}),
                http.get(f"{base}/streams/numbers/live", headers={"Last-Event-ID": TOO_BIG}),
                http.get(f"{base}/streams/numbers/live", headers={"Last-Event-ID": LAST}),
                http.get(f"{base}/events/live", headers={"Last-Event-ID": LAST}),
                http.get(f"{base}/events", headers={"Last-Event-ID": "9" * 400, "Accept": "text/event-stream"}),
                http.get(f"{base}/streams/numbers/live", params={"offset": TOO_BIG}),
            ]
            for r in hostile:
                assert r.status_code == 422, r.text
                assert r.json()["error"]["code"] == "validation_error"
            # WebSocket: an error frame each, and the socket stays usable.
            with _ws(server, "sec-pos") as ws:
                assert _recv(ws)["type"] == "hello"
                ws.send(json.dumps({"op": "subscribe_stream", "sub": "s", "key": "numbers", "offset": int(TOO_BIG)}))
                err = _recv(ws)
                assert err["type"] == "error" and err["error"]["code"] == "validation_error"
                ws.send(json.dumps({"op": "subscribe_events", "sub": "e", "after_version": int(LAST)}))
                assert _recv(ws)["error"]["code"] == "validation_error"
                # A far but storable position is accepted and simply waits; it must not hold anyone back.
                ws.send(json.dumps({"op": "subscribe_stream", "sub": "far", "key": "numbers", "offset": 2**62}))
                ws.send(json.dumps({"op": "ping", "req": "p"}))
                assert _recv(ws) == {"type": "pong", "req": "p"}
                http.post(f"{base}/messages", json={"topic": "go", "message": 1})
                values = []
                for sse in frames:
                    if sse.event == "value":
                        values.append(json.loads(sse.data)["i"])
                    elif sse.event == "end":
                        assert json.loads(sse.data)["reason"] == "closed"
                        break
                assert values == list(range(20))
                far_end = _recv(ws)
                assert far_end["type"] == "end" and far_end["sub"] == "far" and far_end["reason"] == "closed"
        # Blocking GETs answer at once, not at their timeout.
        started = time.monotonic()
        assert http.get(f"{base}/events/status", params={"timeout": 20, "after_version": 1}).status_code == 404
        assert time.monotonic() - started < 10


def test_subscription_caps_answer_429_per_workflow_and_connection_and_503_per_process(database_url: str) -> None:
    caps = {
        "max_subscriptions_per_workflow": 2,
        "max_subscriptions_per_process": 3,
        "max_subscriptions_per_connection": 2,
    }
    with live_server(database_url, **caps) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for wid in ("cap-a", "cap-b", "cap-c"):
            _start(http, "test_gated_stream", wid, n=1)
        a1 = connect_sse(http, "GET", "/v1/workflows/cap-a/streams/numbers/live")
        a2 = connect_sse(http, "GET", "/v1/workflows/cap-a/events/live")
        with a1 as s1, a2 as s2:
            assert s1.response.status_code == 200 and s2.response.status_code == 200
            r = http.get("/v1/workflows/cap-a/streams/numbers/live", headers={"Accept": "text/event-stream"})
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "too_many_subscriptions"
            assert r.json()["error"]["details"]["scope"] == "workflow"
            blocked = http.get("/v1/workflows/cap-a/events/never", params={"timeout": 5})  # a blocking GET counts
            assert blocked.status_code == 429
            with connect_sse(http, "GET", "/v1/workflows/cap-b/streams/numbers/live") as s3:
                assert s3.response.status_code == 200
                full = http.get("/v1/workflows/cap-c/streams/numbers/live", headers={"Accept": "text/event-stream"})
                assert full.status_code == 503
                assert full.json()["error"]["code"] == "subscription_capacity"
        _eventually(lambda: _hub(server).stats()["subscriptions"] == 0, 5, "slots released after the clients left")
        with _ws(server, "cap-c") as ws:
            assert _recv(ws)["type"] == "hello"
            for sub in ("s1", "s2", "s3"):
                ws.send(json.dumps({"op": "subscribe_stream", "sub": sub, "key": "numbers"}))
            err = _recv(ws)
            assert err["type"] == "error" and err["error"]["code"] == "too_many_subscriptions"
            assert err["error"]["details"]["scope"] == "connection"
            ws.send(json.dumps({"op": "ping", "req": "p"}))
            assert _recv(ws) == {"type": "pong", "req": "p"}


def _raw_get(server: LiveServer, path: str, headers: str = "") -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    return sock


def test_a_client_leaving_cancels_its_blocking_get_and_its_tail_within_a_second(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _start(http, "test_gated_stream", "sec-gone", n=1)
    hub = _hub(server)
    socks = [_raw_get(server, "/v1/workflows/sec-gone/events/never?timeout=120") for _ in range(20)]
    socks.append(_raw_get(server, "/v1/workflows/sec-gone/streams/numbers/live", "Accept: text/event-stream\r\n"))
    _eventually(lambda: hub.stats()["subscriptions"] == 21, 10, "21 subscriptions open")
    for sock in socks:
        sock.close()
    took = _eventually(lambda: hub.stats()["subscriptions"] == 0, 1.0, "every subscription cancelled")
    assert took <= 1.0


@pytest.fixture
async def small_hub_app(database_url: str) -> Any:
    app = create_app(
        make_settings(database_url, hub_buffer_bytes=64 * 1024, hub_buffer_size=1000, hub_linger_seconds=0.05)
    )
    async with app.router.lifespan_context(app):
        yield app


async def test_feed_buffers_stay_within_their_byte_budget_and_are_freed_after_subscribers_leave(
    small_hub_app: FastAPI,
) -> None:
    core: Core = small_hub_app.state.core
    hub: Hub = small_hub_app.state.hub
    await core.workflows.start("test_big_stream", {"n": 40, "size": 20_000}, "sec-bytes")
    await core.events.get("sec-bytes", "status", 30)
    stalled = await hub.tail_stream("sec-bytes", "big", 0)
    reader = await hub.tail_stream("sec-bytes", "big", 0)
    first = asyncio.ensure_future(stalled.__anext__())  # joins the live tail, then never reads again
    await core.messages.send("sec-bytes", 1, "go")
    assert isinstance(await first, Item)
    peak = 0
    got = []
    async for out in reader:
        peak = max(peak, hub.stats()["buffered_bytes"])
        if isinstance(out, End):
            assert out.reason == "closed"
            break
        got.append(out.position)
    assert got == list(range(40))  # 40 x 20 KB = 800 KB through a 64 KB buffer, to a reader that keeps up
    assert peak <= 64 * 1024 + 21_000  # the budget plus at most the newest value
    rest = [x async for x in stalled]
    assert isinstance(rest[-1], End) and rest[-1].reason == "overflow"
    feed = weakref.ref(next(iter(hub.feeds_of("sec-bytes"))))
    await stalled.aclose()
    await reader.aclose()
    del first, rest
    for _ in range(200):  # bounded: the linger is 50 ms
        if not hub.feeds_of("sec-bytes"):
            break
        await asyncio.sleep(0.01)
    assert hub.stats()["stream_feeds"] == 0 and hub.stats()["buffered_bytes"] == 0
    gc.collect()
    assert feed() is None, gc.get_referrers(feed())


def test_an_expired_read_token_ends_the_sse_tail_and_the_websocket_it_opened(database_url: str) -> None:
    admin = {"Authorization": "Bearer sec-admin-key"}
    with (
        live_server(database_url, api_keys=["sec-admin-key"], server_secret="sec-live-secret-0123456789") as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        r = http.post(
            "/v1/workflows",
            headers=admin,
            json={"type": "test_gated_stream", "input": {"n": 1}, "workflow_id": "sec-tok"},
        )
        assert r.status_code == 201
        token = http.post("/v1/workflows/sec-tok/read-token", headers=admin, json={"ttl_seconds": 1}).json()["token"]
        started = time.monotonic()
        with connect_sse(http, "GET", f"/v1/workflows/sec-tok/streams/numbers/live?access_token={token}") as source:
            assert source.response.status_code == 200
            events = [(s.event, s.data) for s in source.iter_sse()]
        assert time.monotonic() - started < 10
        assert events[-1][0] == "error"
        assert json.loads(events[-1][1])["error"]["code"] == "token_expired"
        token = http.post("/v1/workflows/sec-tok/read-token", headers=admin, json={"ttl_seconds": 1}).json()["token"]
        with _ws(server, "sec-tok", f"?access_token={token}") as ws:
            assert _recv(ws)["type"] == "hello"
            ws.send(json.dumps({"op": "subscribe_stream", "sub": "s", "key": "numbers"}))
            frame = _recv(ws)
            assert frame["type"] == "error" and frame["error"]["code"] == "token_expired"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        _eventually(lambda: _hub(server).stats()["subscriptions"] == 0, 5, "the expired connections' subscriptions")


@pytest.fixture
async def hub_app(database_url: str) -> Any:
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        yield app


async def _one_bad_feed_among_good(
    hub_app: FastAPI, caplog: pytest.LogCaptureFixture, bad_row: dict[str, Any], *, bad_retries: bool
) -> tuple[list[list[Any]], list[str]]:
    """Tail a workflow whose stream holds ``bad_row`` (3 subscribers) next to a healthy one; the good one must get
    everything and finish first. Returns the bad subscribers' items and the log lines naming the bad workflow."""
    core: Core = hub_app.state.core
    hub: Hub = hub_app.state.hub
    for wid in ("sec-bad", "sec-good"):
        await core.workflows.start("test_gated_stream", {"n": 30}, wid)
        await core.events.get(wid, "status", 30)
    db = store.sysdb()
    with db.engine.begin() as c:
        c.execute(db.tables.streams.insert().values(workflow_uuid="sec-bad", key="numbers", **bad_row))
    bad = [await hub.tail_stream("sec-bad", "numbers", 0) for _ in range(3)]
    good = await hub.tail_stream("sec-good", "numbers", 0)
    finished: dict[str, float] = {}

    async def consume(name: str, sub: Any) -> list[Any]:
        out = [x async for x in sub]
        finished[name] = time.monotonic()
        return out

    caplog.set_level("WARNING", logger="communication.core.live.hub")
    tasks = [asyncio.ensure_future(consume(f"bad{i}", s)) for i, s in enumerate(bad)]
    good_task = asyncio.ensure_future(consume("good", good))
    await core.messages.send("sec-good", 1, "go")
    got = await asyncio.wait_for(good_task, 30)
    assert [x.position for x in got if isinstance(x, Item)] == list(range(30))
    assert isinstance(got[-1], End) and got[-1].reason == "closed"
    ends = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    if bad_retries:  # the good feed is never held back by the one that keeps failing
        assert finished["good"] < min(finished[f"bad{i}"] for i in range(3))
    return ends, [r.getMessage() for r in caplog.records if "sec-bad" in r.getMessage()]


async def test_a_feed_that_cannot_read_ends_with_error_without_stalling_other_feeds_and_logs_once(
    hub_app: FastAPI, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("a row that fails every read needs SQLite's dynamic typing (a text offset)")
    # A row whose offset is not a number: every read of that feed fails (not a decoding problem), deterministically.
    ends, lines = await _one_bad_feed_among_good(
        hub_app,
        caplog,
        {"value": "1", "offset": "zz", "function_id": 0, "serialization": "portable_json"},
        bad_retries=True,
    )
    for items in ends:
        assert items == [End("error", 0, items[-1].workflow_status)]
    assert len(lines) == 2, lines  # one "failed", one "giving up": not one per retry
    assert "retrying" in lines[0] and "'error'" in lines[1]


async def test_an_undecodable_value_ends_its_feed_at_once_without_stalling_other_feeds(
    hub_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # A value in a serialization nobody here reads (another application's pickle, say): not transient, no retries.
    ends, lines = await _one_bad_feed_among_good(
        hub_app,
        caplog,
        {"value": "x", "offset": 0, "function_id": 0, "serialization": "nope"},
        bad_retries=False,
    )
    for items in ends:
        assert items == [End("value_not_decodable", 0, items[-1].workflow_status)]
    assert len(lines) == 1, lines


def test_repeated_identical_errors_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), interval=60, clock=lambda: now[0])
    caplog.set_level("WARNING", logger="test.ratelog")
    logged = [limited.warning("k", "boom %d", i) for i in range(100)]
    assert logged == [True] + [False] * 99
    now[0] = 61.0
    assert limited.warning("k", "boom again")
    assert limited.warning("other", "another problem")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["boom 0", "boom again (99 similar messages suppressed in the last 60 s)", "another problem"]
