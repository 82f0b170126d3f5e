"""The v1 WebSocket: subscriptions to streams, events and status; sends with idempotency; errors and close codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.live_server import LiveServer, live_server


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as s:
        yield s


def _ws(server: LiveServer, wid: str) -> ClientConnection:
    return connect(server.url.replace("http", "ws") + f"/v1/workflows/{wid}/ws", open_timeout=10)


def _recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return frame


def test_subscriptions_and_an_idempotent_send_over_one_socket(server: LiveServer) -> None:
    httpx.post(
        f"{server.url}/v1/workflows", json={"type": "test_gated_stream", "input": {"n": 5}, "workflow_id": "ws-1"}
    )
    with _ws(server, "ws-1") as ws:
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"op": "subscribe_events", "sub": "ev", "keys": ["status"]}))
        assert _recv(ws) == {"type": "event", "sub": "ev", "key": "status", "value": "waiting", "version": 1}
        ws.send(json.dumps({"op": "subscribe_stream", "sub": "nums", "key": "numbers", "offset": 2}))
        ws.send(json.dumps({"op": "subscribe_status", "sub": "st"}))
        for _ in range(2):
            ws.send(json.dumps({"op": "send", "req": "go", "topic": "go", "message": 1, "idempotency_key": "g"}))
        # Subscriptions are independent: wait for both the stream's end and the final status, in any order.
        frames: list[dict[str, Any]] = []
        while not (
            any(f["type"] == "end" and f["sub"] == "nums" for f in frames)
            and any(f["type"] == "status" and f["status"] == "SUCCESS" for f in frames)
        ):
            frames.append(_recv(ws))
        results = [f["outcome"] for f in frames if f["type"] == "send_result"]
        assert results == ["delivered", "duplicate"]
        values = [(f["offset"], f["value"]["i"]) for f in frames if f["type"] == "value"]
        assert values == [(2, 2), (3, 3), (4, 4)]
        ends = [f for f in frames if f["type"] == "end" and f["sub"] == "nums"]
        assert ends == [
            {
                "type": "end",
                "sub": "nums",
                "reason": "closed",
                "workflow_status": ends[0]["workflow_status"],
                "next_offset": 5,
            }
        ]
        assert next(f["status"] for f in frames if f["type"] == "status") == "PENDING"


def test_bad_frames_get_error_frames_and_the_socket_stays_open(server: LiveServer) -> None:
    httpx.post(f"{server.url}/v1/workflows", json={"type": "test_gated_stream", "input": {}, "workflow_id": "ws-2"})
    with _ws(server, "ws-2") as ws:
        _recv(ws)
        ws.send("not json")
        assert _recv(ws)["error"]["code"] == "malformed_json"
        ws.send(json.dumps({"op": "subscribe_stream", "sub": "x", "key": "bad key"}))
        assert _recv(ws)["error"]["code"] == "validation_error"
        ws.send(json.dumps({"op": "fly"}))
        assert _recv(ws)["type"] == "error"
        ws.send(json.dumps({"op": "ping", "req": "p"}))
        assert _recv(ws) == {"type": "pong", "req": "p"}


def test_unknown_workflow_closes_with_4404(server: LiveServer) -> None:
    with _ws(server, "ghost") as ws:
        assert _recv(ws)["error"]["code"] == "workflow_not_found"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


def test_api_key_or_read_token_is_required_when_keys_are_configured(database_url: str) -> None:
    auth = {"Authorization": "Bearer secret-key-1"}
    with live_server(database_url, api_keys=["secret-key-1"]) as server:
        base = server.url.replace("http", "ws") + "/v1/workflows/ws-auth/ws"
        r = httpx.post(
            f"{server.url}/v1/workflows",
            headers=auth,
            json={"type": "test_gated_stream", "input": {}, "workflow_id": "ws-auth"},
        )
        assert r.status_code == 201
        ghost = server.url.replace("http", "ws") + "/v1/workflows/ghost/ws"
        for url in (base, base + "?access_token=forged", ghost):
            with connect(url, open_timeout=10) as ws:
                assert _recv(ws)["type"] == "error"
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401  # even for "ghost"
        token = httpx.post(f"{server.url}/v1/workflows/ws-auth/read-token", headers=auth).json()["token"]
        with connect(f"{base}?access_token={token}", open_timeout=10) as ws:
            assert _recv(ws)["type"] == "hello"
            ws.send(json.dumps({"op": "subscribe_events", "sub": "e"}))
            assert _recv(ws)["type"] == "event"
            ws.send(json.dumps({"op": "send", "req": "s", "topic": "go", "message": 1}))
            assert _recv(ws)["error"]["code"] == "unauthorized"
        with connect(base, additional_headers=auth, open_timeout=10) as ws:
            _recv(ws)
            ws.send(json.dumps({"op": "send", "req": "s", "topic": "go", "message": 1}))
            assert _recv(ws)["outcome"] == "delivered"
