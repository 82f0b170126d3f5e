"""Session guards: posts write only into session workflows, the ``session:`` namespace is reserved for them,
session ids fit a workflow id, the server's own event ids are reserved, and each event is stored once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dbos import DBOS, SetWorkflowID
from httpx_sse import connect_sse

from communication.core.registry import registry
from tests.support.live_server import LiveServer, live_server


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, session_idle_timeout_seconds=60) as s:
        yield s


def _seed_frames(http: httpx.Client, session_id: str) -> list[Any]:
    out: list[Any] = []
    with connect_sse(http, "GET", f"/stream/{session_id}", timeout=30) as source:
        assert source.response.status_code == 200
        for s in source.iter_sse():
            if s.data:
                out.append(json.loads(s.data))
    return [v for v in out if not (isinstance(v, dict) and v.get("type") == "connected" and len(v) == 1)]


def test_a_non_session_workflow_in_the_session_namespace_is_refused_at_start(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # The probe's shape: a counter started with the id of a session.
        r = http.post("/v1/workflows", json={"type": "counter", "input": {}, "workflow_id": "session:probe"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "validation_error" and error["details"]["field"] == "workflow_id"
        assert error["details"]["reason"] == "reserved_namespace"
        # Variant: a seed start path.
        seed = http.post("/start-workflow-events/session:probe2/2")
        assert seed.status_code == 422 and seed.json()["error"]["details"]["reason"] == "reserved_namespace"
        assert http.get("/v1/workflows/session:probe").status_code == 404


def test_session_posts_never_write_into_another_type_of_workflow(server: LiveServer) -> None:
    # A counter that already holds a session's id (started before the namespace was reserved, or by another
    # application sharing the database).
    counter = registry.get("counter").function
    with SetWorkflowID("session:legacy"):
        DBOS.start_workflow(counter, {"idle_timeout_seconds": 60})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        v1 = http.post("/v1/sessions/legacy/events", json={"type": "done", "data": 1})
        assert v1.status_code == 409 and v1.json()["error"]["code"] == "not_a_session", v1.text
        seed = http.post("/events/legacy", json={"type": "message", "data": "x"})  # variant: the seed path
        assert seed.status_code == 409 and seed.json()["error"]["code"] == "not_a_session"
        streams = http.get("/v1/workflows/session:legacy/streams").json()["streams"]
        assert [s["key"] for s in streams if s["key"] == "events"] == []
        assert http.get("/v1/workflows/session:legacy").json()["status"] == "PENDING"  # not closed by "done"
        tail = http.get("/v1/sessions/legacy/live", timeout=10)  # a tail does not adopt it as a session either
        assert tail.status_code == 409, tail.text
        http.post("/v1/workflows/session:legacy/cancel")


@pytest.mark.backend_independent
def test_session_ids_are_short_enough_to_be_workflow_ids(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        longest = "s" * 120
        ok = http.post(f"/v1/sessions/{longest}/events", json={"type": "message", "data": 1})
        assert ok.status_code == 202, ok.text
        assert http.get(f"/v1/sessions/{longest}/events").json()["values"][0]["value"]["data"] == 1
        for length in (121, 128):  # the probe's range: valid keys, too long once prefixed with "session:"
            r = http.post(f"/v1/sessions/{'s' * length}/events", json={"type": "message"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
        seed = http.post(f"/events/{'s' * 125}", json={"type": "message"})
        assert seed.status_code == 422
        tail = http.get(f"/v1/sessions/{'s' * 121}/events")
        assert tail.status_code == 422


@pytest.mark.backend_independent
def test_the_server_s_own_event_ids_are_reserved(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        body = {"type": "timeout", "id": "session-idle-timeout"}
        r = http.post("/v1/sessions/res-1/events", json=body)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "id", r.text
        header = http.post(
            "/v1/sessions/res-1/events", json={"type": "message"}, headers={"Idempotency-Key": "session-idle-timeout"}
        )
        assert header.status_code == 422
        assert http.post("/events/res-1", json={"id": "session-idle-timeout", "x": 1}).status_code == 422
        assert http.post("/v1/sessions/res-1/events", json={"type": "message", "id": "mine"}).status_code == 202


def test_each_event_is_stored_once_and_served_back_as_posted(server: LiveServer) -> None:
    big = "y" * 200_000
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/v1/sessions/once/events", json={"type": "big", "data": big, "id": "b"}).status_code == 202
        assert http.post("/events/once", json={"content": big, "type": "thinking"}).status_code == 202
        assert http.post("/events/once", json={"z": 1, "data": {"k": "v"}, "event": "e", "id": "d"}).status_code == 202
        assert http.post("/events/once", json=["a", "list"]).status_code == 202
        assert http.post("/v1/sessions/once/events", json={"type": "done"}).status_code == 202
        values = [v["value"] for v in http.get("/v1/sessions/once/events").json()["values"]]
        # What v1 readers read is unchanged: type, data, id, timestamp.
        assert values[0]["data"] == big and values[1]["data"] == {"content": big, "type": "thinking"}
        for value in values:
            assert "payload" not in value
            assert len(json.dumps(value)) < len(json.dumps(value["data"])) + 400  # the data once, not twice
        frames = _seed_frames(http, "once")
    assert frames == [
        {"type": "big", "data": big, "id": "b"},
        {"content": big, "type": "thinking"},
        {"z": 1, "data": {"k": "v"}, "event": "e", "id": "d"},
        ["a", "list"],
        {"type": "done"},
    ]
    assert list(frames[2]) == ["z", "data", "event", "id"]  # member order as posted
