"""Live delivery over real HTTP: SSE stream tails (resume, fan-out, terminal events) and event watches."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse, connect_sse

from tests.support.live_server import LiveServer, live_server


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as s:
        yield s


def _start(http: httpx.Client, type_name: str, wid: str, **inputs: Any) -> None:
    r = http.post("/v1/workflows", json={"type": type_name, "input": inputs, "workflow_id": wid})
    assert r.status_code == 201, r.text


def _wait_status(http: httpx.Client, wid: str, value: str) -> None:
    r = http.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 30})
    assert r.json()["value"] == value, r.text


def _tail(
    http: httpx.Client,
    path: str,
    *,
    stop_after: int | None = None,
    last_id: str | None = None,
) -> tuple[list[tuple[int, Any]], dict[str, Any] | None]:
    """Read an SSE tail; return [(id, value)] and the end event's data (None if cut by the caller)."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    values: list[tuple[int, Any]] = []
    with connect_sse(http, "GET", path, headers=headers, timeout=30) as source:
        assert source.response.status_code == 200
        for sse in source.iter_sse():
            if sse.event == "value":
                values.append((int(sse.id), json.loads(sse.data)))
                if stop_after is not None and len(values) >= stop_after:
                    return values, None
            elif sse.event == "end":
                end: dict[str, Any] = json.loads(sse.data)
                return values, end
    raise AssertionError("stream ended without an end event")


