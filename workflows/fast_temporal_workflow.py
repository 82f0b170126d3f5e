"""The ``fast_temporal`` demo workflow (seed: fast-temporal's WebSocket demo, now on DBOS).

Three named steps - ``validate_input``, ``process_data``, ``finalize`` - over the arguments a client sent
(``{"args": {...}}`` on ``WS /ws/{user_id}``). The steps are :func:`~communication.kit.step_status.tracked_step`\\ s,
so their Running / Completed / Failed records land on stream ``step_status`` with no status code in the
workflow itself. ``fail_step`` makes one step raise, to exercise the failure path.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from dbos import DBOS
from pydantic import BaseModel, ConfigDict, Field

from communication.kit import registry, tracked_step
from communication.protocol.names import FAST_TEMPORAL_TYPE

TYPE_NAME = FAST_TEMPORAL_TYPE
STEP_NAMES = ("validate_input", "process_data", "finalize")
StepName = Literal["validate_input", "process_data", "finalize"]


class FastTemporalInput(BaseModel):
    """Input of the ``fast_temporal`` workflow. Unknown fields are kept and echoed (seed args are free-form)."""

    model_config = ConfigDict(extra="allow")

    text: str = Field("", max_length=100_000, description="Text to analyse (words, characters).")
    numbers: list[float] = Field(default_factory=list, max_length=100_000, description="Numbers to summarise.")
    fail_step: StepName | None = Field(None, description="Make this step raise (tests, demos of the Failed path).")
    step_delay_seconds: float = Field(0.0, ge=0.0, le=60.0, description="Durable pause before each step.")


class RequestedFailure(RuntimeError):
    """Raised by a step named in ``fail_step``."""


def _maybe_fail(step: str, fail_step: str | None) -> None:
    if step == fail_step:
        raise RequestedFailure(f"step {step!r} failed as requested (fail_step)")


@tracked_step("validate_input")
async def validate_input(params: dict[str, Any]) -> dict[str, Any]:
    """Normalise the input: strip the text, keep the numbers and any extra fields."""
    p = FastTemporalInput.model_validate(params)
    _maybe_fail("validate_input", p.fail_step)
    return {"text": p.text.strip(), "numbers": p.numbers, "extra": dict(p.model_extra or {})}


@tracked_step("process_data")
async def process_data(data: dict[str, Any], fail_step: str | None) -> dict[str, Any]:
    """The "real work": word and character counts, and a summary of the numbers."""
    _maybe_fail("process_data", fail_step)
    text: str = data["text"]
    numbers: list[float] = data["numbers"]
    return {
        "words": len(text.split()),
        "characters": len(text),
        "upper": text.upper(),
        "count": len(numbers),
        "sum": sum(numbers),
        "mean": sum(numbers) / len(numbers) if numbers else None,
    }


@tracked_step("finalize")
async def finalize(data: dict[str, Any], processed: dict[str, Any], fail_step: str | None) -> dict[str, Any]:
    """Assemble the result (timestamped inside the step, so a replay returns the recorded time)."""
    _maybe_fail("finalize", fail_step)
    return {
        "summary": f"processed {processed['words']} words and {processed['count']} numbers",
        "processed": processed,
        "extra": data["extra"],
        "finished_at": time.time(),
    }


@registry.register(
    TYPE_NAME,
    FastTemporalInput,
    "Seed demo (fast-temporal): steps validate_input, process_data, finalize over the client's args; each step's "
    "Running/Completed/Failed status goes to stream 'step_status'. fail_step makes one step raise.",
)
async def fast_temporal_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Run the three steps; a failed step fails the workflow (after its Failed record)."""
    p = FastTemporalInput.model_validate(params)

    async def pause() -> None:
        if p.step_delay_seconds:
            await DBOS.sleep_async(p.step_delay_seconds)

    await pause()
    data = await validate_input(params)
    await pause()
    processed = await process_data(data, p.fail_step)
    await pause()
    return await finalize(data, processed, p.fail_step)
