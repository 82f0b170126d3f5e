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
#: A workflow nobody stops ends by itself after this many quotes (with the default 5-30 s sleeps: at most
#: 50 minutes). Callers may ask for more, up to :data:`MAX_ITERATIONS`, but never for "forever".
DEFAULT_MAX_ITERATIONS = 100
MAX_ITERATIONS = 1_000_000
#: While a stream is quiet (the workflow sleeps), the seed route sends a computed ``progress_update`` this often,
#: as the seed's server did: clients with a 5 s read timeout (httpx's default) never see a silent gap.
PROGRESS_INTERVAL_SECONDS = 0.5


class MontyInput(BaseModel):
    """Input of the ``monty_python`` workflow."""

    # The 10 ms floor bounds an unstopped workflow to ~100 iterations/s: a zero sleep would be a hot loop of writes.
    min_sleep_seconds: float = Field(5.0, ge=MIN_SLEEP, le=MAX_SLEEP, description="Shortest sleep per iteration.")
    max_sleep_seconds: float = Field(30.0, ge=MIN_SLEEP, le=MAX_SLEEP, description="Longest sleep per iteration.")
    max_iterations: int = Field(
        DEFAULT_MAX_ITERATIONS,
        ge=1,
        le=MAX_ITERATIONS,
        description="Finish by itself after this many quotes (a workflow nobody stops must not run forever).",
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        # Inputs recorded before the bound existed say ``null`` ("until stopped"): they get the default bound.
        if isinstance(data, dict) and data.get("max_iterations", 0) is None:
            return {**data, "max_iterations": DEFAULT_MAX_ITERATIONS}
        return data

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


def is_delivery(state: dict[str, Any]) -> bool:
    """Whether ``state`` is the one that delivers its ``current_quote`` (frames show the quote only then)."""
    return str(state.get("status", "")).startswith("delivered_quote_")


def sleep_progress(state: dict[str, Any], now: float) -> int:
    """Percent of the current sleep that has passed at ``now`` (0-99), from the state alone; else its ``progress``.

    Lets a stream send progress while the workflow sleeps without reading the database: the state carries the
    sleep's length and end.
    """
    until, seconds = state.get("sleep_until"), state.get("sleep_seconds")
    if until is None or not seconds:
        return int(state.get("progress", 0))
    started = until - seconds
    return max(0, min(99, int((now - started) / seconds * 100)))
