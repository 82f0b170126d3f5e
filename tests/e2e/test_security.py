"""Hostile input: each finding of the outside probe reproduced, and the limits that close its class.

Strict bodies (one Content-Type, JSON only where declared, NaN refused, depth before parsing, bounded dates and
integers), WebSocket protocol errors, webhook replays, secrets and read tokens, same-origin, unambiguous message
ids, redacted logs, private files, callback URL hosts, seed session ids. Runs on SQLite, and on Postgres with
``TEST_POSTGRES_URL`` (HTTP-level tests, marked ``backend_independent``, run once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from communication.adapter.store import stored_key
from communication.app.factory import create_app
from communication.core.registry import registry
from communication.protocol.validation import json_depth, text_depth
from tests.support.inprocess import make_settings, result, start
from tests.support.live_server import LiveServer, live_server
from tests.support.server_proc import ServerProcess

API_KEY = "sec-admin-key"
ADMIN = {"Authorization": f"Bearer {API_KEY}"}
GITHUB_SECRET = "github-sec-secret"
STRIPE_SECRET = "whsec_sec_stripe"


class _Empty(BaseModel):
    pass


@registry.register("test_secret_events", _Empty, "Test only: sets a secret and a public event, then waits for 'go'.")
async def secret_events_workflow(params: dict[str, Any]) -> str:
    await DBOS.set_event_async("secret.token", "s3cr3t")
    await DBOS.set_event_async("public", "hello")
    await DBOS.recv_async("go", timeout_seconds=60)
    return "done"


def _client(database_url: str, **overrides: Any) -> TestClient:
    # Server exceptions become 500 answers (as in production) instead of being raised into the test.
    return TestClient(create_app(make_settings(database_url, **overrides)), raise_server_exceptions=False)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with _client(database_url, data_dir=tmp_path) as c:
        yield c


# --- 1. one strict body path -----------------------------------------------------------------------------------


def _json_body_operations(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, concrete path) whose OpenAPI operation declares a JSON request body."""
    found = []
    for path, item in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                concrete = path.replace("{scheme}", "github")
                for name in ("workflow_id", "session_id", "name", "token"):
                    concrete = concrete.replace("{" + name + "}", "sec-x")
                found.append((method.upper(), concrete))
    return found


HOSTILE_BODIES: list[tuple[bytes, list[tuple[str, str]], int, str]] = [
    (b"approved=true", [("content-type", "text/plain")], 415, "unsupported_media_type"),
    (b"hello", [], 415, "unsupported_media_type"),
    (b'{"a": 1}', [], 415, "unsupported_media_type"),  # JSON without Content-Type
    (b'{"a": NaN}', [("content-type", "application/json")], 400, "malformed_json"),
    (b'{"a": -Infinity}', [("content-type", "application/json")], 400, "malformed_json"),
    (b'{"a": 1e400}', [("content-type", "application/json")], 400, "malformed_json"),
    (b"\xff\xfe{}", [("content-type", "application/json")], 400, "malformed_json"),
    (b"[" * 900 + b"]" * 900, [("content-type", "application/json")], 400, "malformed_json"),
    (b"{}", [("content-type", "text/plain"), ("content-type", "application/json")], 415, "unsupported_media_type"),
]


