"""Messages: delivered vs duplicate, exactly-once under concurrency, unknown and finished workflows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.support.inprocess import result, start, wait_event


def test_keyed_send_is_delivered_once_then_reported_duplicate(client: TestClient) -> None:
    start(client, "messaging", "msg-dup", n_steps=1)
    body = {"message": {"approved": True, "message": "first"}, "idempotency_key": "k-1"}
    first = client.post("/v1/workflows/msg-dup/messages", json=body)
    assert first.status_code == 202 and first.json()["outcome"] == "delivered"
    again = client.post("/v1/workflows/msg-dup/messages", json=body)
    assert again.json()["outcome"] == "duplicate"
    header = client.post(
        "/v1/workflows/msg-dup/messages", json={"message": {"approved": False}}, headers={"Idempotency-Key": "k-1"}
    )
    assert header.json()["outcome"] == "duplicate"
    assert result(client, "msg-dup")["output"]["approval_message"] == "first"


def test_concurrent_sends_with_one_key_deliver_exactly_once(client: TestClient) -> None:
    start(client, "test_none_event", "msg-race")

    def send(_: int) -> str:
        r = client.post(
            "/v1/workflows/msg-race/messages", json={"topic": "other", "message": 1, "idempotency_key": "same"}
        )
        assert r.status_code == 202, r.text
        outcome: str = r.json()["outcome"]
        return outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(send, range(16)))
    assert outcomes.count("delivered") == 1 and outcomes.count("duplicate") == 15


def test_unkeyed_sends_are_each_delivered(client: TestClient) -> None:
    start(client, "test_none_event", "msg-many")
    for _ in range(3):
        r = client.post("/v1/workflows/msg-many/messages", json={"topic": "x", "message": "m"})
        assert r.json()["outcome"] == "delivered" and r.json()["idempotency_key"] is None


def test_send_to_unknown_workflow_is_404(client: TestClient) -> None:
    r = client.post("/v1/workflows/ghost/messages", json={"message": 1})
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_send_to_finished_workflow_is_409_not_a_silent_drop(client: TestClient) -> None:
    start(client, "events", "msg-done", n_steps=1)
    result(client, "msg-done")
    r = client.post("/v1/workflows/msg-done/messages", json={"message": 1})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "workflow_finished"
    assert r.json()["error"]["details"]["workflow_status"] == "SUCCESS"


def test_retry_of_an_acknowledged_send_after_the_workflow_finished_is_a_duplicate(client: TestClient) -> None:
    start(client, "messaging", "msg-retry", n_steps=1)
    body = {"message": {"approved": True}, "idempotency_key": "once"}
    assert client.post("/v1/workflows/msg-retry/messages", json=body).json()["outcome"] == "delivered"
    assert result(client, "msg-retry")["status"] == "SUCCESS"
    again = client.post("/v1/workflows/msg-retry/messages", json=body)
    assert again.status_code == 202 and again.json()["outcome"] == "duplicate"
    fresh = client.post("/v1/workflows/msg-retry/messages", json={"message": 1, "idempotency_key": "new"})
    assert fresh.status_code == 409 and fresh.json()["error"]["code"] == "workflow_finished"


def test_rejection_cancels_the_approval(client: TestClient) -> None:
    start(client, "messaging", "msg-reject", n_steps=1)
    wait_event(client, "msg-reject", "status", "waiting_for_approval")
    client.post("/v1/workflows/msg-reject/messages", json={"message": {"approved": False, "message": "no budget"}})
    assert result(client, "msg-reject")["output"] == {"status": "cancelled", "reason": "no budget"}


def test_approval_timeout_cancels(client: TestClient) -> None:
    start(client, "messaging", "msg-to", n_steps=1, timeout_seconds=0.2)
    out = result(client, "msg-to")["output"]
    assert out["status"] == "cancelled" and "no approval" in out["reason"]


def test_bad_topic_key_and_mismatched_keys_are_422(client: TestClient) -> None:
    start(client, "test_none_event", "msg-bad")
    r = client.post("/v1/workflows/msg-bad/messages", json={"topic": "has space", "message": 1})
    assert r.status_code == 422
    r = client.post(
        "/v1/workflows/msg-bad/messages", json={"message": 1, "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.post("/v1/workflows/msg-bad/messages", json={"topic": "t"})
    assert r.status_code == 422  # message is required
