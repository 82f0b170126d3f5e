"""Signed webhooks: verification per scheme, exactly-once delivery, replays, forgeries, stale timestamps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from communication.core.security.webhooks import WebhookVerifier, idempotency_key, sign_standard
from communication.core.settings import Settings
from communication.protocol.errors import WebhookSignatureInvalid, WebhookTimestampOutOfWindow
from tests.support.inprocess import app_client, result, start, wait_event
from workflows.payment_workflow import payment_status

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

STANDARD_KEY = b"standard-webhook-key-32-bytes!!!"
STANDARD_SECRET = "whsec_" + base64.b64encode(STANDARD_KEY).decode()
OLD_STANDARD_SECRET = "whsec_" + base64.b64encode(b"the-previous-standard-secret-key").decode()
STRIPE_SECRET = "whsec_stripe_test_secret"
GITHUB_SECRET = "github-test-secret"


def standard_headers(body: bytes, msg_id: str, *, key: bytes = STANDARD_KEY, ts: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers, signed here by the spec (not by the code under test)."""
    stamp = int(time.time()) if ts is None else ts
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }


def stripe_headers(body: bytes, *, secret: str = STRIPE_SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={stamp},v1={mac}", "content-type": "application/json"}


def github_headers(body: bytes, delivery: str, *, secret: str = GITHUB_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={mac}", "x-github-delivery": delivery, "content-type": "application/json"}


@pytest.fixture
def hooks(database_url: str) -> Iterator[TestClient]:
    """An app with a secret for every scheme (two for Standard Webhooks: rotation) and API keys required."""
    with app_client(
        database_url,
        api_keys=["admin-key"],
        webhook_secrets_standard=[STANDARD_SECRET, OLD_STANDARD_SECRET],
        webhook_secrets_stripe=[STRIPE_SECRET],
        webhook_secrets_github=[GITHUB_SECRET],
    ) as c:
        c.headers["Authorization"] = "Bearer admin-key"
        yield c


def _post_unauthenticated(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> Any:
    # Webhook senders have no API key: drop the test client's admin header for these calls.
    return client.post(path, content=body, headers={**headers, "Authorization": ""})


def test_standard_webhooks_reference_vector_verifies() -> None:
    # The Standard Webhooks specification's published test vector.
    settings = Settings(webhook_secrets_standard=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    verifier = WebhookVerifier(settings, clock=lambda: 1614265330)
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert verifier.verify("standard", headers, body).signed_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert (
        sign_standard(settings.webhook_secrets_standard[0], headers["webhook-id"], 1614265330, body)
        == (headers["webhook-signature"])
    )
    with pytest.raises(WebhookSignatureInvalid):
        verifier.verify("standard", headers, b'{"test": 2432232315}')
    late = WebhookVerifier(settings, clock=lambda: 1614265330 + 301)
    with pytest.raises(WebhookTimestampOutOfWindow):
        late.verify("standard", headers, body)


def test_standard_webhook_delivered_three_times_approves_once(hooks: TestClient) -> None:
    start(hooks, "messaging", "wh-approve", n_steps=1)
    wait_event(hooks, "wh-approve", "status", "waiting_for_approval")
    body = json.dumps({"approved": True, "message": "approved by the CI webhook"}).encode()
    outcomes = []
    for _ in range(3):
        r = _post_unauthenticated(hooks, "/v1/webhooks/standard/wh-approve", body, standard_headers(body, "msg_1"))
        assert r.status_code == 200, r.text
        outcomes.append(r.json()["outcome"])
    assert outcomes == ["delivered", "duplicate", "duplicate"]
    out = result(hooks, "wh-approve")["output"]
    assert out["status"] == "completed" and out["approval_message"] == "approved by the CI webhook"
    assert r.json()["topic"] == "notification" and r.json()["delivery_id"] == "msg_1"


def test_forged_standard_webhook_delivers_nothing(hooks: TestClient) -> None:
    start(hooks, "messaging", "wh-forged", n_steps=1)
    approve = json.dumps({"approved": True, "message": "forged"}).encode()
    forged = standard_headers(approve, "msg_f", key=b"an attacker's key, not ours!!!!!")
    r = _post_unauthenticated(hooks, "/v1/webhooks/standard/wh-forged", approve, forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "webhook_signature_invalid"
    tampered = standard_headers(approve, "msg_t")
    r = _post_unauthenticated(hooks, "/v1/webhooks/standard/wh-forged", approve.replace(b"forged", b"tamper"), tampered)
    assert r.status_code == 401 and r.json()["error"]["code"] == "webhook_signature_invalid"
    # Nothing was delivered: the first message the workflow receives is this rejection.
    hooks.post("/v1/workflows/wh-forged/messages", json={"message": {"approved": False, "message": "real"}})
    assert result(hooks, "wh-forged")["output"] == {"status": "cancelled", "reason": "real"}


def test_webhook_signed_with_a_rotated_out_secret_still_verifies(hooks: TestClient) -> None:
    start(hooks, "test_none_event", "wh-rotate")
    body = b'{"step": 1}'
    headers = standard_headers(body, "msg_r", key=base64.b64decode(OLD_STANDARD_SECRET.removeprefix("whsec_")))
    r = _post_unauthenticated(hooks, "/v1/webhooks/standard/wh-rotate?topic=go", body, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "delivered"
    assert result(hooks, "wh-rotate")["output"] == "done"


@pytest.mark.parametrize("skew", [-360, 360])  # whole seconds: leave a margin for the time the request takes
def test_out_of_window_timestamps_are_rejected(hooks: TestClient, skew: int) -> None:
    start(hooks, "test_none_event", "wh-stale")
    body = b'{"late": true}'
    stale = standard_headers(body, "msg_s", ts=int(time.time()) + skew)
    r = _post_unauthenticated(hooks, "/v1/webhooks/standard/wh-stale?topic=go", body, stale)
    assert r.status_code == 401 and r.json()["error"]["code"] == "webhook_timestamp_out_of_window"
    r = _post_unauthenticated(
        hooks, "/v1/webhooks/stripe/wh-stale?topic=go", body, stripe_headers(body, ts=int(time.time()) + skew)
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "webhook_timestamp_out_of_window"
    assert hooks.get("/v1/workflows/wh-stale").json()["status"] == "PENDING"


@pytest.mark.parametrize(
    ("scheme", "headers", "code"),
    [
        ("standard", {"webhook-id": "m", "webhook-timestamp": "1"}, "webhook_signature_missing"),
        ("standard", {"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,x"}, None),
        ("stripe", {}, "webhook_signature_missing"),
        ("stripe", {"stripe-signature": "t=1"}, "webhook_signature_invalid"),
        ("github", {"x-hub-signature-256": "md5=abc"}, "webhook_signature_invalid"),
        ("github", {}, "webhook_signature_missing"),
    ],
)
def test_missing_or_malformed_signatures_are_401_before_any_lookup(
    hooks: TestClient, scheme: str, headers: dict[str, str], code: str | None
) -> None:
    # The workflow does not exist: the answer must still be about the signature, never a 404.
    headers = {**headers, "content-type": "application/json"}
    r = _post_unauthenticated(hooks, f"/v1/webhooks/{scheme}/no-such-workflow", b"{}", headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == (code or "webhook_signature_invalid")


def test_scheme_without_secret_is_not_configured(database_url: str) -> None:
    with app_client(database_url) as c:
        r = c.post("/v1/webhooks/github/x", content=b"{}", headers=github_headers(b"{}", "d1"))
        assert r.status_code == 401 and r.json()["error"]["code"] == "webhook_not_configured"


def test_stripe_payment_succeeded_completes_payment_once_routed_by_signed_metadata(hooks: TestClient) -> None:
    start(hooks, "payment", "pay-ok", amount_cents=2500, timeout_seconds=60)
    wait_event(hooks, "pay-ok", "status", "awaiting_payment")
    event = {
        "id": "evt_1",
        "type": "payment_intent.succeeded",
        "data": {"object": {"status": "succeeded", "metadata": {"workflow_id": "pay-ok"}}},
    }
    body = json.dumps(event).encode()
    first = _post_unauthenticated(hooks, "/v1/webhooks/stripe", body, stripe_headers(body))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "scheme": "stripe",
        "delivery_id": "evt_1",
        "workflow_id": "pay-ok",
        "topic": "payment",
        "outcome": "delivered",
    }
    # Stripe retries the same event with a fresh timestamp and signature: still one delivery.
    retry = _post_unauthenticated(hooks, "/v1/webhooks/stripe", body, stripe_headers(body, ts=int(time.time()) - 5))
    assert retry.status_code == 200 and retry.json()["outcome"] == "duplicate"
    out = result(hooks, "pay-ok")["output"]
    assert out == {"status": "completed", "amount_cents": 2500, "currency": "usd", "event_id": "evt_1"}


def test_stripe_pending_then_failed_cancels_payment(hooks: TestClient) -> None:
    start(hooks, "payment", "pay-fail", timeout_seconds=60)
    for event_id, kind, status in [("evt_a", "payment_intent.processing", "processing"), ("evt_b", "x", "failed")]:
        body = json.dumps({"id": event_id, "type": kind, "data": {"object": {"status": status}}}).encode()
        r = _post_unauthenticated(hooks, "/v1/webhooks/stripe/pay-fail", body, stripe_headers(body))
        assert r.status_code == 200 and r.json()["outcome"] == "delivered"
    out = result(hooks, "pay-fail")["output"]
    assert out == {"status": "cancelled", "reason": "payment failed", "event_id": "evt_b"}
    events = hooks.get("/v1/workflows/pay-fail/events").json()["events"]
    assert events["payment"]["value"]["status"] == "failed"


def test_payment_times_out_without_a_verdict(hooks: TestClient) -> None:
    start(hooks, "payment", "pay-slow", timeout_seconds=0.2)
    out = result(hooks, "pay-slow")["output"]
    assert out["status"] == "cancelled" and "no final payment status" in out["reason"]


def test_github_redelivery_is_acknowledged_as_duplicate_after_the_workflow_finished(hooks: TestClient) -> None:
    start(hooks, "test_none_event", "wh-gh")
    body = b'{"action": "completed"}'
    r = _post_unauthenticated(hooks, "/v1/webhooks/github/wh-gh?topic=go", body, github_headers(body, "guid-1"))
    assert r.status_code == 200 and r.json()["outcome"] == "delivered"
    assert result(hooks, "wh-gh")["output"] == "done"
    again = _post_unauthenticated(hooks, "/v1/webhooks/github/wh-gh?topic=go", body, github_headers(body, "guid-1"))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    # The delivery id is not signed: the same signed body under another id is the same delivery.
    replay = _post_unauthenticated(hooks, "/v1/webhooks/github/wh-gh?topic=go", body, github_headers(body, "guid-2"))
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    other = b'{"action": "reopened"}'
    new = _post_unauthenticated(hooks, "/v1/webhooks/github/wh-gh?topic=go", other, github_headers(other, "guid-3"))
    assert new.status_code == 409 and new.json()["error"]["code"] == "workflow_finished"


def test_verified_delivery_to_an_unknown_workflow_is_404(hooks: TestClient) -> None:
    body = b'{"status": "paid"}'
    r = _post_unauthenticated(hooks, "/v1/webhooks/github/ghost", body, github_headers(body, "guid-x"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_payload_route_without_a_workflow_id_is_422(hooks: TestClient) -> None:
    body = b'{"type": "ping"}'
    r = _post_unauthenticated(hooks, "/v1/webhooks/github", body, github_headers(body, "guid-p"))
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "workflow_id"


def test_signed_non_json_body_is_400_and_an_undeclared_media_type_415(hooks: TestClient) -> None:
    body = b"not json"
    r = _post_unauthenticated(hooks, "/v1/webhooks/github/x", body, github_headers(body, "guid-n"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    headers = {**github_headers(body, "guid-n"), "content-type": "text/plain"}
    r = _post_unauthenticated(hooks, "/v1/webhooks/github/x", body, headers)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_long_delivery_ids_are_hashed_into_the_key_pattern() -> None:
    assert idempotency_key("github", "abc") == "webhook:github:abc"
    hashed = idempotency_key("github", "x" * 500)
    assert hashed.startswith("webhook:github:sha256:") and len(hashed) < 100


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "payment_intent.succeeded"}, "succeeded"),
        ({"type": "checkout.session.expired"}, "canceled"),
        ({"type": "payment_intent.created", "data": {"object": {"status": "requires_payment_method"}}}, "pending"),
        ({"data": {"object": {"status": "paid"}}}, "succeeded"),
        ({"status": "Cancelled"}, "canceled"),
        ({"status": "declined"}, "failed"),
        ("succeeded", "pending"),
        (None, "pending"),
    ],
)
def test_payment_status_reads_stripe_events_and_plain_objects(message: Any, expected: str) -> None:
    assert payment_status(message) == expected
