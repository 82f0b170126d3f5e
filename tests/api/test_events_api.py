"""Events: all, one key blocking with a bounded wait, versions, and the DBOS None/finished traps."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.support.inprocess import result, start, wait_event


def test_blocking_get_returns_the_value_once_set(client: TestClient) -> None:
    start(client, "messaging", "ev-block", n_steps=1)
    body = client.get("/v1/workflows/ev-block/events/status", params={"timeout": 30}).json()
    assert body == {"workflow_id": "ev-block", "key": "status", "value": "waiting_for_approval", "version": 1}


def test_all_events_have_values_and_versions(client: TestClient) -> None:
    start(client, "events", "ev-all", n_steps=2)
    result(client, "ev-all")
    body = client.get("/v1/workflows/ev-all/events").json()
    assert body["status"] == "SUCCESS"
    assert body["events"]["status"]["value"] == "completed"
    assert body["events"]["progress"]["value"] == 100
    assert body["events"]["result"]["value"]["total_steps"] == 2
    assert body["events"]["status"]["version"] > body["events"]["result"]["version"]


def test_finished_workflow_without_the_key_answers_at_once(client: TestClient) -> None:
    start(client, "events", "ev-done", n_steps=1)
    result(client, "ev-done")
    began = time.monotonic()
    r = client.get("/v1/workflows/ev-done/events/never_set", params={"timeout": 60})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "event_not_found"
    assert r.json()["error"]["details"]["reason"] == "workflow_finished"
    # Not a speed target: the old DBOS behaviour would take the full 60 s.
    assert time.monotonic() - began < 30


def test_unset_key_times_out_with_404(client: TestClient) -> None:
    start(client, "messaging", "ev-timeout", n_steps=1)
    wait_event(client, "ev-timeout", "status", "waiting_for_approval")
    r = client.get("/v1/workflows/ev-timeout/events/progress", params={"timeout": 0.2})
    assert r.status_code == 404
    assert r.json()["error"]["details"] == {
        "workflow_id": "ev-timeout",
        "key": "progress",
        "reason": "timeout",
        "workflow_status": "PENDING",
    }


def test_after_version_waits_for_a_newer_value(client: TestClient) -> None:
    start(client, "messaging", "ev-ver", n_steps=1)
    first = wait_event(client, "ev-ver", "status", "waiting_for_approval")
    client.post("/v1/workflows/ev-ver/messages", json={"message": {"approved": True}})
    newer = client.get(
        "/v1/workflows/ev-ver/events/status", params={"timeout": 30, "after_version": first["version"]}
    ).json()
    assert newer["version"] > first["version"]
    assert newer["value"] in ("approved", "completed")


def test_after_version_on_finished_workflow_answers_at_once(client: TestClient) -> None:
    start(client, "events", "ev-ver-done", n_steps=1)
    result(client, "ev-ver-done")
    last = client.get("/v1/workflows/ev-ver-done/events/status").json()
    r = client.get("/v1/workflows/ev-ver-done/events/status", params={"after_version": last["version"], "timeout": 60})
    assert r.status_code == 404 and r.json()["error"]["details"]["reason"] == "workflow_finished"


def test_an_event_set_to_null_is_a_value_not_a_timeout(client: TestClient) -> None:
    start(client, "test_none_event", "ev-null")
    r = client.get("/v1/workflows/ev-null/events/maybe", params={"timeout": 30})
    assert r.status_code == 200 and r.json()["value"] is None
    assert client.get("/v1/workflows/ev-null/events").json()["events"]["maybe"]["value"] is None
    client.post("/v1/workflows/ev-null/messages", json={"topic": "go", "message": 1})
    assert result(client, "ev-null")["output"] == "done"


def test_events_of_unknown_workflow_are_404(client: TestClient) -> None:
    assert client.get("/v1/workflows/ghost/events").status_code == 404
    r = client.get("/v1/workflows/ghost/events/status", params={"timeout": 5})
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"