@pytest.mark.backend_independent
def test_every_json_route_answers_hostile_bodies_with_415_or_400_and_never_5xx(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    operations = _json_body_operations(client)
    assert ("POST", "/send-message/sec-x") in operations and ("POST", "/events/sec-x") in operations
    for body, headers, status, code in HOSTILE_BODIES:
        for method, path in operations:
            r = client.request(method, path, content=body, headers=headers)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (method, path, body[:20], headers)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a hostile body reached an error log"


def test_seed_send_message_form_body_is_415_and_json_still_works(client: TestClient) -> None:
    start(client, "messaging", "sec-seed", n_steps=1)
    r = client.post("/send-message/sec-seed", content=b"approved=true", headers={"content-type": FORM})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = client.post("/send-message/sec-seed", json={"approved": True, "message": "ok"})
    assert r.status_code == 200 and r.json()["outcome"] == "delivered"
    assert result(client, "sec-seed")["output"]["status"] == "completed"


FORM = "application/x-www-form-urlencoded"


def test_seed_session_post_of_plain_text_is_415(client: TestClient) -> None:
    r = client.post("/events/sec-sess", content=b"hello", headers={"content-type": FORM})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_a_second_content_type_header_cannot_smuggle_a_deep_body(client: TestClient) -> None:
    deep = b'{"message": ' + b"[" * 900 + b"]" * 900 + b"}"
    for pair in (("text/plain", "application/json"), ("application/json", "text/plain")):
        headers = [("content-type", pair[0]), ("content-type", pair[1])]
        r = client.post("/v1/workflows/sec-x/messages", content=deep, headers=headers)
        assert r.status_code == 415 and r.json()["error"]["details"]["count"] == 2


def test_nan_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    start(client, "test_none_event", "sec-nan")
    r = client.post(
        "/v1/workflows/sec-nan/messages", content=b'{"topic": "go", "message": NaN}', headers={"content-type": JSON}
    )
    assert r.status_code == 400 and "NaN" in r.json()["error"]["details"]["reason"]
    assert client.get("/v1/workflows/sec-nan").json()["status"] == "PENDING"  # nothing reached the workflow


JSON = "application/json"


@pytest.mark.backend_independent
def test_depth_is_measured_on_the_text_before_any_parser_recurses() -> None:
    # 100,000 levels would overflow the parser's stack; the text scan rejects it without parsing.
    with pytest.raises(Exception, match="deeper than 32"):
        text_depth("[" * 100_000 + "]" * 100_000, 32)
    assert text_depth('{"a": "[[[[[[", "b": ["\\"]]]"]}', 2) == 2  # brackets inside strings do not count


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3),
    max_leaves=20,
)


@pytest.mark.backend_independent
@settings(max_examples=200, deadline=None, derandomize=True)
@given(_json)
def test_text_depth_equals_the_parsed_depth_for_every_json_value(value: Any) -> None:
    text = json.dumps(value)
    assert text_depth(text, 1000) == json_depth(value, 1000)


@pytest.mark.parametrize(
    ("path", "params", "body"),
    [
        ("/v1/workflows", {"created_after": "0001-01-01"}, None),
        ("/v1/workflows", {"created_before": "9999-12-31T23:59:59-12:00"}, None),
        ("/v1/workflows", {"created_after": "0001-01-01T00:00:00+14:00"}, None),
        ("/v1/workflows/sec-fork/fork", None, {"start_step": 2**63}),
        ("/v1/schedules/sec-sched/backfill", None, {"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-02T00:00Z"}),
        ("/v1/schedules/sec-sched/backfill", None, {"start": "9999-12-30T00:00:00", "end": "9999-12-31T23:59:59"}),
    ],
)
def test_dates_and_integers_beyond_storage_are_422_before_they_reach_it(
    client: TestClient, path: str, params: dict[str, str] | None, body: dict[str, Any] | None
) -> None:
    client.post("/v1/schedules", json={"name": "sec-sched", "type": "events", "cron": "0 * * * *"})
    start(client, "test_fail", "sec-fork")
    r = client.post(path, json=body) if body is not None else client.get(path, params=params)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text


# --- 8. seed /events/{sid} ids and types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "progress", "id": "x" * 10_000},
        {"type": "progress", "id": "has space"},
        {"type": "progress", "id": "line\nbreak"},
        {"type": "progress", "id": {"an": "object"}},
        {"type": "progress", "id": [1]},
        {"type": {"an": "object"}},
        {"type": "done\n"},
    ],
)
def test_seed_session_event_ids_and_types_are_validated_like_v1(client: TestClient, payload: dict[str, Any]) -> None:
    r = client.post("/events/sec-ids", json=payload)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text


