"""Durable session streams for external producers (not DBOS workflows).

A session is a workflow that turns messages posted by producers into its stream ``events``, in arrival order,
exactly once: ``recv`` consumes each message in a recorded step and the workflow writes it to the stream
(workflow stream writes are exactly-once), so a crash anywhere loses and repeats nothing. An event of type
``done`` or ``timeout`` closes the stream; so does an idle period without posts.
"""

from __future__ import annotations

import time
from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.core.registry import registry
from communication.protocol.names import STATUS_EVENT

SESSION_TOPIC = "session_event"
SESSION_STREAM = "events"
CLOSING_TYPES = frozenset({"done", "timeout"})


@DBOS.step(name="session_clock")
async def now() -> float:
    """Wall-clock time as a step, so a replay sees the recorded timestamp."""
    return time.time()


def session_workflow_id(session_id: str) -> str:
    """The workflow id that backs a session (sessions and workflows share one id space)."""
    return f"session:{session_id}"


class SessionInput(BaseModel):
    """Input of the ``session`` workflow."""

    idle_timeout_seconds: float = Field(300.0, gt=0, le=7 * 24 * 3600, description="Close after this long idle.")


@registry.register(
    "session",
    SessionInput,
    "Durable session stream: events posted by external producers, in order, exactly once; 'done' closes it.",
)
async def session_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Relay posted events into stream ``events`` until ``done``/``timeout`` or the idle timeout."""
    p = SessionInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "open")
    count = 0
    while True:
        event = await DBOS.recv_async(SESSION_TOPIC, timeout_seconds=p.idle_timeout_seconds)
        if event is None:
            event = {
                "type": "timeout",
                "data": {"reason": "idle", "idle_seconds": p.idle_timeout_seconds},
                "id": None,
                "timestamp": await now(),
            }
        await DBOS.write_stream_async(SESSION_STREAM, event)
        count += 1
        if event.get("type") in CLOSING_TYPES:
            break
    await DBOS.close_stream_async(SESSION_STREAM)
    await DBOS.set_event_async(STATUS_EVENT, "closed")
    return {"events": count, "closed_by": event.get("type")}
