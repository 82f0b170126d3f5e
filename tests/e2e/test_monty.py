"""The Monty Python seed demo over real HTTP: SSE frames, state, stop, the GET form, resume with Last-Event-ID.

Synchronisation is on frames and results only. Tests that need the workflow to hold still use 60 s sleeps and
stop it: the stop interrupts the sleep, so nothing waits for it to pass.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from communication.compat.models import DEFAULT_MAX_ITERATIONS, MontyInput
from tests.support.live_server import LiveServer, live_server

LONG = {"min_sleep": 60, "max_sleep": 60}  # the workflow sleeps until stopped
SHORT = {"min_sleep": 0.01, "max_sleep": 0.02}


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as s:
        yield s


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _data(sse: ServerSentEvent) -> dict[str, Any]:
    assert sse.event == "message", "seed frames are unnamed so EventSource.onmessage receives them"
    frame: dict[str, Any] = json.loads(sse.data)
    return frame


def _read_until(events: Iterator[ServerSentEvent], done: Any) -> list[tuple[str, dict[str, Any]]]:
    """Frames as (id, data) from one connection's ``iter_sse()`` until ``done(data)`` is true (inclusive)."""
    frames: list[tuple[str, dict[str, Any]]] = []
    for sse in events:
        frames.append((sse.id, _data(sse)))
        if done(frames[-1][1]):
            return frames
    raise AssertionError(f"stream ended early after {frames}")


def _is_final(frame: dict[str, Any]) -> bool:
    return frame["event"] in ("workflow_completed", "workflow_failed")


def test_post_streams_started_then_progress_in_order_then_completed_after_stop(http: httpx.Client) -> None:
    body = {**SHORT, "workflow_id": "monty-post"}
    with connect_sse(http, "POST", "/monty/stream", json=body) as source:
        events = source.iter_sse()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        head = _read_until(events, lambda f: f.get("quotes_delivered", 0) >= 3)
        assert http.post("/workflow/monty-post/signal/stop").status_code == 202
        tail = _read_until(events, _is_final)
    frames = head + tail
    started = frames[0][1]
    assert started["event"] == "workflow_started" and started["workflow_id"] == "monty-post" and started["created"]
    assert "timestamp" in started
    assert all(f["event"] == "progress_update" for _, f in frames[1:-1])
    # Frames computed while the stream is quiet (0.5 s without a change, e.g. on a loaded machine) repeat the last
    # state's version and never carry a quote; the state changes are the frames with a new version.
    progress: list[tuple[int, dict[str, Any]]] = []
    for i, f in frames[1:-1]:
        if f["version"] is None or (progress and f["version"] == progress[-1][1]["version"]):
            assert f["current_quote"] is None
            continue
        progress.append((int(i), f))
    assert progress
    versions = [v for v, _ in progress]
    assert versions == sorted(set(versions)), "ids are strictly increasing event versions"
    for _, f in progress:
        assert set(f) >= {
            "progress",
            "status",
            "elapsed",
            "iteration",
            "quotes_delivered",
            "current_quote",
            "timestamp",
        }
    assert [f["quotes_delivered"] for _, f in progress] == sorted(f["quotes_delivered"] for _, f in progress)
    sleeping = [f for _, f in progress if f["status"].endswith("_seconds")]
    assert all(
        f["status"].startswith(f"iteration_{f['iteration']}_sleeping_for_") and f["progress"] == 0 for f in sleeping
    )
    assert progress[-1][1]["status"] == "stopped"

    completed = frames[-1][1]
    assert completed["event"] == "workflow_completed"
    result = completed["result"]
    assert result["final_status"] == "gracefully_terminated" and result["reason"] == "stopped"
    assert result["quotes_delivered"] == len(result["quotes"]) >= 3
    assert result["iterations"] == progress[-1][1]["iteration"]
    assert result["elapsed"] >= 0 and result["total_runtime"] == result["elapsed"]
    # Every delivery frame names the quote the result lists at that position.
    for _, f in progress:
        if f["status"].startswith("delivered_quote_"):
            assert f["progress"] == 100
            assert f["current_quote"] == result["quotes"][f["quotes_delivered"] - 1]


