"""``chaos``: the workload of the chaos suite (``tests/chaos/test_chaos.py``), built so its final state is checkable.

A run writes ``values`` numbered values ``{"i": 0..values-1}`` to stream ``numbers`` and consumes ``messages``
messages on topic ``chaos``, appending each one, as received, to stream ``consumed``. The writes are spread
over the receives (a share of the numbers before each ``recv``), so a crash can land anywhere: mid-write,
mid-wait, between a receive and its record. Everything the run records goes through workflow-level DBOS
operations (``recv`` is a recorded step, workflow stream writes are exactly-once), so after any number of crashes
and recoveries ``numbers`` must read exactly ``0..values-1`` and ``consumed`` must hold every delivered message
exactly once; the result repeats ``consumed`` so the suite can cross-check both.

``pause_ms`` is a non-durable pause between value writes: it spreads writes over time so that kills and cut
connections meet live streams (a durable sleep would add a recorded step per value and change nothing checked).
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.core.registry import registry
from communication.protocol.names import STATUS_EVENT

CHAOS_TOPIC = "chaos"
NUMBERS_STREAM = "numbers"
CONSUMED_STREAM = "consumed"


class ChaosInput(BaseModel):
    """Input of the ``chaos`` workflow."""

    values: int = Field(30, ge=0, le=10_000, description="Numbered values to write to stream 'numbers'.")
    messages: int = Field(10, ge=0, le=1_000, description="Messages to consume on topic 'chaos'.")
    pause_ms: float = Field(0.0, ge=0.0, le=1_000.0, description="Non-durable pause after each value write.")
    recv_timeout_seconds: float = Field(30.0, gt=0, le=600, description="One wait for a message.")
    max_waits: int = Field(20, ge=1, le=100, description="Consecutive empty waits before the run fails.")


async def _receive(p: ChaosInput) -> Any:
    """The next message; fails the run after ``max_waits`` empty waits (a lost message must not hang it)."""
    for _ in range(p.max_waits):
        message = await DBOS.recv_async(CHAOS_TOPIC, timeout_seconds=p.recv_timeout_seconds)
        if message is not None:
            return message
    raise TimeoutError(f"no message on topic {CHAOS_TOPIC!r} after {p.max_waits} waits")


@registry.register(
    "chaos",
    ChaosInput,
    "Chaos-suite workload: writes 0..values-1 to 'numbers', records each of `messages` messages (topic 'chaos') "
    "in 'consumed', closes both.",
)
async def chaos_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Interleave numbered writes with receives; every receive is recorded in stream ``consumed``."""
    p = ChaosInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "running")
    consumed: list[Any] = []
    written = 0
    for k in range(p.messages + 1):
        # Share k of the numbers, so writes happen before, between and after the receives.
        target = p.values * (k + 1) // (p.messages + 1)
        while written < target:
            await DBOS.write_stream_async(NUMBERS_STREAM, {"i": written})
            written += 1
            if p.pause_ms:
                await asyncio.sleep(p.pause_ms / 1000)
        if k < p.messages:
            message = await _receive(p)
            await DBOS.write_stream_async(CONSUMED_STREAM, message)
            consumed.append(message)
    await DBOS.close_stream_async(NUMBERS_STREAM)
    await DBOS.close_stream_async(CONSUMED_STREAM)
    await DBOS.set_event_async(STATUS_EVENT, "done")
    return {"values": written, "consumed": consumed}
