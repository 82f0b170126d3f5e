"""Input hardening: identifier patterns, body size (declared and chunked), malformed and deep JSON, clamps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from communication.app.factory import create_app
from tests.support.inprocess import app_client, make_settings, start, wait_event

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


def test_invalid_ids_and_keys_are_422(client: TestClient) -> None:
    for path in (
        "/v1/workflows/has%20space",
        "/v1/workflows/-leading-dash",
        "/v1/workflows/" + "x" * 129,
        "/v1/workflows/ok/events/bad%20key",
        "/workflow-events/bad$id/all",
    ):
        r = client.get(path)
        assert r.status_code == 422, path
        assert r.json()["error"]["code"] == "validation_error"
    r = client.post("/v1/workflows", json={"type": "events", "workflow_id": "bad id"})
    assert r.status_code == 422


def test_unknown_route_and_method_use_the_envelope(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found"
    r = client.delete("/v1/workflows")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/v1/workflows", content=b'{"type": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"


def test_too_deep_json_is_400_and_nothing_is_started(client: TestClient) -> None:
    deep = "[" * 100 + "]" * 100
    body = '{"type": "events", "workflow_id": "deep", "input": {"x": ' + deep + "}}"
    r = client.post("/v1/workflows", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert client.get("/v1/workflows/deep").status_code == 404


def test_oversize_body_is_413_declared_or_chunked(database_url: str) -> None:
    with app_client(database_url, max_body_bytes=2048) as client:
        start(client, "test_none_event", "big")
        big = {"topic": "x", "message": "y" * 5000}
        r = client.post("/v1/workflows/big/messages", json=big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"topic": "x", "message": "'
            for _ in range(10):
                yield b"z" * 500
            yield b'"}'

        r = client.post("/v1/workflows/big/messages", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        # Nothing was delivered by the rejected sends: a keyed send now is the first delivery.
        ok = client.post("/v1/workflows/big/messages", json={"topic": "x", "message": 1, "idempotency_key": "k"})
        assert ok.json()["outcome"] == "delivered"


def test_timeouts_are_clamped_to_the_configured_maximum(database_url: str) -> None:
    with app_client(database_url, max_wait_seconds=1.0) as client:
        start(client, "messaging", "clamp", n_steps=1)
        wait_event(client, "clamp", "status", "waiting_for_approval")
        # Asks for a day; answers after at most max_wait_seconds with the timeout reason.
        r = client.get("/v1/workflows/clamp/events/progress", params={"timeout": 86400})
        assert r.status_code == 404 and r.json()["error"]["details"]["reason"] == "timeout"
        r = client.get("/v1/workflows/clamp/result", params={"timeout": 86400})
        assert r.status_code == 202
    r2 = None
    with app_client(database_url) as client:
        r2 = client.get("/v1/workflows/clamp/events/status", params={"timeout": "nan"})
    assert r2.status_code == 422


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert client.get("/docs").status_code == 200
    for path in ("/v1/workflows", "/v1/workflows/{workflow_id}/events/{key}", "/workflow-stream/{workflow_id}"):
        assert path in spec["paths"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"


def test_the_openapi_document_built_on_several_threads_at_once_is_built_once_and_complete(tmp_path: Path) -> None:
    # The body middleware builds its route table from the document on a worker thread while a first request for
    # /openapi.json builds it on the loop: FastAPI's generation is not thread-safe (a KeyError, answered 500).
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'docs.sqlite'}"))
    start_together = threading.Barrier(4)

    def build() -> dict[str, Any]:
        start_together.wait()
        return app.openapi()

    with ThreadPoolExecutor(4) as pool:
        documents = list(pool.map(lambda _: build(), range(4)))
    assert all(document is documents[0] for document in documents)
    create = documents[0]["paths"]["/v1/workflows"]["post"]["responses"]
    assert {"400", "413", "415"} <= set(create)  # completed (body errors declared) before anyone saw it