def test_stop_interrupts_a_long_sleep_and_state_is_readable_throughout(http: httpx.Client) -> None:
    with connect_sse(http, "POST", "/monty/stream", json={**LONG, "workflow_id": "monty-long"}) as source:
        events = source.iter_sse()
        _read_until(events, lambda f: f.get("status") == "iteration_1_sleeping_for_60_seconds")
        state = http.get("/workflow/monty-long/state").json()
        assert state["workflow_status"] == "PENDING" and state["status"] == "iteration_1_sleeping_for_60_seconds"
        assert (state["iteration"], state["quotes_delivered"], state["current_quote"]) == (1, 0, None)
        assert state["sleep_seconds"] == 60 and state["sleep_until"] is not None and not state["stopped"]
        assert state["result"] is None and state["elapsed"] >= 0

        stop = http.post("/workflow/monty-long/signal/stop")
        assert stop.status_code == 202
        assert stop.json() == {
            "status": "signal sent",
            "workflow_id": "monty-long",
            "signal": "stop",
            "outcome": "delivered",
        }
        frames = _read_until(events, _is_final)
    result = frames[-1][1]["result"]
    assert (result["iterations"], result["quotes_delivered"], result["quotes"]) == (1, 0, [])
    assert result["elapsed"] < 60, "the stop ended the sleep early"

    final = http.get("/workflow/monty-long/state").json()
    assert final["workflow_status"] == "SUCCESS" and final["status"] == "stopped" and final["stopped"]
    assert final["result"] == result and final["elapsed"] == result["elapsed"]
    # A retried stop keeps its answer after the workflow has finished (the send is idempotent) ...
    again = http.post("/workflow/monty-long/signal/stop")
    assert again.status_code == 202 and again.json()["outcome"] == "duplicate"


def test_stop_and_state_errors(http: httpx.Client) -> None:
    assert http.post("/workflow/ghost/signal/stop").json()["error"]["code"] == "workflow_not_found"
    assert http.get("/workflow/ghost/state").status_code == 404
    r = http.post("/v1/workflows", json={"type": "counter", "input": {}, "workflow_id": "not-monty"})
    assert r.status_code == 201
    wrong = http.get("/workflow/not-monty/state")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "workflow_id_conflict"
    assert http.post("/monty/stream", json={"workflow_id": "not-monty"}).status_code == 409
    assert http.post("/monty/stream", json={"min_sleep": 0}).status_code == 422, "a zero sleep would be a hot loop"
    assert http.post("/monty/stream", json={"min_sleep": 9, "max_sleep": 2}).status_code == 422
    assert http.post("/monty/stream", json={"surprise": 1}).status_code == 422
    # A second stop before the workflow has finished is acknowledged as a duplicate, not queued again.
    with connect_sse(http, "POST", "/monty/stream", json={**LONG, "workflow_id": "monty-dup"}) as source:
        events = source.iter_sse()
        _read_until(events, lambda f: f.get("iteration") == 1)
        outcomes = [http.post("/workflow/monty-dup/signal/stop").json()["outcome"] for _ in range(2)]
        _read_until(events, _is_final)
    assert outcomes == ["delivered", "duplicate"]


def test_cancelling_the_workflow_ends_the_stream_with_workflow_failed(http: httpx.Client) -> None:
    with connect_sse(http, "POST", "/monty/stream", json={**LONG, "workflow_id": "monty-cancel"}) as source:
        events = source.iter_sse()
        _read_until(events, lambda f: f.get("iteration") == 1)
        assert http.post("/v1/workflows/monty-cancel/cancel").json()["status"] == "CANCELLED"
        final = _read_until(events, _is_final)[-1][1]
    assert final["event"] == "workflow_failed" and final["status"] == "CANCELLED"


def test_get_form_works_for_event_source_and_resumes_after_last_event_id(http: httpx.Client) -> None:
    params = {**LONG, "workflow_id": "monty-get"}
    with connect_sse(http, "GET", "/monty/stream", params=params) as source:
        events = source.iter_sse()
        first = _read_until(events, lambda f: f.get("iteration") == 1)
    assert first[0][1]["event"] == "workflow_started"
    last_id = first[-1][0]
    # Dropped here. The workflow moves on while nobody listens ...
    assert http.post("/workflow/monty-get/signal/stop").status_code == 202
    # ... and the reconnect (same URL, Last-Event-ID as a browser sends it) continues after the last id.
    with connect_sse(http, "GET", "/monty/stream", params=params, headers={"Last-Event-ID": last_id}) as source:
        events = source.iter_sse()
        resumed = _read_until(events, _is_final)
    # The resumed tail continues after the last id: no second start, state changes only after it (a loaded machine
    # may show one more state of iteration 1, or frames computed while quiet), then the stopped state, then the end.
    events_seen = [f["event"] for _, f in resumed]
    assert "workflow_started" not in events_seen, "no second start"
    assert events_seen[-2:] == ["progress_update", "workflow_completed"]
    assert all(int(i) >= int(last_id) for i, _ in resumed if i), "nothing from before the last id is replayed"
    stopped = resumed[-2]
    assert stopped[1]["status"] == "stopped" and int(stopped[0]) > int(last_id)
    resumed = [stopped, resumed[-1]]
    # Resuming after the final state only repeats the terminal frame (the client should close on it).
    with connect_sse(http, "GET", "/monty/stream", params=params, headers={"Last-Event-ID": resumed[0][0]}) as source:
        again = [_data(s)["event"] for s in source.iter_sse()]
    assert again == ["workflow_completed"]
    # Without Last-Event-ID an existing id is attached to (not restarted): current state, then the end.
    with connect_sse(http, "GET", "/monty/stream", params=params) as source:
        attached = [_data(s) for s in source.iter_sse()]
    assert [f["event"] for f in attached] == ["workflow_started", "progress_update", "workflow_completed"]
    assert attached[0]["created"] is False


