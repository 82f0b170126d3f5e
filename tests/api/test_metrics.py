"""``GET /metrics``: the documented metric names, and the counters the core updates.

The metric objects are process-wide (one registry per process, see communication/metrics.py), so each test
compares values before and after its own actions.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from communication.core.ops import metrics
from communication.core.ops.metrics import REGISTRY
from tests.support.inprocess import result, start, wait_event

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_endpoint_exposes_every_documented_metric(client: TestClient) -> None:
    metrics.LIVE_SUBSCRIBERS.labels(kind="stream")  # labelled series appear once touched
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(r.text)}
    assert {
        "comm_workflows_started",
        "comm_workflows_finished",
        "comm_messages_sent",
        "comm_live_subscribers",
        "comm_stream_values_delivered",
        "comm_delivery_latency_seconds",
        "comm_webhook_rejections",
        "process_cpu_seconds",
    } <= families
    for obj in (
        metrics.WORKFLOWS_STARTED,
        metrics.WORKFLOWS_FINISHED,
        metrics.MESSAGES_SENT,
        metrics.LIVE_SUBSCRIBERS,
        metrics.STREAM_VALUES_DELIVERED,
        metrics.DELIVERY_LATENCY,
        metrics.WEBHOOK_REJECTIONS,
    ):
        assert obj._labelnames  # every metric is labelled as documented


def test_started_and_finished_workflows_are_counted_once(client: TestClient) -> None:
    started = value("comm_workflows_started_total", type="events")
    finished = value("comm_workflows_finished_total", type="events", status="SUCCESS")
    start(client, "events", "m-ok", n_steps=1)
    client.post("/v1/workflows", json={"type": "events", "input": {"n_steps": 1}, "workflow_id": "m-ok"})  # repeat
    result(client, "m-ok")
    result(client, "m-ok")  # reading twice does not count twice
    assert value("comm_workflows_started_total", type="events") == started + 1
    assert value("comm_workflows_finished_total", type="events", status="SUCCESS") == finished + 1


def test_failed_workflows_are_counted_as_errors(client: TestClient) -> None:
    failed = value("comm_workflows_finished_total", type="test_fail", status="ERROR")
    start(client, "test_fail", "m-fail")
    assert result(client, "m-fail")["status"] == "ERROR"
    assert value("comm_workflows_finished_total", type="test_fail", status="ERROR") == failed + 1


def test_messages_are_counted_by_outcome(client: TestClient) -> None:
    delivered = value("comm_messages_sent_total", outcome="delivered")
    duplicate = value("comm_messages_sent_total", outcome="duplicate")
    start(client, "messaging", "m-msg", n_steps=1)
    wait_event(client, "m-msg", "status", "waiting_for_approval")
    body = {"message": {"approved": True}, "idempotency_key": "m-k"}
    assert client.post("/v1/workflows/m-msg/messages", json=body).json()["outcome"] == "delivered"
    assert client.post("/v1/workflows/m-msg/messages", json=body).json()["outcome"] == "duplicate"
    assert value("comm_messages_sent_total", outcome="delivered") == delivered + 1
    assert value("comm_messages_sent_total", outcome="duplicate") == duplicate + 1
    result(client, "m-msg")


def test_metrics_text_shows_counted_values(client: TestClient) -> None:
    start(client, "events", "m-text", n_steps=1)
    result(client, "m-text")
    text = client.get("/metrics").text
    assert 'comm_workflows_started_total{type="events"}' in text
    assert 'comm_workflows_finished_total{status="SUCCESS",type="events"}' in text


def test_cancel_is_counted_once_where_it_is_requested(client: TestClient) -> None:
    cancelled = value("comm_workflows_finished_total", type="messaging", status="CANCELLED")
    start(client, "messaging", "m-cancel", n_steps=1)
    wait_event(client, "m-cancel", "status", "waiting_for_approval")
    assert client.post("/v1/workflows/m-cancel/cancel").json()["status"] == "CANCELLED"
    assert client.post("/v1/workflows/m-cancel/cancel").json()["status"] == "CANCELLED"  # no-op, not counted
    assert value("comm_workflows_finished_total", type="messaging", status="CANCELLED") == cancelled + 1