def test_done_with_a_trailing_newline_fails_on_v1_and_seed_alike(client: TestClient) -> None:
    assert client.post("/v1/sessions/sec-nl/events", json={"type": "done\n"}).status_code == 422
    assert client.post("/events/sec-nl", json={"type": "done\n"}).status_code == 422
    assert client.post("/events/sec-nl", json={"type": "progress", "id": 42}).status_code == 202  # ints are ids


# --- 6. unambiguous message ids --------------------------------------------------------------------------------


def test_idempotency_keys_do_not_collide_across_workflow_ids_containing_double_colons(client: TestClient) -> None:
    start(client, "test_none_event", "c")
    start(client, "test_none_event", "b::c")
    first = client.post("/v1/workflows/c/messages", json={"topic": "go", "message": 1, "idempotency_key": "k::b"})
    second = client.post("/v1/workflows/b::c/messages", json={"topic": "go", "message": 1, "idempotency_key": "k"})
    assert first.json()["outcome"] == second.json()["outcome"] == "delivered"
    assert result(client, "b::c")["output"] == "done"  # delivered, not swallowed as a "duplicate"
    again = client.post("/v1/workflows/b::c/messages", json={"topic": "go", "message": 1, "idempotency_key": "k"})
    assert again.json()["outcome"] == "duplicate"


_key = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_wid = st.from_regex(r"\A[a-c0-9][a-c0-9:%]{0,8}\Z")


@pytest.mark.backend_independent
@settings(max_examples=500, deadline=None, derandomize=True)
@given(_key, _wid, _key, _wid)
def test_stored_message_ids_are_injective(k1: str, d1: str, k2: str, d2: str) -> None:
    if (k1, d1) != (k2, d2):
        assert f"{stored_key(k1)}::{d1}" != f"{stored_key(k2)}::{d2}"


@pytest.mark.backend_independent
def test_plain_keys_keep_the_message_ids_stored_before_the_encoding() -> None:
    assert stored_key("approval-42") == "approval-42"
    assert stored_key("webhook:github:sha256:ab") == "webhook:github:sha256:ab"
    assert stored_key("a::b") == "%a%3A%3Ab" and stored_key("x:") == "%x%3A" and stored_key("%z") == "%%25z"


# --- 3. webhook replays --------------------------------------------------------------------------------------


