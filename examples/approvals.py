"""A refund that needs a person's approval, escalated to a manager when nobody answers in time.

Run (from the repository root)::

    python server.py --workflows examples.approvals

    wfc start refund --input '{"order_id": "A-42", "amount": 120, "first_wait_seconds": 60}' -w refund-1
    wfc inbox                                   # the request, with its signed link
    wfc answer refund-1 refund '{"approved": true, "comment": "ok"}'
    wfc result refund-1

Or answer from the dashboard's Inbox (``/ui/#/inbox``) or the signed link (no API key needed). If nobody answers
within ``first_wait_seconds``, ``ask`` returns a ``Timeout`` and the workflow asks again, now of a manager; the
inbox then shows the escalated request.
"""

from __future__ import annotations

from dbos import DBOS
from pydantic import BaseModel, Field

from communication import Timeout, ask, workflow_type


class RefundDecision(BaseModel):
    """What the approver answers (its JSON schema drives every answer form)."""

    approved: bool = Field(description="Refund the customer?")
    amount: float | None = Field(None, ge=0, description="A different amount to refund (default: all).")
    comment: str = Field("", max_length=500)


@DBOS.step()
async def pay_refund(order_id: str, amount: float) -> str:
    """Stands in for the payment provider's call."""
    return f"refunded {amount:.2f} for order {order_id}"


@workflow_type(description="Refund an order once a person approves; escalate to a manager on timeout.")
async def refund(
    order_id: str,
    amount: float,
    first_wait_seconds: float = 3600,
    manager_wait_seconds: float = 86400,
) -> dict[str, object]:
    """Ask support first; when they do not answer in time, ask a manager; when nobody does, give up."""
    prompt = f"Refund {amount:.2f} for order {order_id}?"
    decision = await ask(
        "refund", RefundDecision, prompt=prompt, timeout_seconds=first_wait_seconds, assignees=["support"]
    )
    if isinstance(decision, Timeout):
        await DBOS.set_event_async("status", "escalated")
        decision = await ask(
            "refund",
            RefundDecision,
            prompt=f"Escalated: {prompt}",
            timeout_seconds=manager_wait_seconds,
            assignees=["manager"],
        )
    if isinstance(decision, Timeout):
        return {"order_id": order_id, "outcome": "no_decision"}
    if not decision.approved:
        return {"order_id": order_id, "outcome": "rejected", "comment": decision.comment}
    receipt = await pay_refund(order_id, amount if decision.amount is None else decision.amount)
    return {"order_id": order_id, "outcome": "refunded", "receipt": receipt, "comment": decision.comment}
