"""The v1 workflow resource: start (idempotent), list, status, result, cancel, resume, fork, steps."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.inprocess import result, start, wait_event


def test_start_returns_201_then_200_for_the_same_id_and_runs_once(client: TestClient) -> None:
    first = start(client, "events", "wf-idem", n_steps=2)
    assert first["workflow_id"] == "wf-idem" and first["type"] == "events"
    again = client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 2}, "workflow_id": "wf-idem"})
    assert again.status_code == 200
    assert again.json()["workflow_id"] == "wf-idem"
    assert result(client, "wf-idem")["output"]["total_steps"] == 2
    steps = client.get("/v1/workflows/wf-idem/steps").json()["steps"]
    assert [s["name"] for s in steps].count("compute_fibonacci") == 2  # ran exactly once


def test_a_start_echoes_its_input_and_a_repeat_after_the_end_carries_the_output(client: TestClient) -> None:
    first = client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 1}, "workflow_id": "wf-echo"})
    assert first.status_code == 201
    status = client.get("/v1/workflows/wf-echo").json()
    assert first.json()["input"] == status["input"] is not None
    done = result(client, "wf-echo")
    again = client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 1}, "workflow_id": "wf-echo"})
    assert again.status_code == 200
    assert again.json()["status"] == "SUCCESS"
    assert again.json()["output"] == done["output"] is not None
    assert again.json()["input"] == status["input"]


def test_start_without_id_generates_one(client: TestClient) -> None:
    r = client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 1}})
    assert r.status_code == 201
    wid = r.json()["workflow_id"]
    assert r.headers["location"] == f"/v1/workflows/{wid}"
    assert result(client, wid)["status"] == "SUCCESS"


def test_same_id_with_another_type_is_a_conflict(client: TestClient) -> None:
    start(client, "events", "wf-conf", n_steps=1)
    r = client.post("/v1/workflows", json={"type": "streaming", "input": {}, "workflow_id": "wf-conf"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "workflow_id_conflict"


def test_unknown_type_and_invalid_input_are_422_with_codes(client: TestClient) -> None:
    r = client.post("/v1/workflows", json={"type": "nope", "input": {}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_workflow_type"
    assert "events" in r.json()["error"]["details"]["known"]
    r = client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 0}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert client.get("/v1/workflows/nope").json()["error"]["code"] == "workflow_not_found"


def test_status_shows_input_and_output(client: TestClient) -> None:
    start(client, "events", "wf-status", n_steps=3)
    result(client, "wf-status")
    body = client.get("/v1/workflows/wf-status").json()
    assert body["status"] == "SUCCESS"
    assert body["input"] == {"n_steps": 3, "step_delay_seconds": 0.0}
    assert body["output"]["total_fibonacci"] == 4


def test_result_is_202_while_running_then_200(client: TestClient) -> None:
    start(client, "messaging", "wf-res", n_steps=1)
    wait_event(client, "wf-res", "status", "waiting_for_approval")
    r = client.get("/v1/workflows/wf-res/result", params={"timeout": 0})
    assert r.status_code == 202 and r.json()["done"] is False and r.json()["status"] == "PENDING"
    client.post("/v1/workflows/wf-res/messages", json={"message": {"approved": True}})
    assert result(client, "wf-res")["output"]["status"] == "completed"


def test_failed_workflow_result_reports_the_error(client: TestClient) -> None:
    start(client, "test_fail", "wf-fail")
    body = result(client, "wf-fail")
    assert body["status"] == "ERROR" and body["done"] is True
    assert "boom" in body["error"]


def test_list_filters_by_status_and_type(client: TestClient) -> None:
    start(client, "events", "wf-l1", n_steps=1)
    start(client, "messaging", "wf-l2", n_steps=1)
    result(client, "wf-l1")
    wait_event(client, "wf-l2", "status", "waiting_for_approval")

    def ids(**params: str | int) -> list[str]:
        return [w["workflow_id"] for w in client.get("/v1/workflows", params=params).json()["workflows"]]

    assert set(ids()) >= {"wf-l1", "wf-l2"}
    assert ids(type="messaging") == ["wf-l2"]
    assert ids(status="SUCCESS") == ["wf-l1"]
    assert ids(status="PENDING", type="events") == []
    assert len(ids(limit=1)) == 1
    assert ids(created_after="2100-01-01T00:00:00Z") == []
    r = client.get("/v1/workflows", params={"status": "BOGUS"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_cancel_then_resume_continues_the_workflow(client: TestClient) -> None:
    start(client, "messaging", "wf-cr", n_steps=2)
    wait_event(client, "wf-cr", "status", "waiting_for_approval")
    assert client.post("/v1/workflows/wf-cr/cancel").json()["status"] == "CANCELLED"
    assert result(client, "wf-cr")["status"] == "CANCELLED"
    r = client.post("/v1/workflows/wf-cr/messages", json={"message": {"approved": True}})
    assert r.status_code == 409 and r.json()["error"]["code"] == "workflow_finished"
    assert client.post("/v1/workflows/wf-cr/resume").status_code == 200
    r = client.post("/v1/workflows/wf-cr/messages", json={"message": {"approved": True, "message": "late"}})
    assert r.status_code == 202
    body = result(client, "wf-cr")
    assert body["status"] == "SUCCESS" and body["output"]["approval_message"] == "late"


def test_fork_from_a_step_creates_a_new_workflow_with_the_same_result(client: TestClient) -> None:
    start(client, "events", "wf-fork", n_steps=3)
    original = result(client, "wf-fork")["output"]
    r = client.post("/v1/workflows/wf-fork/fork", json={"start_step": 3})
    assert r.status_code == 201
    new_id = r.json()["workflow_id"]
    assert new_id != "wf-fork" and r.json()["forked_from"] == "wf-fork"
    assert result(client, new_id)["output"] == original
    assert client.get(f"/v1/workflows/{new_id}").json()["forked_from"] == "wf-fork"


def test_steps_have_names_and_timing(client: TestClient) -> None:
    start(client, "events", "wf-steps", n_steps=1)
    result(client, "wf-steps")
    steps = client.get("/v1/workflows/wf-steps/steps").json()["steps"]
    assert steps[0]["step_id"] == 1 and steps[0]["name"] == "DBOS.setEvent"
    fib = next(s for s in steps if s["name"] == "compute_fibonacci")
    assert fib["output"] == 1 and fib["duration_ms"] is not None and fib["duration_ms"] >= 0


def test_workflow_types_list_input_schemas(client: TestClient) -> None:
    types = {t["type"]: t for t in client.get("/v1/workflow-types").json()}
    assert {"events", "messaging", "streaming"} <= set(types)
    assert "n_steps" in types["streaming"]["input_schema"]["properties"]
