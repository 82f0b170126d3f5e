"""Helpers for tests: an app client per test and synchronisation on durable state (never on sleep)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from communication.app.factory import create_app
from communication.core.settings import Settings


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: its own database, no demo delays."""
    values: dict[str, Any] = {"database_url": database_url, "demo_step_delay_seconds": 0.0, "log_level": "warning"}
    values.update(overrides)
    return Settings(**values)


def app_client(database_url: str, **overrides: Any) -> TestClient:
    """A TestClient over a new app; use as a context manager (runs the lifespan, i.e. DBOS launch/destroy)."""
    return TestClient(create_app(make_settings(database_url, **overrides)))


def start(client: TestClient, type_name: str, workflow_id: str, **inputs: Any) -> dict[str, Any]:
    """Start a workflow through the v1 API and return its info (asserting it was created)."""
    r = client.post("/v1/workflows", json={"type": type_name, "input": inputs, "workflow_id": workflow_id})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def result(client: TestClient, workflow_id: str, timeout: float = 30) -> dict[str, Any]:
    """Block (bounded) until the workflow finishes; return its result body."""
    r = client.get(f"/v1/workflows/{workflow_id}/result", params={"timeout": timeout})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_event(client: TestClient, workflow_id: str, key: str, value: Any, timeout: float = 30) -> dict[str, Any]:
    """Follow an event's versions until it holds ``value`` (each GET blocks until a newer version)."""
    version: int | None = None
    while True:
        params: dict[str, Any] = {"timeout": timeout}
        if version is not None:
            params["after_version"] = version
        r = client.get(f"/v1/workflows/{workflow_id}/events/{key}", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["value"] == value:
            return body
        version = body["version"]
