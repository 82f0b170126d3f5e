"""The lean SSE response: heartbeats on an idle tail, and a client's disconnect releases its hub subscription."""

from __future__ import annotations

import socket
import time

import httpx

from tests.support.live_server import live_server


def _raw_tail(url: str, path: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)  # bounded by the socket timeout
        assert chunk, f"connection closed before {marker!r}: {data!r}"
        data += chunk
    return data


def test_an_idle_tail_gets_heartbeat_comments_and_a_disconnect_frees_its_subscription(database_url: str) -> None:
    with (
        live_server(database_url, sse_heartbeat_seconds=0.2) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        body = {"type": "messaging", "workflow_id": "hb-1", "input": {"n_steps": 1, "timeout_seconds": 60}}
        assert http.post("/v1/workflows", json=body).status_code == 201
        sock = _raw_tail(server.url, "/v1/workflows/hb-1/streams/nothing/live")
        head = _read_until(sock, b": connected")
        assert b"text/event-stream" in head
        assert b": ping - " in _read_until(sock, b": ping - ")  # nothing written: heartbeats keep it alive
        hub = server.app.state.hub
        assert hub.stats()["subscribers"] == 1
        sock.close()
        deadline = time.monotonic() + 10  # the server notices the disconnect and releases the hub cursor
        while hub.stats()["subscribers"] != 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait
        assert hub.stats()["subscribers"] == 0
