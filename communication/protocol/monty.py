"""The seed's Monty Python contract: the type name, its input, its state event and stop topic.

Shared by the ``monty_python`` workflow (:mod:`workflows.monty_workflow`) and the seed route ``GET /monty/stream``,
which starts it by name: the HTTP layer never imports a workflow module.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

TYPE_NAME = "monty_python"
#: Event holding the workflow's current state (a JSON object, see :func:`initial_state`).
STATE_EVENT = "state"
#: Topic of the stop message (any payload).
STOP_TOPIC = "stop"
#: Bounds of the sleep range, in seconds.
MIN_SLEEP = 0.01
MAX_SLEEP = 86_400.0


class MontyInput(BaseModel):
    """Input of the ``monty_python`` workflow."""

    # The 10 ms floor bounds an unstopped workflow to ~100 iterations/s: a zero sleep would be a hot loop of writes.
    min_sleep_seconds: float = Field(5.0, ge=MIN_SLEEP, le=MAX_SLEEP, description="Shortest sleep per iteration.")
    max_sleep_seconds: float = Field(30.0, ge=MIN_SLEEP, le=MAX_SLEEP, description="Longest sleep per iteration.")
    max_iterations: int | None = Field(
        None, ge=1, le=1_000_000, description="Finish by itself after this many quotes. Unset: run until stopped."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_sleep_seconds > self.max_sleep_seconds:
            raise ValueError("min_sleep_seconds must not exceed max_sleep_seconds")
        return self


def initial_state(started_at: float) -> dict[str, Any]:
    """The state published before the first sleep. Every later state has the same keys."""
    return {
        "status": "started",
        "iteration": 0,
        "quotes_delivered": 0,
        "current_quote": None,
        "progress": 0,  # 0 while sleeping, 100 once the iteration's quote is delivered
        "sleep_seconds": None,
        "sleep_until": None,  # epoch seconds; lets a UI animate a progress bar without more events
        "started_at": started_at,
        "updated_at": started_at,
        "stopped": False,
    }