@pytest.fixture
def hooks(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with _client(
        database_url,
        data_dir=tmp_path,
        webhook_secrets_github=[GITHUB_SECRET],
        webhook_secrets_stripe=[STRIPE_SECRET],
    ) as c:
        yield c


def test_github_body_replayed_under_other_delivery_ids_is_delivered_once(hooks: TestClient) -> None:
    start(hooks, "test_none_event", "sec-gh")
    body = b'{"action": "opened", "number": 7}'
    mac = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    outcomes = []
    for delivery in ("d1", "d2", "d3", "d4", "d5", "d6", None):
        headers = {"x-hub-signature-256": f"sha256={mac}", "content-type": JSON}
        if delivery:
            headers["x-github-delivery"] = delivery
        r = hooks.post("/v1/webhooks/github/sec-gh?topic=go", content=body, headers=headers)
        assert r.status_code == 200, r.text
        outcomes.append(r.json()["outcome"])
    assert outcomes == ["delivered"] + ["duplicate"] * 6


def test_stripe_delivery_without_id_replayed_with_reordered_signature_fields_is_delivered_once(
    hooks: TestClient,
) -> None:
    start(hooks, "test_none_event", "sec-stripe")
    body = b'{"type": "payment_intent.succeeded"}'
    ts = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    variants = [
        f"t={ts},v1={mac}",
        f"v1={mac},t={ts}",
        f"t={ts}, v1={mac}",
        f"v1={mac},v0=x,t={ts}",
        f" t={ts},v1={mac}",
    ]
    outcomes = []
    for header in variants:
        r = hooks.post(
            "/v1/webhooks/stripe/sec-stripe?topic=go",
            content=body,
            headers={"stripe-signature": header, "content-type": JSON},
        )
        assert r.status_code == 200, r.text
        outcomes.append(r.json()["outcome"])
    assert outcomes == ["delivered"] + ["duplicate"] * 4


def test_stripe_event_id_from_the_signed_body_is_the_dedup_key(hooks: TestClient) -> None:
    start(hooks, "test_none_event", "sec-stripe-id")
    outcomes = []
    for ts_offset in (0, 5):  # a re-signed copy (new timestamp) of the same event is the same delivery
        body = b'{"id": "evt_123", "type": "payment_intent.succeeded"}'
        ts = int(time.time()) - ts_offset
        mac = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        r = hooks.post(
            "/v1/webhooks/stripe/sec-stripe-id?topic=go",
            content=body,
            headers={"stripe-signature": f"t={ts},v1={mac}", "content-type": JSON},
        )
        outcomes.append((r.json()["delivery_id"], r.json()["outcome"]))
    assert outcomes == [("evt_123", "delivered"), ("evt_123", "duplicate")]


# --- 5. same origin -------------------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_cross_site_state_changes_are_403_and_same_origin_and_non_browser_clients_work(client: TestClient) -> None:
    body = {"type": "test_none_event", "input": {}}
    r = client.post("/v1/workflows", json={**body, "workflow_id": "sec-o1"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    r = client.post("/v1/workflows", json={**body, "workflow_id": "sec-o1"}, headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    assert client.get("/v1/workflows/sec-o1").status_code == 404  # nothing was started
    own = client.post("/v1/workflows", json={**body, "workflow_id": "sec-o2"}, headers={"origin": "http://testserver"})
    assert own.status_code == 201
    assert client.post("/v1/workflows", json={**body, "workflow_id": "sec-o3"}).status_code == 201  # no Origin
    # A same-origin form under Referrer-Policy: no-referrer sends "Origin: null"; Sec-Fetch-Site vouches for it.
    same = {"origin": "null", "sec-fetch-site": "same-origin"}
    assert client.post("/v1/workflows", json={**body, "workflow_id": "sec-o4"}, headers=same).status_code == 201
    sandboxed = {"origin": "null", "sec-fetch-site": "cross-site"}
    assert client.post("/v1/workflows", json={**body, "workflow_id": "sec-o5"}, headers=sandboxed).status_code == 403


def test_cross_site_get_of_the_monty_stream_starts_nothing(client: TestClient) -> None:
    for headers in (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},  # even a top-level navigation
    ):
        r = client.get("/monty/stream", params={"workflow_id": "sec-monty"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed", headers
    assert client.get("/v1/workflows/sec-monty").status_code == 404
    assert client.get("/v1/workflows", params={"type": "monty_python"}).json()["workflows"] == []


@pytest.mark.backend_independent
def test_cross_site_navigation_to_a_read_only_page_still_works(client: TestClient) -> None:
    r = client.get("/v1/callbacks/not-a-token", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "link_not_found"  # the page, not a refusal


@pytest.mark.backend_independent
def test_cors_origins_allow_other_sites(database_url: str, tmp_path: Path) -> None:
    with _client(database_url, data_dir=tmp_path, cors_origins=["https://app.example"]) as c:
        r = c.post(
            "/v1/workflows",
            json={"type": "test_none_event", "workflow_id": "sec-cors"},
            headers={"origin": "https://app.example"},
        )
        assert r.status_code == 201
        assert c.post("/v1/workflows/sec-cors/cancel", headers={"origin": "https://evil.example"}).status_code == 403


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(database_url, data_dir=tmp_path, api_keys=[API_KEY]) as s:
        yield s


def _ws(server: LiveServer, path: str, **kwargs: Any) -> ClientConnection:
    ws: ClientConnection = connect(server.url.replace("http", "ws", 1) + path, open_timeout=10, **kwargs)
    return ws


def _recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return frame


def test_websockets_refuse_foreign_origins_with_4403(server: LiveServer) -> None:
    httpx.post(f"{server.url}/v1/workflows", json={"type": "messaging", "workflow_id": "sec-ws"}, headers=ADMIN)
    for path in ("/v1/workflows/sec-ws/ws", "/ws/user-1"):
        with _ws(server, path, origin="https://evil.example", additional_headers=ADMIN) as ws:
            assert _recv(ws)["error"]["code"] == "origin_not_allowed"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, path
    with _ws(server, "/v1/workflows/sec-ws/ws", origin=server.url, additional_headers=ADMIN) as ws:  # its own origin
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"op": "send", "req": "r", "message": {"approved": False}}))
        assert _recv(ws)["outcome"] == "delivered"


# --- 2. WebSocket protocol errors ---------------------------------------------------------------------------


def test_v1_websocket_protocol_errors_get_an_error_frame_and_the_socket_stays_open(server: LiveServer) -> None:
    httpx.post(f"{server.url}/v1/workflows", json={"type": "messaging", "workflow_id": "sec-wsp"}, headers=ADMIN)
    deep_send = '{"op": "send", "message": ' + "[" * 900 + "]" * 900 + "}"
    with _ws(server, "/v1/workflows/sec-wsp/ws", additional_headers=ADMIN) as ws:
        assert _recv(ws)["type"] == "hello"
        for frame, code in (
            (b"\x00\x01binary", "malformed_json"),
            (deep_send, "malformed_json"),
            ('{"op": "send", "message": NaN}', "malformed_json"),
            ("{not json", "malformed_json"),
            ('{"op": "send", "req": {"x": 1}}', "validation_error"),
        ):
            ws.send(frame)
            answer = _recv(ws)
            assert answer["type"] == "error" and answer["error"]["code"] == code, frame
        ws.send(json.dumps({"op": "ping", "req": "still-open"}))
        assert _recv(ws) == {"type": "pong", "req": "still-open"}


# --- 4. read tokens never read secrets ----------------------------------------------------------------------


def _read_token(server: LiveServer, workflow_id: str) -> str:
    r = httpx.post(f"{server.url}/v1/workflows/{workflow_id}/read-token", headers=ADMIN)
    token: str = r.json()["token"]
    return token


def _sse_events(url: str, params: dict[str, str], until_key: str) -> list[str]:
    """Keys of the event frames of an SSE watch, up to and including ``until_key``."""
    keys: list[str] = []
    with httpx.stream("GET", url, params=params, headers={"accept": "text/event-stream"}, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                keys.append(json.loads(line[5:])["key"])
                if keys[-1] == until_key:
                    return keys
    return keys


def test_read_tokens_never_read_the_approval_link(server: LiveServer) -> None:
    httpx.post(
        f"{server.url}/v1/workflows",
        json={"type": "messaging", "input": {"callback_link": True}, "workflow_id": "sec-link"},
        headers=ADMIN,
    )
    base = f"{server.url}/v1/workflows/sec-link/events"
    assert httpx.get(f"{base}/status", params={"timeout": 30}, headers=ADMIN).json()["value"] == "waiting_for_approval"
    token = {"access_token": _read_token(server, "sec-link")}
    r = httpx.get(f"{base}/approval_link", params=token)
    assert r.status_code == 403 and r.json()["error"]["code"] == "secret_event"
    listed = httpx.get(base, params=token).json()["events"]
    assert "status" in listed and "approval_link" not in listed
    assert "approval_link" not in _sse_events(f"{base}/live", token, "status")
    assert "approval_link" not in _sse_events(base, token, "status")  # the SSE form of the list URL
    assert "approval_link" in httpx.get(base, headers=ADMIN).json()["events"]  # an API key still reads it
    with _ws(server, f"/v1/workflows/sec-link/ws?access_token={token['access_token']}") as ws:
        assert _recv(ws)["type"] == "hello"
        ws.send(json.dumps({"op": "subscribe_events", "sub": "e"}))
        seen: list[str] = []
        while not seen or seen[-1] != "status":
            seen.append(_recv(ws)["key"])
        assert "approval_link" not in seen


def test_events_a_workflow_marks_secret_are_hidden_from_read_tokens(server: LiveServer) -> None:
    httpx.post(
        f"{server.url}/v1/workflows", json={"type": "test_secret_events", "workflow_id": "sec-ev"}, headers=ADMIN
    )
    base = f"{server.url}/v1/workflows/sec-ev/events"
    httpx.get(f"{base}/public", params={"timeout": 30}, headers=ADMIN)
    token = {"access_token": _read_token(server, "sec-ev")}
    assert httpx.get(f"{base}/secret.token", params=token).status_code == 403
    assert set(httpx.get(base, params=token).json()["events"]) == {"public"}
    assert _sse_events(f"{base}/live", {**token, "keys": "secret.token,public"}, "public") == ["public"]
    assert httpx.get(f"{base}/secret.token", headers=ADMIN).json()["value"] == "s3cr3t"


# --- 7. logs, files, callback URLs ------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_access_log_redacts_read_tokens_and_callback_link_tokens(database_url: str, tmp_path: Path) -> None:
    env = {"COMM_LOG_LEVEL": "info", "COMM_API_KEYS": API_KEY, "COMM_DATA_DIR": str(tmp_path / "data")}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        httpx.post(f"{proc.url}/v1/workflows", json={"type": "messaging", "workflow_id": "sec-log"}, headers=ADMIN)
        token = httpx.post(f"{proc.url}/v1/workflows/sec-log/read-token", headers=ADMIN).json()["token"]
        link = httpx.post(f"{proc.url}/v1/workflows/sec-log/callback-links", headers=ADMIN, json={}).json()
        link_token = link["path"].rsplit("/", 1)[1]
        httpx.get(f"{proc.url}/v1/workflows/sec-log/events", params={"access_token": token})
        httpx.get(f"{proc.url}{link['path']}")
        marker = httpx.get(
            f"{proc.url}/v1/workflows/sec-log-marker", headers=ADMIN
        )  # the last request: its line ends the wait
        assert marker.status_code == 404
        deadline = time.monotonic() + 10
        text = ""
        while "sec-log-marker" not in text and time.monotonic() < deadline:
            text = proc.log_path.read_text()
    assert "sec-log-marker" in text, "the access log was not written"
    assert "access_token=***" in text and "/v1/callbacks/***" in text
    assert token not in text and link_token not in text


@pytest.mark.backend_independent
def test_sqlite_database_and_data_directory_are_owner_only_at_creation(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    old = os.umask(0o022)
    try:
        with TestClient(create_app(make_settings(None, data_dir=data))) as c:  # type: ignore[arg-type]
            assert c.get("/readyz").status_code == 200
    finally:
        os.umask(old)
    database = next(data.glob("*.sqlite"))
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    for side in data.glob("*.sqlite-*"):  # -wal / -shm copy the database file's mode
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


def test_callback_urls_never_come_from_a_bare_host_header(database_url: str, tmp_path: Path) -> None:
    with _client(database_url, data_dir=tmp_path / "a") as c:
        start(c, "test_none_event", "sec-cb")
        link = c.post("/v1/workflows/sec-cb/callback-links", json={}, headers={"host": "evil.example"}).json()
        assert link["url"] == link["path"] and "evil" not in link["url"]
    with _client(database_url, data_dir=tmp_path / "b", allowed_hosts=["flows.example"]) as c:
        ok = c.post("/v1/workflows/sec-cb/callback-links", json={}, headers={"host": "flows.example"}).json()
        assert ok["url"] == "http://flows.example" + ok["path"]
        r = c.post("/v1/workflows/sec-cb/callback-links", json={}, headers={"host": "evil.example"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed"
    with _client(database_url, data_dir=tmp_path / "c", public_base_url="https://flows.example") as c:
        link = c.post("/v1/workflows/sec-cb/callback-links", json={}, headers={"host": "evil.example"}).json()
        assert link["url"] == "https://flows.example" + link["path"]