def test_resume_needs_a_known_workflow_id(http: httpx.Client) -> None:
    blind = http.get("/monty/stream", headers={"Last-Event-ID": "3"})
    assert blind.status_code == 422 and blind.json()["error"]["details"]["field"] == "workflow_id"
    ghost = http.get("/monty/stream", params={"workflow_id": "ghost"}, headers={"Last-Event-ID": "3"})
    assert ghost.status_code == 404
    assert http.get("/monty/stream", params={"min_sleep": "x"}).status_code == 422


def test_a_replay_repeats_the_recorded_random_choices(http: httpx.Client) -> None:
    body = {**SHORT, "max_iterations": 3, "workflow_id": "monty-replay"}
    with connect_sse(http, "POST", "/monty/stream", json=body) as source:
        events = source.iter_sse()
        original = _read_until(events, _is_final)[-1][1]["result"]
    assert original["reason"] == "max_iterations" and original["final_status"] == "completed"
    # A workflow that finished by itself (never stopped) cannot receive a stop.
    late = http.post("/workflow/monty-replay/signal/stop")
    assert late.status_code == 409 and late.json()["error"]["code"] == "workflow_finished"
    assert len(original["quotes"]) == 3
    # Fork from the final clock step: every earlier step (sleep draws, quote draws) is replayed from the record.
    steps = http.get("/v1/workflows/monty-replay/steps").json()["steps"]
    last_clock = max(s["step_id"] for s in steps if s["name"] == "monty_clock")
    fork = http.post("/v1/workflows/monty-replay/fork", json={"start_step": last_clock})
    assert fork.status_code == 201, fork.text
    replay = http.get(f"/v1/workflows/{fork.json()['workflow_id']}/result", params={"timeout": 30}).json()
    assert replay["status"] == "SUCCESS"
    assert replay["output"]["quotes"] == original["quotes"]
    assert replay["output"]["iterations"] == 3


def test_quiet_stream_sends_computed_progress_every_half_second_and_quotes_only_on_delivery(
    http: httpx.Client,
) -> None:
    body = {"min_sleep": 2, "max_sleep": 2, "max_iterations": 1, "workflow_id": "monty-ticks"}
    arrivals: list[tuple[float, str, dict[str, Any]]] = []
    with connect_sse(http, "POST", "/monty/stream", json=body) as source:
        for sse in source.iter_sse():
            arrivals.append((time.monotonic(), sse.id, _data(sse)))
            if _is_final(arrivals[-1][2]):
                break
    frames = [f for _, _, f in arrivals]
    sleeping = [
        (at, sid, f)
        for at, sid, f in arrivals
        if f["event"] == "progress_update" and f["status"] == "iteration_1_sleeping_for_2_seconds"
    ]
    # The first sleeping frame is the state change (progress 0); the rest are computed while the workflow sleeps.
    assert sleeping[0][2]["progress"] == 0
    ticks = [(at, f) for at, _, f in sleeping[1:]]
    assert all(f["version"] == sleeping[0][2]["version"] for _, f in ticks), "ticks read no new state"
    assert len(ticks) >= 3, "a 2 s sleep gets a computed frame every 0.5 s"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sleeping)]
    assert max(gaps) < 1.0, f"no silent gap while sleeping: {gaps}"
    progress = [f["progress"] for _, f in ticks]
    elapsed = [f["elapsed"] for _, f in ticks]
    assert progress == sorted(progress) and progress[-1] > progress[0] and 0 < progress[-1] <= 99
    assert elapsed == sorted(elapsed) and elapsed[-1] > elapsed[0]
    quotes = [f["current_quote"] for f in frames if f.get("current_quote")]
    assert len(quotes) == 1, "a quote appears on its delivery frame only, never repeated"
    delivery = next(f for f in frames if f.get("current_quote"))
    assert delivery["status"] == "delivered_quote_1"
    assert frames[-1]["result"]["quotes"] == quotes and frames[-1]["result"]["reason"] == "max_iterations"


@pytest.mark.backend_independent  # the seed demo's own bound: 100 iterations, HTTP-level
def test_unstopped_monty_workflow_ends_by_itself_after_the_default_bound(http: httpx.Client) -> None:
    with connect_sse(http, "POST", "/monty/stream", json={**SHORT, "workflow_id": "monty-bounded"}) as source:
        frames = _read_until(source.iter_sse(), _is_final)
    result = frames[-1][1]["result"]
    assert frames[-1][1]["event"] == "workflow_completed"
    assert result["reason"] == "max_iterations" and result["iterations"] == DEFAULT_MAX_ITERATIONS
    assert MontyInput.model_validate({"max_iterations": None}).max_iterations == DEFAULT_MAX_ITERATIONS
