"""The ``payment`` workflow: wait for the payment provider's verdict on topic ``payment``, then complete or cancel.

Deliveries usually arrive as signed webhooks (``POST /v1/webhooks/stripe/{workflow_id}`` sends on ``payment`` by
default). Providers also send intermediate events (``processing``, ``requires_action``); those are recorded and
the workflow keeps waiting until a final status or its deadline.
"""

from __future__ import annotations

from typing import Any, Literal

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import registry
from communication.protocol.names import STATUS_EVENT
from workflows.steps import now

PAYMENT_TOPIC = "payment"
#: Event holding the last provider status seen (``{"status", "event_id", "event_type"}``).
PAYMENT_EVENT = "payment"
#: Bound on intermediate events per workflow, so a chatty provider cannot grow the history forever.
MAX_PAYMENT_EVENTS = 100

PaymentStatus = Literal["succeeded", "failed", "canceled", "pending"]

_EVENT_TYPES: dict[str, PaymentStatus] = {
    "payment_intent.succeeded": "succeeded",
    "charge.succeeded": "succeeded",
    "checkout.session.completed": "succeeded",
    "checkout.session.async_payment_succeeded": "succeeded",
    "invoice.paid": "succeeded",
    "payment_intent.payment_failed": "failed",
    "charge.failed": "failed",
    "checkout.session.async_payment_failed": "failed",
    "invoice.payment_failed": "failed",
    "payment_intent.canceled": "canceled",
    "checkout.session.expired": "canceled",
}
_STATUSES: dict[str, PaymentStatus] = {
    "succeeded": "succeeded",
    "paid": "succeeded",
    "completed": "succeeded",
    "failed": "failed",
    "declined": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "expired": "canceled",
}


class PaymentInput(BaseModel):
    """Input of the ``payment`` workflow."""

    amount_cents: int = Field(1000, ge=1, le=10**12, description="Amount awaited, in the currency's minor unit.")
    currency: str = Field("usd", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case.")
    timeout_seconds: float = Field(3600.0, gt=0, le=30 * 24 * 3600, description="How long to wait for a verdict.")
    topic: str = Field(PAYMENT_TOPIC, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$")


def payment_status(message: Any) -> PaymentStatus:
    """The provider's verdict in a delivery: a Stripe-style event (``type``, ``data.object.status``) or a plain
    ``{"status": ...}`` object. Anything unrecognised is ``pending`` (keep waiting)."""
    if not isinstance(message, dict):
        return "pending"
    event_type = message.get("type")
    if isinstance(event_type, str) and event_type in _EVENT_TYPES:
        return _EVENT_TYPES[event_type]
    data = message.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    for candidate in (obj.get("status") if isinstance(obj, dict) else None, message.get("status")):
        if isinstance(candidate, str) and candidate.lower() in _STATUSES:
            return _STATUSES[candidate.lower()]
    return "pending"


@registry.register(
    "payment",
    PaymentInput,
    "Waits on topic 'payment' for the provider's verdict (e.g. a signed Stripe webhook); completes when paid, "
    "cancels when failed, canceled or timed out.",
)
async def payment_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Wait (durably, up to ``timeout_seconds``) for a final payment status."""
    p = PaymentInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "awaiting_payment")
    deadline = await now() + p.timeout_seconds
    for _ in range(MAX_PAYMENT_EVENTS):
        remaining = deadline - await now()  # a step: replays wait for what was left, not the full timeout
        message = await DBOS.recv_async(topic=p.topic, timeout_seconds=max(remaining, 0.0))
        if message is None:
            break
        status = payment_status(message)
        event_id = message.get("id") if isinstance(message, dict) else None
        event_type = message.get("type") if isinstance(message, dict) else None
        await DBOS.set_event_async(PAYMENT_EVENT, {"status": status, "event_id": event_id, "event_type": event_type})
        if status == "succeeded":
            await DBOS.set_event_async(STATUS_EVENT, "paid")
            return {"status": "completed", "amount_cents": p.amount_cents, "currency": p.currency, "event_id": event_id}
        if status in ("failed", "canceled"):
            await DBOS.set_event_async(STATUS_EVENT, "cancelled")
            return {"status": "cancelled", "reason": f"payment {status}", "event_id": event_id}
    else:  # every allowed delivery was non-final
        await DBOS.set_event_async(STATUS_EVENT, "cancelled")
        return {"status": "cancelled", "reason": f"no final status after {MAX_PAYMENT_EVENTS} payment events"}
    await DBOS.set_event_async(STATUS_EVENT, "cancelled")
    return {"status": "cancelled", "reason": f"no final payment status within {p.timeout_seconds:g} seconds"}
