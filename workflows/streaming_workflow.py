"""The seed's ``streaming`` workflow: 2n+2 timestamped messages on stream ``progress_stream``, then close."""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import registry
from communication.protocol.names import PROGRESS_STREAM, STATUS_EVENT
from workflows.steps import compute_fibonacci, now


class StreamingInput(BaseModel):
    """Input of the ``streaming`` workflow."""

    n_steps: int = Field(3, ge=1, le=10_000, description="Steps; the stream gets 2n+2 values.")
    step_delay_seconds: float = Field(0.0, ge=0.0, le=60.0, description="Durable pause after each step.")


@registry.register(
    "streaming",
    StreamingInput,
    "Writes start, per-step progress and result, and complete messages to 'progress_stream', then closes it.",
)
async def streaming_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Stream progress; the stream is closed at the end so readers see a clean terminal state."""
    p = StreamingInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "streaming")
    await DBOS.write_stream_async(
        PROGRESS_STREAM,
        {"type": "start", "message": f"Starting {p.n_steps} steps", "timestamp": await now()},
    )
    total = 0
    for i in range(1, p.n_steps + 1):
        await DBOS.write_stream_async(
            PROGRESS_STREAM,
            {
                "type": "progress",
                "step": i,
                "total_steps": p.n_steps,
                "progress": round(i * 100 / p.n_steps),
                "message": f"Processing step {i}/{p.n_steps}",
                "timestamp": await now(),
            },
        )
        value = await compute_fibonacci(i)
        total += value
        await DBOS.write_stream_async(
            PROGRESS_STREAM,
            {"type": "result", "step": i, "result": value, "timestamp": await now()},
        )
        if p.step_delay_seconds:
            await DBOS.sleep_async(p.step_delay_seconds)
    await DBOS.write_stream_async(
        PROGRESS_STREAM,
        {
            "type": "complete",
            "message": f"Completed {p.n_steps} steps",
            "total_fibonacci": total,
            "timestamp": await now(),
        },
    )
    await DBOS.close_stream_async(PROGRESS_STREAM)
    await DBOS.set_event_async(STATUS_EVENT, "completed")
    return {"status": "completed", "total_steps": p.n_steps, "stream_values": 2 * p.n_steps + 2}
