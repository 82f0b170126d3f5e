"""Access control: API keys, scoped read tokens, open mode, public endpoints, CORS."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from communication.core.security.credentials import AccessControl
from communication.core.settings import Settings
from server import create_app
from tests.support.inprocess import app_client, make_settings, start

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

KEYS = ["key-one", "key-two"]
ADMIN = {"Authorization": "Bearer key-one"}


@pytest.fixture
def secured(database_url: str) -> Iterator[TestClient]:
    """An app with two API keys; the client itself sends no credentials."""
    with app_client(database_url, api_keys=KEYS, server_secret="auth-test-secret-0123456789") as c:
        yield c


def _start(client: TestClient, type_name: str, workflow_id: str, **inputs: object) -> None:
    r = client.post(
        "/v1/workflows", json={"type": type_name, "input": inputs, "workflow_id": workflow_id}, headers=ADMIN
    )
    assert r.status_code == 201, r.text


def _token(client: TestClient, workflow_id: str) -> str:
    r = client.post(f"/v1/workflows/{workflow_id}/read-token", headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["query_param"] == "access_token"
    token: str = r.json()["token"]
    return token


def test_open_server_logs_a_warning_and_allows_everything(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="communication.http.access"):
        app = create_app(make_settings(database_url))
    assert any("no API key configured" in r.message for r in caplog.records)
    with TestClient(app) as c:
        start(c, "events", "open-1", n_steps=1)
        assert c.get("/v1/workflows/open-1").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/workflows"),
        ("GET", "/v1/workflows/{wid}"),
        ("GET", "/v1/workflows/{wid}/result"),
        ("POST", "/v1/workflows/{wid}/cancel"),
        ("GET", "/v1/workflows/{wid}/events"),
        ("GET", "/v1/workflows/{wid}/events/status"),
        ("GET", "/v1/workflows/{wid}/streams"),
        ("GET", "/v1/workflows/{wid}/streams/progress_stream"),
        ("POST", "/v1/workflows/{wid}/messages"),
        ("POST", "/v1/workflows/{wid}/read-token"),
        ("POST", "/v1/workflows/{wid}/callback-links"),
        ("GET", "/workflow-events/{wid}/all"),
        ("GET", "/workflow-stream/{wid}"),
        ("POST", "/send-message/{wid}"),
        ("GET", "/v1/workflow-types"),
    ],
)
def test_unauthenticated_calls_are_401_whether_or_not_the_workflow_exists(
    secured: TestClient, method: str, path: str
) -> None:
    _start(secured, "events", "exists", n_steps=1)
    answers = []
    for wid in ("exists", "ghost", "bad id!"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic a2V5LW9uZQ=="}):
            r = secured.request(method, path.format(wid=wid), json={"message": 1}, headers=headers)
            assert r.status_code == 401, (path, wid, r.text)
            answers.append(r.json()["error"]["code"])
    assert set(answers) == {"unauthorized"}


def test_every_configured_key_is_accepted(secured: TestClient) -> None:
    for key in KEYS:
        r = secured.get("/v1/workflows", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/health", "/healthz", "/readyz", "/docs", "/openapi.json"])
def test_health_and_docs_need_no_key(secured: TestClient, path: str) -> None:
    assert secured.get(path).status_code == 200


def test_openapi_documents_both_credentials(secured: TestClient) -> None:
    schema = secured.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "ReadToken"}
    events = schema["paths"]["/v1/workflows/{workflow_id}/events"]["get"]
    assert {"ApiKey": []} in events["security"] and {"ReadToken": []} in events["security"]
    assert "401" in schema["paths"]["/v1/workflows"]["get"]["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_read_token_reads_one_workflows_events_and_streams_only(secured: TestClient) -> None:
    _start(secured, "streaming", "rt-1", n_steps=1)
    _start(secured, "streaming", "rt-2", n_steps=1)
    r = secured.get("/v1/workflows/rt-1/result", params={"timeout": 30}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["done"]
    token = _token(secured, "rt-1")
    q = {"access_token": token}
    for path in (
        "/v1/workflows/rt-1/events",
        "/v1/workflows/rt-1/events/status",
        "/v1/workflows/rt-1/streams",
        "/v1/workflows/rt-1/streams/progress_stream",
        "/v1/workflows/rt-1/streams/progress_stream/live",
        "/v1/workflows/rt-1/events/live",
    ):
        r = secured.get(path, params=q)
        assert r.status_code == 200, (path, r.text)
    assert "event: end" in r.text
    # Not another workflow, not other resources of this one, not writes.
    for method, path, code in (
        ("GET", "/v1/workflows/rt-2/events", "token_invalid"),
        ("GET", "/v1/workflows/ghost/streams", "token_invalid"),
        ("GET", "/v1/workflows/rt-1", "unauthorized"),
        ("GET", "/v1/workflows/rt-1/result", "unauthorized"),
        ("POST", "/v1/workflows/rt-1/messages", "unauthorized"),
        ("POST", "/v1/workflows/rt-1/read-token", "unauthorized"),
        ("GET", "/workflow-events/rt-1/all", "unauthorized"),
    ):
        r = secured.request(method, path, params=q, json={"message": 1})
        assert r.status_code == 401 and r.json()["error"]["code"] == code, (path, r.text)


def test_expired_and_tampered_read_tokens_are_refused(secured: TestClient) -> None:
    # A workflow that waits (for its approval), so a callback link can be minted for it whatever the timing.
    _start(secured, "messaging", "rt-old", n_steps=1)
    access: AccessControl = secured.app.state.access  # type: ignore[attr-defined]
    expired = access.mint_read_token("rt-old", ttl_seconds=60, now=time.time() - 3600).token
    r = secured.get("/v1/workflows/rt-old/events", params={"access_token": expired})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"
    good = _token(secured, "rt-old")
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    r = secured.get("/v1/workflows/rt-old/events", params={"access_token": tampered})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    minted = secured.post("/v1/workflows/rt-old/callback-links", headers=ADMIN, json={})
    assert minted.status_code == 201, minted.text
    link_token = minted.json()["path"].removeprefix("/v1/callbacks/")
    r = secured.get("/v1/workflows/rt-old/events", params={"access_token": link_token})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"


def test_read_token_ttl_and_unknown_workflow(secured: TestClient) -> None:
    _start(secured, "events", "rt-ttl", n_steps=1)
    r = secured.post("/v1/workflows/rt-ttl/read-token", headers=ADMIN, json={"ttl_seconds": 5})
    expires = r.json()["expires_at"]
    assert r.status_code == 201 and expires < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))
    assert secured.post("/v1/workflows/ghost/read-token", headers=ADMIN).status_code == 404
    assert secured.post("/v1/workflows/rt-ttl/read-token", headers=ADMIN, json={"ttl_seconds": 0}).status_code == 422


def test_cors_allows_configured_origins_only(database_url: str) -> None:
    with app_client(database_url, api_keys=KEYS, cors_origins=["https://app.example"]) as c:
        preflight = c.options(
            "/v1/workflows",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        denied = c.get("/v1/workflows", headers={"Origin": "https://app.example"})
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "https://app.example"
        other = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_keys_and_origins_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMM_API_KEYS", "alpha, beta")
    monkeypatch.setenv("COMM_CORS_ORIGINS", '["https://a.example"]')
    monkeypatch.setenv("COMM_WEBHOOK_SECRETS_STANDARD", "whsec_a2V5,whsec_b3RoZXI=")
    settings = Settings()
    assert settings.api_keys == ["alpha", "beta"] and settings.cors_origins == ["https://a.example"]
    assert settings.webhook_secrets_standard == ["whsec_a2V5", "whsec_b3RoZXI="]
    assert "alpha" not in repr(settings)
