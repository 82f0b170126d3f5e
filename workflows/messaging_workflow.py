"""The seed's ``messaging`` (approval) workflow: wait for a decision message, then run or cancel."""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import APPROVAL_LINK_EVENT, publish_callback_link, registry
from communication.protocol.names import NOTIFICATION_TOPIC, PROGRESS_EVENT, STATUS_EVENT
from workflows.steps import compute_fibonacci


class MessagingInput(BaseModel):
    """Input of the ``messaging`` workflow."""

    n_steps: int = Field(3, ge=1, le=1000, description="Steps to run once approved.")
    timeout_seconds: float = Field(
        300.0, gt=0, le=7 * 24 * 3600, description="How long to wait for the approval message."
    )
    topic: str = Field(NOTIFICATION_TOPIC, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$")
    callback_link: bool = Field(
        False,
        description=f"Publish a single-use approval link as event '{APPROVAL_LINK_EVENT}', valid while it waits.",
    )


def _decision(message: Any) -> tuple[bool, str]:
    """Read ``{"approved": bool, "message": str}``; anything else counts as a rejection with a reason."""
    if isinstance(message, dict):
        approved = message.get("approved") is True
        text = message.get("message") or message.get("reason") or ""
        return approved, str(text)
    return False, f"unrecognised approval message: {message!r}"


@registry.register(
    "messaging",
    MessagingInput,
    "Waits for an approval message on topic 'notification' ({approved, message}); runs n steps if approved.",
)
async def messaging_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Wait (durably) for approval; approved → compute the steps, rejected or timed out → cancelled."""
    p = MessagingInput.model_validate(params)
    if p.callback_link:
        # Before announcing the wait, so a client that sees 'waiting_for_approval' can already read the link.
        await publish_callback_link(
            p.topic,
            prompt=f"Approve running {p.n_steps} step(s) of workflow {DBOS.workflow_id}?",
            ttl_seconds=p.timeout_seconds,
        )
    await DBOS.set_event_async(STATUS_EVENT, "waiting_for_approval")
    message = await DBOS.recv_async(topic=p.topic, timeout_seconds=p.timeout_seconds)
    if message is None:
        await DBOS.set_event_async(STATUS_EVENT, "cancelled")
        return {"status": "cancelled", "reason": f"no approval within {p.timeout_seconds:g} seconds"}
    approved, text = _decision(message)
    if not approved:
        await DBOS.set_event_async(STATUS_EVENT, "cancelled")
        return {"status": "cancelled", "reason": text or "rejected"}
    await DBOS.set_event_async(STATUS_EVENT, "approved")
    results: list[dict[str, int]] = []
    for i in range(1, p.n_steps + 1):
        results.append({"n": i, "fibonacci": await compute_fibonacci(i)})
        await DBOS.set_event_async(PROGRESS_EVENT, round(i * 100 / p.n_steps))
    await DBOS.set_event_async(STATUS_EVENT, "completed")
    return {"status": "completed", "approval_message": text, "results": results}
