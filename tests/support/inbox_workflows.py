"""``inbox_ask``: a workflow that asks a person for a typed answer (``communication.kit.ask``), for the inbox tests.

Loaded in-process by importing this module, and by a real server with ``--workflows tests.support.inbox_workflows``
(``COMM_WORKFLOWS``). The result says which branch ran: ``{"answered": <answer>}`` or ``{"timeout": <deadline>}``.
"""

from __future__ import annotations

from enum import StrEnum

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import Timeout, ask, workflow_type

ASK_TOPIC = "decision"


class Priority(StrEnum):
    """How urgent the refund is."""

    low = "low"
    high = "high"


class Decision(BaseModel):
    """The answer a person gives."""

    approved: bool
    amount: int = Field(ge=0, le=1000, description="Amount to refund.")
    priority: Priority = Priority.low
    note: str = Field("", max_length=200)


@workflow_type(description="Test only: ask for a Decision on topic 'decision', then finish with it or a timeout.")
async def inbox_ask(
    prompt: str = "Refund order 42?",
    timeout_seconds: float = 300.0,
    assignees: list[str] | None = None,
    link: bool = True,
) -> dict[str, object]:
    await DBOS.set_event_async("status", "asking")
    answer = await ask(
        ASK_TOPIC, Decision, prompt=prompt, timeout_seconds=timeout_seconds, assignees=assignees, link=link
    )
    if isinstance(answer, Timeout):
        return {"timeout": answer.deadline.isoformat(), "seq": answer.seq}
    return {"answered": answer.model_dump(mode="json")}
