"""Durable sessions: ordered, idempotent posts; late and resumed subscribers get everything; done/idle close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.live_server import LiveServer, live_server


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, session_idle_timeout_seconds=60) as s:
        yield s


def _sse(
    http: httpx.Client,
    path: str,
    last_id: str | None = None,
    stop_after: int | None = None,
) -> list[tuple[str, str, Any]]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    out: list[tuple[str, str, Any]] = []
    with connect_sse(http, "GET", path, headers=headers, timeout=30) as source:
        assert source.response.status_code == 200, source.response.read()
        for s in source.iter_sse():
            out.append((s.event, s.id, json.loads(s.data)))
            if stop_after is not None and len(out) >= stop_after:
                break
    return out


def test_posts_are_acknowledged_once_and_read_in_order_by_a_late_subscriber(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        for i in range(5):
            r = http.post("/v1/sessions/job-1/events", json={"type": "progress", "data": {"i": i}, "id": f"e{i}"})
            assert r.status_code == 202 and r.json()["outcome"] == "delivered"
        again = http.post("/v1/sessions/job-1/events", json={"type": "progress", "data": {"i": 0}, "id": "e0"})
        assert again.json()["outcome"] == "duplicate"
        http.post("/v1/sessions/job-1/events", json={"type": "done", "id": "end"})
        frames = _sse(http, "/v1/sessions/job-1/live")
        values = [(int(i), v["type"], v["data"]) for e, i, v in frames if e == "value"]
        assert values == [(i, "progress", {"i": i}) for i in range(5)] + [(5, "done", None)]
        assert frames[-1][0] == "end" and frames[-1][2]["reason"] == "closed"
        snap = http.get("/v1/sessions/job-1/events", params={"offset": 4}).json()
        assert [v["value"]["type"] for v in snap["values"]] == ["progress", "done"] and snap["closed"] is True
        closed = http.post("/v1/sessions/job-1/events", json={"type": "progress"})
        assert closed.status_code == 409 and closed.json()["error"]["code"] == "session_closed"
        # The seed path serves each v1 post as the body it was (what `wfc session post` sends).
        seed = [v for _, _, v in _sse(http, "/stream/job-1")]
        assert seed == [{"type": "progress", "data": {"i": i}, "id": f"e{i}"} for i in range(5)] + [
            {"type": "done", "id": "end"}
        ]


def test_seed_paths_serve_the_posted_payloads_unnamed_and_resume_after_disconnect(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        http.post("/events/job-2", json={"type": "thinking", "content": "Reading the files"})
        http.post("/events/job-2", json={"status": "plain payload"})  # no type: stored as type "message"
        first = _sse(http, "/stream/job-2", stop_after=2)
        # Unnamed frames (EventSource.onmessage gets them), data = exactly the posted JSON, id = durable offset.
        assert first == [
            ("message", "0", {"type": "thinking", "content": "Reading the files"}),
            ("message", "1", {"status": "plain payload"}),
        ]
        http.post("/events/job-2", json={"type": "progress", "data": {"step": 2}}, headers={"Idempotency-Key": "p2"})
        again = http.post(
            "/events/job-2", json={"type": "progress", "data": {"step": 2}}, headers={"Idempotency-Key": "p2"}
        )
        assert again.json()["outcome"] == "duplicate"
        http.post("/events/job-2", json={"type": "done", "data": {"ok": True}})
        rest = _sse(http, "/stream/job-2", last_id="1")  # ends by itself after the done frame
        assert rest == [
            ("message", "2", {"type": "progress", "data": {"step": 2}}),
            ("message", "3", {"type": "done", "data": {"ok": True}}),
        ]
        named = _sse(http, "/stream/job-2?named=1")
        assert [(e, i) for e, i, _ in named] == [("thinking", "0"), ("message", "1"), ("progress", "2"), ("done", "3")]
        v1 = http.get("/v1/sessions/job-2/events").json()["values"]
        assert [v["value"]["type"] for v in v1] == ["thinking", "message", "progress", "done"]
        assert v1[0]["value"]["data"] == {"type": "thinking", "content": "Reading the files"}


def test_concurrent_posts_get_consecutive_offsets_and_duplicates_store_nothing(server: LiveServer) -> None:
    async def post_all() -> list[str]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await http.post("/events/burst", json={"type": "start"})
            rs = await asyncio.gather(
                *(http.post("/events/burst", json={"type": "tick", "n": i % 20, "id": f"t{i % 20}"}) for i in range(40))
            )
            return [r.json()["outcome"] for r in rs]

    outcomes = asyncio.run(post_all())
    assert sorted(outcomes) == ["delivered"] * 20 + ["duplicate"] * 20
    with httpx.Client(base_url=server.url) as http:
        http.post("/events/burst", json={"type": "done"})
        frames = _sse(http, "/stream/burst")
    assert [int(i) for _, i, _ in frames] == list(range(22))
    assert sorted(v["n"] for _, _, v in frames[1:-1]) == list(range(20))


def test_unknown_session_snapshot_is_404(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        r = http.get("/v1/sessions/nobody/events")
        assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
        assert http.post("/v1/sessions/bad%20id/events", json={}).status_code == 422


def test_idle_session_closes_with_a_timeout_event(database_url: str) -> None:
    with (
        live_server(database_url, session_idle_timeout_seconds=0.3) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        http.post("/v1/sessions/idle/events", json={"type": "progress", "data": 1})
        frames = _sse(http, "/stream/idle")
        assert [v["type"] for _, _, v in frames] == ["progress", "timeout"]
        assert frames[-1][2]["data"]["reason"] == "idle"
        closed = http.post("/v1/sessions/idle/events", json={"type": "progress"})
        assert closed.status_code == 409 and closed.json()["error"]["code"] == "session_closed"


def test_a_server_restart_loses_no_session_event(database_url: str) -> None:
    with live_server(database_url) as first, httpx.Client(base_url=first.url) as http:
        for i in range(3):
            assert http.post("/v1/sessions/durable/events", json={"data": i, "id": f"d{i}"}).status_code == 202
        assert [e for e, _, _ in _sse(http, "/v1/sessions/durable/live", stop_after=3)] == ["value"] * 3
    with live_server(database_url) as second, httpx.Client(base_url=second.url) as http:
        assert http.post("/v1/sessions/durable/events", json={"data": 2, "id": "d2"}).json()["outcome"] == "duplicate"
        http.post("/v1/sessions/durable/events", json={"type": "done"})
        values = [v["data"] for e, _, v in _sse(http, "/v1/sessions/durable/live") if e == "value"]
        assert values == [0, 1, 2, None]
