"""End to end over real HTTP against ``python server.py``: the seed's "Terminal 2: run comprehensive tests".

    python test_communication.py                         # launches a server per test (own database), runs all
    python test_communication.py http://localhost:8000   # runs all against that running server
    python test_communication.py http://localhost:8000 -k seed -x   # extra arguments go to pytest

Under plain ``pytest`` it launches its servers (or uses ``$COMM_E2E_URL`` when set). Workflow ids get a fresh suffix
per run, so the suite can run repeatedly against one long-lived server. Covers every seed endpoint (the seed's own
curls, now with asserted results) and the v1 API.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.databases import database_url, migrated_template
from tests.support.server_proc import ServerProcess

__all__ = ["database_url", "migrated_template"]  # fixtures: this file also runs outside tests/

#: The running server to test instead of launching one (set by ``python test_communication.py URL``).
URL_ENV = "COMM_E2E_URL"


@pytest.fixture
def http(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client of the server under test: the one at ``$COMM_E2E_URL``, else a fresh ``python server.py``."""
    url = os.environ.get(URL_ENV)
    if url:
        with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
            yield client
        return
    database_url = request.getfixturevalue("database_url")
    tmp_path = request.getfixturevalue("tmp_path")
    env = {"COMM_DEMO_STEP_DELAY_SECONDS": "0.02"}
    with (
        ServerProcess(database_url, log_dir=tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client


@pytest.fixture
def u() -> str:
    """A suffix that makes this run's workflow ids new on a long-lived server."""
    return uuid.uuid4().hex[:8]


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_seed_events_workflow(http: httpx.Client, u: str) -> None:
    body = _ok(http.post(f"/start-workflow-events/wf-events-1-{u}/3"))
    assert body["workflow_id"] == f"wf-events-1-{u}" and "message" in body
    result = _ok(http.get(f"/workflow-events/wf-events-1-{u}/result", params={"timeout": 10}))
    assert result["event_key"] == "result" and result["workflow_id"] == f"wf-events-1-{u}"
    assert result["value"] == {
        "total_steps": 3,
        "total_fibonacci": 4,
        "results": [{"n": 1, "fibonacci": 1}, {"n": 2, "fibonacci": 1}, {"n": 3, "fibonacci": 2}],
    }
    assert _ok(http.get(f"/workflow-events/wf-events-1-{u}/progress"))["value"] == 100
    assert _ok(http.get(f"/v1/workflows/wf-events-1-{u}/result", params={"timeout": 10}))["status"] == "SUCCESS"
    assert _ok(http.get(f"/workflow-events/wf-events-1-{u}/status"))["value"] == "completed"
    events = _ok(http.get(f"/workflow-events/wf-events-1-{u}/all"))
    assert events["workflow_id"] == f"wf-events-1-{u}"
    assert set(events["events"]) == {"status", "progress", "result"}
    again = _ok(http.post(f"/start-workflow-events/wf-events-1-{u}/3"))  # same id: nothing runs twice
    assert again["created"] is False


def test_seed_event_get_is_404_when_not_set_by_the_timeout(http: httpx.Client, u: str) -> None:
    _ok(http.post(f"/start-workflow-messaging/wf-msg-404-{u}/1"))
    r = http.get(f"/workflow-events/wf-msg-404-{u}/progress", params={"timeout": 0.3})
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_not_found"


def test_seed_messaging_workflow_approved_and_rejected(http: httpx.Client, u: str) -> None:
    _ok(http.post(f"/start-workflow-messaging/wf-msg-1-{u}/3"))
    assert (
        _ok(http.get(f"/workflow-events/wf-msg-1-{u}/status", params={"timeout": 10}))["value"]
        == "waiting_for_approval"
    )
    payload = {"approved": True, "message": "Approved by admin"}
    sent = _ok(http.post(f"/send-message/wf-msg-1-{u}", json=payload))
    assert sent == {
        "workflow_id": f"wf-msg-1-{u}",
        "message": "Message sent",
        "payload": payload,
        "outcome": "delivered",
    }
    done = _ok(http.get(f"/v1/workflows/wf-msg-1-{u}/result", params={"timeout": 30}))
    assert done["output"]["status"] == "completed" and len(done["output"]["results"]) == 3

    _ok(http.post(f"/start-workflow-messaging/wf-msg-2-{u}/3"))
    _ok(http.post(f"/send-message/wf-msg-2-{u}", json={"approved": False, "message": "Rejected"}))
    done = _ok(http.get(f"/v1/workflows/wf-msg-2-{u}/result", params={"timeout": 30}))
    assert done["output"] == {"status": "cancelled", "reason": "Rejected"}
    assert http.post("/send-message/ghost", json={}).status_code == 404


def test_seed_streaming_workflow_read_without_blocking(http: httpx.Client, u: str) -> None:
    _ok(http.post(f"/start-workflow-streaming/wf-stream-1-{u}/5"))
    early = _ok(http.get(f"/workflow-stream/wf-stream-1-{u}"))
    assert early["workflow_id"] == f"wf-stream-1-{u}" and early["total_messages"] == len(early["stream_values"]) <= 12
    _ok(http.get(f"/v1/workflows/wf-stream-1-{u}/result", params={"timeout": 30}))
    full = _ok(http.get(f"/workflow-stream/wf-stream-1-{u}"))
    assert full["total_messages"] == 12 and full["closed"] is True
    assert [v["type"] for v in full["stream_values"]] == ["start"] + ["progress", "result"] * 5 + ["complete"]
    assert full["stream_values"][: len(early["stream_values"])] == early["stream_values"]


def test_health_endpoints(http: httpx.Client) -> None:
    assert _ok(http.get("/health"))["status"] == "ok"
    assert _ok(http.get("/healthz"))["status"] == "ok"
    assert _ok(http.get("/readyz"))["status"] == "ready"
    assert http.get("/docs").status_code == 200
    assert "/v1/workflows" in _ok(http.get("/openapi.json"))["paths"]


def test_v1_workflow_lifecycle(http: httpx.Client, u: str) -> None:
    created = _ok(
        http.post("/v1/workflows", json={"type": "messaging", "input": {"n_steps": 2}, "workflow_id": f"v1-a-{u}"}), 201
    )
    assert created["status"] in ("PENDING", "ENQUEUED")
    _ok(http.post("/v1/workflows", json={"type": "messaging", "input": {}, "workflow_id": f"v1-a-{u}"}), 200)
    first = _ok(http.get(f"/v1/workflows/v1-a-{u}/events/status", params={"timeout": 10}))
    assert first["value"] == "waiting_for_approval"
    assert _ok(http.get(f"/v1/workflows/v1-a-{u}/result", params={"timeout": 0}), 202)["done"] is False
    _ok(http.post(f"/v1/workflows/v1-a-{u}/cancel"))
    _ok(http.post(f"/v1/workflows/v1-a-{u}/resume"))
    sent = _ok(
        http.post(
            f"/v1/workflows/v1-a-{u}/messages",
            json={"message": {"approved": True, "message": "ok"}},
            headers={"Idempotency-Key": "approve-1"},
        ),
        202,
    )
    assert sent["outcome"] == "delivered"
    dup = _ok(
        http.post(
            f"/v1/workflows/v1-a-{u}/messages",
            json={"message": {"approved": False}},
            headers={"Idempotency-Key": "approve-1"},
        ),
        202,
    )
    assert dup["outcome"] == "duplicate"
    newer = _ok(http.get(f"/v1/workflows/v1-a-{u}/events/status", params={"after_version": first["version"]}))
    assert newer["version"] > first["version"]
    result = _ok(http.get(f"/v1/workflows/v1-a-{u}/result", params={"timeout": 30}))
    assert result["output"]["approval_message"] == "ok"
    listed = _ok(http.get("/v1/workflows", params={"type": "messaging", "status": "SUCCESS"}))
    assert f"v1-a-{u}" in [w["workflow_id"] for w in listed["workflows"]]
    steps = _ok(http.get(f"/v1/workflows/v1-a-{u}/steps"))["steps"]
    fork = _ok(http.post(f"/v1/workflows/v1-a-{u}/fork", json={"start_step": len(steps)}), 201)
    assert _ok(http.get(f"/v1/workflows/{fork['workflow_id']}/result", params={"timeout": 30}))["status"] == "SUCCESS"


def test_v1_streams_and_events(http: httpx.Client, u: str) -> None:
    _ok(
        http.post("/v1/workflows", json={"type": "streaming", "input": {"n_steps": 2}, "workflow_id": f"v1-s-{u}"}), 201
    )
    _ok(http.get(f"/v1/workflows/v1-s-{u}/result", params={"timeout": 30}))
    assert _ok(http.get(f"/v1/workflows/v1-s-{u}/streams"))["streams"] == [
        {"key": "progress_stream", "length": 6, "closed": True}
    ]
    page = _ok(http.get(f"/v1/workflows/v1-s-{u}/streams/progress_stream", params={"offset": 1, "limit": 2}))
    assert [v["offset"] for v in page["values"]] == [1, 2] and page["next_offset"] == 3 and page["closed"] is False
    events = _ok(http.get(f"/v1/workflows/v1-s-{u}/events"))
    assert events["events"]["status"]["value"] == "completed"
    types = {t["type"] for t in _ok(http.get("/v1/workflow-types"))}
    assert {"events", "messaging", "streaming", "session"} <= types


def test_errors_use_one_envelope_over_http(http: httpx.Client) -> None:
    cases = [
        (http.get("/v1/workflows/ghost"), 404, "workflow_not_found"),
        (http.get("/v1/workflows/bad%20id"), 422, "validation_error"),
        (http.post("/v1/workflows", json={"type": "nope"}), 422, "unknown_workflow_type"),
        (http.post("/v1/workflows", content=b"{", headers={"content-type": "application/json"}), 400, "malformed_json"),
        (
            http.post("/v1/workflows", content=b"x" * 2_000_000, headers={"content-type": "application/json"}),
            413,
            "payload_too_large",
        ),
        (http.get("/nowhere"), 404, "route_not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


def main(argv: list[str]) -> int:
    """``python test_communication.py [BASE_URL] [pytest args...]``: run this suite; returns pytest's exit status."""
    args = list(argv)
    if args and args[0].startswith(("http://", "https://")):
        os.environ[URL_ENV] = args.pop(0)
    # Eight quick tests: starting parallel workers (the project's default -n) would take longer than running them.
    serial = ["-n", "0"] if importlib.util.find_spec("xdist") else []
    return int(pytest.main([__file__, "-p", "no:cacheprovider", *serial, *args]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