def test_tail_of_a_finished_stream_replays_everything_then_ends_closed(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        _start(http, "streaming", "lv-done", n_steps=3)
        assert http.get("/v1/workflows/lv-done/result", params={"timeout": 30}).json()["status"] == "SUCCESS"
        values, end = _tail(http, "/v1/workflows/lv-done/streams/progress_stream/live")
        assert [i for i, _ in values] == list(range(8))
        assert [v["type"] for _, v in values] == ["start"] + ["progress", "result"] * 3 + ["complete"]
        assert end == {"reason": "closed", "workflow_status": "SUCCESS", "next_offset": 8}
        # The snapshot URL serves the same tail when asked for text/event-stream.
        with connect_sse(http, "GET", "/v1/workflows/lv-done/streams/progress_stream?offset=6") as source:
            frames = [(s.event, s.id) for s in source.iter_sse()]
        assert frames == [("value", "6"), ("value", "7"), ("end", "7")]  # SSE keeps the last id
        metrics = http.get("/metrics").text
        assert 'comm_stream_values_delivered_total{transport="sse"}' in metrics
        assert 'comm_delivery_latency_seconds_count{transport="sse"}' in metrics
        assert 'comm_live_subscribers{kind="stream"}' in metrics


def test_disconnects_at_random_offsets_resume_without_gap_or_duplicate(server: LiveServer) -> None:
    rng = random.Random(1234)
    with httpx.Client(base_url=server.url) as http:
        _start(http, "test_gated_stream", "lv-resume", n=60)
        _wait_status(http, "lv-resume", "waiting")
        http.post("/v1/workflows/lv-resume/messages", json={"topic": "go", "message": 1})
        got: list[tuple[int, Any]] = []
        last_id: str | None = None
        reconnects = 0
        while True:
            cut = rng.randint(1, 12)
            values, end = _tail(http, "/v1/workflows/lv-resume/streams/numbers/live", stop_after=cut, last_id=last_id)
            got.extend(values)
            if values:
                last_id = str(values[-1][0])
            if end is not None:
                break
            reconnects += 1
        assert reconnects >= 4
        assert [i for i, _ in got] == list(range(60))
        assert [v["i"] for _, v in got] == list(range(60))


def test_offset_query_and_last_event_id_choose_the_start(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        _start(http, "test_gated_stream", "lv-offset", n=5)
        _wait_status(http, "lv-offset", "waiting")
        http.post("/v1/workflows/lv-offset/messages", json={"topic": "go", "message": 1})
        values, _ = _tail(http, "/v1/workflows/lv-offset/streams/numbers/live?offset=3")
        assert [i for i, _ in values] == [3, 4]
        values, _ = _tail(http, "/v1/workflows/lv-offset/streams/numbers/live?offset=0", last_id="1")
        assert [i for i, _ in values] == [2, 3, 4]
        bad = http.get("/v1/workflows/lv-offset/streams/numbers/live", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422
        assert http.get("/v1/workflows/ghost/streams/numbers/live").status_code == 404


async def test_many_concurrent_subscribers_each_receive_every_value_in_order(server: LiveServer) -> None:
    n_values, n_subscribers = 40, 50
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        r = await http.post(
            "/v1/workflows", json={"type": "test_gated_stream", "input": {"n": n_values}, "workflow_id": "lv-fan"}
        )
        assert r.status_code == 201
        connected = asyncio.Semaphore(0)

        async def subscribe() -> list[int]:
            seen: list[int] = []
            async with aconnect_sse(http, "GET", "/v1/workflows/lv-fan/streams/numbers/live") as source:
                connected.release()  # headers received: the subscription exists
                async for sse in source.aiter_sse():
                    if sse.event == "value":
                        seen.append(json.loads(sse.data)["i"])
                    elif sse.event == "end":
                        return seen
            raise AssertionError("no end event")

        tasks = [asyncio.create_task(subscribe()) for _ in range(n_subscribers)]
        for _ in range(n_subscribers):
            await connected.acquire()
        await http.post("/v1/workflows/lv-fan/messages", json={"topic": "go", "message": 1})
        results = await asyncio.gather(*tasks)
    assert all(seen == list(range(n_values)) for seen in results)


def test_terminal_event_when_the_workflow_is_cancelled(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        _start(http, "test_gated_stream", "lv-cancel", n=3, close=False)
        _wait_status(http, "lv-cancel", "waiting")
        http.post("/v1/workflows/lv-cancel/messages", json={"topic": "go", "message": 1})
        values, _ = _tail(http, "/v1/workflows/lv-cancel/streams/numbers/live", stop_after=3)
        assert [i for i, _ in values] == [0, 1, 2]
        assert http.post("/v1/workflows/lv-cancel/cancel").json()["status"] == "CANCELLED"
        values, end = _tail(http, "/v1/workflows/lv-cancel/streams/numbers/live", last_id="2")
        assert values == []
        assert end == {"reason": "workflow_finished", "workflow_status": "CANCELLED", "next_offset": 3}


def test_event_watch_sends_current_values_then_changes_then_end(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        _start(http, "messaging", "lv-events", n_steps=2)
        _wait_status(http, "lv-events", "waiting_for_approval")
        seen: list[dict[str, Any]] = []
        end: dict[str, Any] | None = None
        with connect_sse(http, "GET", "/v1/workflows/lv-events/events/live", timeout=30) as source:
            for sse in source.iter_sse():
                if sse.event == "event":
                    seen.append(json.loads(sse.data))
                    assert int(sse.id) == seen[-1]["version"]
                    if seen[-1] == {"key": "status", "value": "waiting_for_approval", "version": 1}:
                        http.post("/v1/workflows/lv-events/messages", json={"message": {"approved": True}})
                elif sse.event == "end":
                    end = json.loads(sse.data)
                    break
        assert end == {"reason": "workflow_finished", "workflow_status": "SUCCESS"}
        versions = [e["version"] for e in seen]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert [e["value"] for e in seen if e["key"] == "status"] == ["waiting_for_approval", "approved", "completed"]
        assert [e["value"] for e in seen if e["key"] == "progress"] == [50, 100]
        # Resume after a version: only newer values, also through Accept on the events URL.
        with connect_sse(
            http, "GET", "/v1/workflows/lv-events/events", headers={"Last-Event-ID": str(versions[-2])}, params={}
        ) as source:
            later = [json.loads(s.data) for s in source.iter_sse() if s.event == "event"]
        assert later == [seen[-1]]
        with connect_sse(http, "GET", "/v1/workflows/lv-events/events/live?keys=progress") as source:
            only = [json.loads(s.data)["key"] for s in source.iter_sse() if s.event == "event"]
        assert only == ["progress"]
