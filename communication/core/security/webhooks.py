"""Signed inbound webhooks: verify a delivery, then send its payload to a workflow exactly once.

Three schemes, each verified over the raw body with a constant-time comparison and any of several active
secrets (so secrets can be rotated without dropping deliveries):

* ``standard`` — Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``
  (space-separated list) of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``; secrets ``whsec_<base64 key>``.
* ``stripe`` — ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`` of HMAC-SHA256 over ``"{t}.{body}"``; the
  secret string itself is the key.
* ``github`` — ``X-Hub-Signature-256: sha256=<hex>`` of HMAC-SHA256 over the body. GitHub signs neither a
  timestamp nor its ``X-GitHub-Delivery`` id.

Replay protection: the message's idempotency key (``webhook:<scheme>:<id>``) is derived **only from signed
content**, never from an unsigned header, so re-sending a captured request with other headers cannot make it new:

* ``standard``: the signed ``webhook-id``; replays are also bounded by the signed timestamp's window;
* ``stripe``: the event ``id`` from the signed body, else ``sha256(t "." body)`` over the *parsed* signed
  timestamp (not the header's text, whose field order or spacing an attacker could vary); replays outside
  ``webhook_tolerance_seconds`` are refused outright;
* ``github``: ``sha256(body)`` — the same signed body is one delivery, whatever ``X-GitHub-Delivery`` says
  (which is only reported back). Nothing bounds a GitHub replay in time, so the dedup window is the life of the
  destination workflow's message history (DBOS keeps consumed messages): a replay is ``duplicate`` for as long as
  the workflow exists, and refused (409) once it has finished, unless it was delivered before.

A redelivery is acknowledged as ``duplicate`` and nothing is stored twice, also after the workflow has finished.
The route's ``{workflow_id}`` is not signed: to bind the target to the signature, name it in the payload.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, Field

from communication.adapter import store
from communication.core.messages import MessageService
from communication.core.ops.metrics import WEBHOOK_REJECTIONS
from communication.core.security.credentials import Clock
from communication.core.settings import Settings
from communication.protocol.errors import (
    CommError,
    MalformedJSON,
    ValidationFailed,
    WebhookNotConfigured,
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampOutOfWindow,
    WorkflowFinished,
)
from communication.protocol.validation import check_key, check_workflow_id, matches, parse_json

Scheme = Literal["standard", "stripe", "github"]
SCHEMES: tuple[Scheme, ...] = ("standard", "stripe", "github")

#: Topic a delivery is sent on when the route names none. ``standard`` feeds the approval workflow's topic.
DEFAULT_TOPICS: dict[Scheme, str] = {"standard": "notification", "stripe": "payment", "github": "github"}

_DELIVERY_ID_RE = re.compile(r"^[\x21-\x7e]{1,150}$")


class WebhookResult(BaseModel):
    """The answer to a verified delivery (any 2xx tells the provider to stop retrying)."""

    scheme: Scheme
    delivery_id: str = Field(
        description="The provider's delivery id (GitHub: X-GitHub-Delivery, reported only), else the signed id the "
        "message idempotency key is derived from."
    )
    workflow_id: str
    topic: str
    outcome: Literal["delivered", "duplicate"] = Field(
        description="'delivered': sent to the workflow now; 'duplicate': this signed delivery was already delivered."
    )


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _standard_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise ValueError("a Standard Webhooks secret must be 'whsec_' followed by base64") from exc


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for a Standard Webhooks delivery (for senders and tests)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac(_standard_key(secret), signed)).decode()


def _any_match(expected: list[bytes], presented: list[bytes]) -> bool:
    # Compare every pair, without short-circuiting, so timing says nothing about which secret matched.
    results = [hmac.compare_digest(e, p) for e in expected for p in presented]
    return any(results)


def _parse_timestamp(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise WebhookSignatureInvalid("the signed timestamp is not a unix time in seconds")
    return int(raw)


@dataclass(frozen=True)
class Verified:
    """What a verified delivery carries besides its body."""

    signed_id: str | None = None  # standard: webhook-id (covered by the signature)
    timestamp: int | None = None  # stripe: the signed t=
    reported_id: str | None = None  # github: X-GitHub-Delivery (NOT signed: reported only)


class WebhookVerifier:
    """Verifies deliveries against the secrets configured in :class:`Settings`."""

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        self._standard = [_standard_key(s) for s in settings.webhook_secrets_standard]
        self._stripe = [s.encode() for s in settings.webhook_secrets_stripe]
        self._github = [s.encode() for s in settings.webhook_secrets_github]
        self._tolerance = settings.webhook_tolerance_seconds
        self._clock = clock

    def _check_window(self, timestamp: int) -> None:
        skew = abs(self._clock() - timestamp)
        if skew > self._tolerance:
            raise WebhookTimestampOutOfWindow(
                f"the signed timestamp is {skew:.0f} s from now (tolerance {self._tolerance:g} s)",
                timestamp=timestamp,
                tolerance_seconds=self._tolerance,
            )

    def verify(self, scheme: Scheme, headers: Mapping[str, str], body: bytes) -> Verified:
        """Check a delivery's signature (and timestamp, where the scheme signs one).

        Args:
            headers: request headers with lower-case names.

        Returns:
            What was signed besides the body (the Standard Webhooks id, the Stripe timestamp) and the unsigned
            GitHub delivery id (reported, never used for deduplication).

        Raises:
            WebhookNotConfigured, WebhookSignatureMissing, WebhookSignatureInvalid, WebhookTimestampOutOfWindow.
        """
        try:
            if scheme == "standard":
                return Verified(signed_id=self._verify_standard(headers, body))
            if scheme == "stripe":
                return Verified(timestamp=self._verify_stripe(headers, body))
            return Verified(reported_id=self._verify_github(headers, body))
        except CommError as exc:
            WEBHOOK_REJECTIONS.labels(reason=exc.code).inc()
            raise

    def _verify_standard(self, headers: Mapping[str, str], body: bytes) -> str:
        if not self._standard:
            raise WebhookNotConfigured("no Standard Webhooks secret is configured", scheme="standard")
        msg_id, raw_ts, header = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not msg_id or not raw_ts or not header:
            raise WebhookSignatureMissing(
                "webhook-id, webhook-timestamp and webhook-signature are required",
                required=["webhook-id", "webhook-timestamp", "webhook-signature"],
            )
        timestamp = _parse_timestamp(raw_ts)
        presented = []
        for part in header.split():
            version, _, value = part.partition(",")
            if version == "v1" and value.isascii():
                presented.append(value.encode())
        signed = f"{msg_id}.{raw_ts}.".encode() + body
        expected = [base64.b64encode(_hmac(key, signed)) for key in self._standard]
        if not _any_match(expected, presented):
            raise WebhookSignatureInvalid("signature does not match", scheme="standard")
        self._check_window(timestamp)
        return msg_id

    def _verify_stripe(self, headers: Mapping[str, str], body: bytes) -> int:
        if not self._stripe:
            raise WebhookNotConfigured("no Stripe signing secret is configured", scheme="stripe")
        header = headers.get("stripe-signature")
        if not header:
            raise WebhookSignatureMissing("Stripe-Signature is required", required=["stripe-signature"])
        fields: dict[str, list[str]] = {}
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            fields.setdefault(name, []).append(value)
        if "t" not in fields or not fields.get("v1"):
            raise WebhookSignatureInvalid("Stripe-Signature needs t= and v1=", scheme="stripe")
        raw_ts = fields["t"][0]
        timestamp = _parse_timestamp(raw_ts)
        signed = f"{raw_ts}.".encode() + body
        expected = [_hmac(key, signed).hex().encode() for key in self._stripe]
        presented = [v.encode() for v in fields["v1"] if v.isascii()]
        if not _any_match(expected, presented):
            raise WebhookSignatureInvalid("signature does not match", scheme="stripe")
        self._check_window(timestamp)
        return timestamp

    def _verify_github(self, headers: Mapping[str, str], body: bytes) -> str | None:
        if not self._github:
            raise WebhookNotConfigured("no GitHub webhook secret is configured", scheme="github")
        header = headers.get("x-hub-signature-256")
        if not header:
            raise WebhookSignatureMissing("X-Hub-Signature-256 is required", required=["x-hub-signature-256"])
        prefix, _, value = header.partition("=")
        if prefix != "sha256" or not value.isascii():
            raise WebhookSignatureInvalid("X-Hub-Signature-256 must be sha256=<hex>", scheme="github")
        expected = [_hmac(key, body).hex().encode() for key in self._github]
        if not _any_match(expected, [value.lower().encode()]):
            raise WebhookSignatureInvalid("signature does not match", scheme="github")
        return headers.get("x-github-delivery") or None


def decode_payload(body: bytes, content_type: str, max_depth: int) -> Any:
    """The delivered JSON value. GitHub's form encoding (``payload=<json>``) is accepted too.

    Raises:
        MalformedJSON: not JSON, or nested deeper than ``max_depth``.
    """
    text: bytes | str = body
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=100)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedJSON("the webhook form body is not valid", reason=str(exc)[:200]) from None
        text = (fields.get("payload") or [""])[0]
    return parse_json(text, max_depth)


def _dig(value: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def workflow_id_from_payload(payload: Any) -> str:
    """The target workflow named inside a signed payload: ``workflow_id``, ``metadata.workflow_id`` or
    ``data.object.metadata.workflow_id`` (where Stripe keeps an object's metadata).

    Raises:
        ValidationFailed: none found, or not a valid workflow id.
    """
    for path in (("workflow_id",), ("metadata", "workflow_id"), ("data", "object", "metadata", "workflow_id")):
        found = _dig(payload, *path)
        if isinstance(found, str):
            return check_workflow_id(found)
    raise ValidationFailed(
        "no workflow id in the route or the payload (workflow_id, metadata.workflow_id, "
        "data.object.metadata.workflow_id)",
        field="workflow_id",
    )


def idempotency_key(scheme: Scheme, delivery_id: str) -> str:
    """The message idempotency key of a delivery (long or unusual ids are hashed to stay within the pattern)."""
    if not matches(_DELIVERY_ID_RE, delivery_id):
        delivery_id = "sha256:" + hashlib.sha256(delivery_id.encode()).hexdigest()
    return f"webhook:{scheme}:{delivery_id}"


class WebhookService:
    """Verify, decode and deliver webhooks as messages."""

    def __init__(self, verifier: WebhookVerifier, messages: MessageService, max_json_depth: int) -> None:
        self._verifier = verifier
        self._messages = messages
        self._max_depth = max_json_depth

    async def deliver(
        self,
        scheme: Scheme,
        headers: Mapping[str, str],
        body: bytes,
        workflow_id: str | None = None,
        topic: str | None = None,
    ) -> WebhookResult:
        """Verify the delivery, then send its JSON payload to the workflow on ``topic`` exactly once.

        Args:
            headers: request headers with lower-case names.
            workflow_id: from the route; ``None`` takes it from the signed payload.
            topic: from the route; ``None`` means ``DEFAULT_TOPICS[scheme]``.

        Raises:
            The verification errors of :meth:`WebhookVerifier.verify` (nothing is delivered), MalformedJSON,
            ValidationFailed, WorkflowNotFound, WorkflowFinished (only for a delivery not seen before).
        """
        verified = self._verifier.verify(scheme, headers, body)
        payload = decode_payload(body, headers.get("content-type", ""), self._max_depth)
        dedup_id = signed_delivery_id(scheme, verified, payload, body)
        delivery_id = verified.reported_id or dedup_id
        target = check_workflow_id(workflow_id) if workflow_id else workflow_id_from_payload(payload)
        chosen_topic = check_key(topic or DEFAULT_TOPICS[scheme], "topic")
        key = idempotency_key(scheme, dedup_id)
        try:
            sent = await self._messages.send(target, payload, chosen_topic, key)
        except WorkflowFinished:
            # A provider retrying a delivery we already took must get its 2xx, or it retries for days.
            if await asyncio.to_thread(store.message_sent, target, key):
                return WebhookResult(
                    scheme=scheme, delivery_id=delivery_id, workflow_id=target, topic=chosen_topic, outcome="duplicate"
                )
            raise
        return WebhookResult(
            scheme=scheme, delivery_id=delivery_id, workflow_id=target, topic=chosen_topic, outcome=sent.outcome
        )


def signed_delivery_id(scheme: Scheme, verified: Verified, payload: Any, body: bytes) -> str:
    """The delivery's identity, derived only from what the signature covers (see the module docstring)."""
    if scheme == "standard" and verified.signed_id:
        return verified.signed_id
    if scheme == "stripe":
        event_id = _dig(payload, "id")
        if isinstance(event_id, str) and event_id:
            return event_id
        return "sha256:" + hashlib.sha256(f"{verified.timestamp}.".encode() + body).hexdigest()
    return "sha256:" + hashlib.sha256(body).hexdigest()
