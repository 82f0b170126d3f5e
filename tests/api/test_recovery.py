"""Durability: a workflow interrupted by a server shutdown is recovered by the next launch on the same database."""

from __future__ import annotations

from tests.support.inprocess import app_client, result, start, wait_event


def test_pending_workflow_recovers_after_restart_and_keeps_its_messages(database_url: str) -> None:
    with app_client(database_url) as first:
        start(first, "messaging", "rec-1", n_steps=2)
        wait_event(first, "rec-1", "status", "waiting_for_approval")
        sent = first.post(
            "/v1/workflows/rec-1/messages",
            json={"topic": "other-topic", "message": "kept", "idempotency_key": "k-rec"},
        )
        assert sent.json()["outcome"] == "delivered"
    # DBOS destroyed mid-wait; a new launch on the same database recovers the workflow.
    with app_client(database_url) as second:
        assert second.get("/v1/workflows/rec-1").json()["status"] in ("PENDING", "ENQUEUED")
        again = second.post(
            "/v1/workflows/rec-1/messages",
            json={"topic": "other-topic", "message": "kept", "idempotency_key": "k-rec"},
        )
        assert again.json()["outcome"] == "duplicate"  # the idempotency record is durable
        second.post("/v1/workflows/rec-1/messages", json={"message": {"approved": True, "message": "after restart"}})
        body = result(second, "rec-1")
        assert body["status"] == "SUCCESS"
        assert body["output"]["approval_message"] == "after restart"
        assert len(body["output"]["results"]) == 2
