"""The seed's ``events`` workflow: n Fibonacci steps, publishing status, progress and result as events."""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import registry
from communication.protocol.names import PROGRESS_EVENT, RESULT_EVENT, STATUS_EVENT
from workflows.steps import compute_fibonacci


class EventsInput(BaseModel):
    """Input of the ``events`` workflow."""

    n_steps: int = Field(3, ge=1, le=1000, description="Number of Fibonacci steps.")
    step_delay_seconds: float = Field(
        0.0, ge=0.0, le=60.0, description="Durable pause after each step (makes progress observable)."
    )


@registry.register(
    "events",
    EventsInput,
    "Computes n Fibonacci numbers; publishes status, progress (0-100) and result events.",
)
async def events_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Run ``n_steps`` steps, setting ``status`` / ``progress`` after each and ``result`` at the end."""
    p = EventsInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "started")
    await DBOS.set_event_async(PROGRESS_EVENT, 0)
    results: list[dict[str, int]] = []
    for i in range(1, p.n_steps + 1):
        await DBOS.set_event_async(STATUS_EVENT, f"processing_step_{i}")
        results.append({"n": i, "fibonacci": await compute_fibonacci(i)})
        await DBOS.set_event_async(PROGRESS_EVENT, round(i * 100 / p.n_steps))
        if p.step_delay_seconds:
            await DBOS.sleep_async(p.step_delay_seconds)
    result = {
        "total_steps": p.n_steps,
        "total_fibonacci": sum(r["fibonacci"] for r in results),
        "results": results,
    }
    await DBOS.set_event_async(RESULT_EVENT, result)
    await DBOS.set_event_async(STATUS_EVENT, "completed")
    return result
