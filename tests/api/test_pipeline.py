"""The ``pipeline`` workflow: retries, timeouts, partial failure, approval, published artifact, progress stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.support.inprocess import app_client, result, start, wait_event

FAST = {"retry_interval_seconds": 0.01, "backoff_rate": 1.0}


def stream_values(client: TestClient, workflow_id: str) -> tuple[list[dict[str, Any]], bool]:
    """Every value of ``progress_stream`` (the workflow has finished, so this is complete) and its closed flag."""
    body = client.get(f"/v1/workflows/{workflow_id}/streams/progress_stream", params={"limit": 1000}).json()
    assert [v["offset"] for v in body["values"]] == list(range(len(body["values"])))
    return [v["value"] for v in body["values"]], body["closed"]


def test_all_sources_collected_and_published_with_progress_stream(client: TestClient) -> None:
    start(client, "pipeline", "pl-ok", **FAST)
    body = result(client, "pl-ok")
    out = body["output"]
    assert body["status"] == "SUCCESS"
    assert (out["success"], out["published"], out["item_count"], out["errors"]) == (True, True, 9, [])
    assert out["artifact"]["path"] is None and out["artifact"]["item_count"] == 9
    values, closed = stream_values(client, "pl-ok")
    assert closed
    assert [v["type"] for v in values] == [
        "start",
        "config_loaded",
        "source_collected",
        "source_collected",
        "source_collected",
        "published",
        "complete",
    ]
    assert values[-1]["success"] is True
    artifact = client.get("/v1/workflows/pl-ok/events/artifact", params={"timeout": 0}).json()
    assert artifact["value"]["sha256"] == out["artifact"]["sha256"]
    assert client.get("/v1/workflows/pl-ok/events/status", params={"timeout": 0}).json()["value"] == "completed"


def test_flaky_source_retries_and_a_failing_source_does_not_fail_the_run(client: TestClient) -> None:
    sources = [
        {"name": "flaky", "items": 2, "fail_times": 2},
        {"name": "down", "always_fail": True},
        {"name": "steady", "items": 1},
    ]
    start(client, "pipeline", "pl-partial", sources=sources, max_attempts=3, **FAST)
    out = result(client, "pl-partial")["output"]
    assert out["success"] is True and out["published"] is True
    assert out["item_count"] == 3
    assert [e["source"] for e in out["errors"]] == ["down"]
    assert "exceeded its maximum of 3 retries" in out["errors"][0]["error"]
    values, _ = stream_values(client, "pl-partial")
    collected = {v["source"]: v for v in values if v["type"] == "source_collected"}
    assert collected["flaky"]["attempts"] == 3 and collected["steady"]["attempts"] == 1
    assert [v["source"] for v in values if v["type"] == "source_failed"] == ["down"]
    listed = client.get("/v1/workflows/pl-partial/steps")
    assert listed.status_code == 200, listed.text
    steps = [s["name"] for s in listed.json()["steps"]]
    assert steps.count("collect:flaky") == 1  # retries happen inside one recorded step


def test_slow_source_times_out(client: TestClient) -> None:
    sources = [{"name": "slow", "delay_seconds": 30}, {"name": "fast", "items": 2}]
    start(client, "pipeline", "pl-timeout", sources=sources, source_timeout_seconds=0.2, max_attempts=1, **FAST)
    out = result(client, "pl-timeout")["output"]
    assert out["item_count"] == 2 and out["published"] is True
    assert out["errors"][0]["source"] == "slow" and "timeout" in out["errors"][0]["error"].lower()


def test_all_sources_failing_publishes_nothing(client: TestClient) -> None:
    sources = [{"name": "a", "always_fail": True}, {"name": "b", "always_fail": True}]
    body = result(client, start(client, "pipeline", "pl-none", sources=sources, max_attempts=1)["workflow_id"])
    out = body["output"]
    assert body["status"] == "SUCCESS"  # the run itself completed; its result says what happened
    assert (out["success"], out["published"], out["item_count"]) == (False, False, 0)
    assert "nothing to publish" in out["message"] and len(out["errors"]) == 2
    values, closed = stream_values(client, "pl-none")
    assert closed and values[-1]["type"] == "complete" and values[-1]["success"] is False


def test_approval_gate_rejection_and_approval(client: TestClient) -> None:
    for wid, decision, published in (("pl-no", False, False), ("pl-yes", True, True)):
        start(client, "pipeline", wid, require_approval=True, **FAST)
        wait_event(client, wid, "status", "waiting_for_approval")
        sent = client.post(f"/v1/workflows/{wid}/messages", json={"message": {"approved": decision, "message": "ok?"}})
        assert sent.json()["outcome"] == "delivered"
        out = result(client, wid)["output"]
        assert out["published"] is published and out["approval"] == {"approved": decision, "message": "ok?"}
        types = [v["type"] for v in stream_values(client, wid)[0]]
        assert "awaiting_approval" in types and ("approved" if decision else "rejected") in types


def test_artifact_is_written_to_the_configured_directory(database_url: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    with app_client(database_url, pipeline_artifact_dir=artifacts) as client:
        start(client, "pipeline", "pl-file", name="nightly", sources=[{"name": "only", "items": 4}])
        out = result(client, "pl-file")["output"]
    path = Path(out["artifact"]["path"])
    assert path == artifacts / "nightly-pl-file.json"
    document = json.loads(path.read_text())
    assert document["item_count"] == 4 and document["workflow_id"] == "pl-file" and document["pipeline"] == "nightly"
    assert not list(artifacts.glob("*.tmp"))


def test_invalid_pipeline_input_is_rejected(client: TestClient) -> None:
    dup = [{"name": "x"}, {"name": "x"}]
    r = client.post("/v1/workflows", json={"type": "pipeline", "input": {"sources": dup}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.post("/v1/workflows", json={"type": "pipeline", "input": {"sources": []}})
    assert r.status_code == 422
