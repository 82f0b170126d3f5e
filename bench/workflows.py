"""``bench_stream``: a benchmarking utility that writes timestamped values to stream ``bench`` on demand.

It waits for a ``go`` message so every subscriber can connect first, then writes ``n`` values
``{"i", "t"}`` (``t`` = wall-clock time just before the write call) on a schedule ``interval_ms`` apart, and closes
the stream. The pacing uses ``asyncio.sleep`` on purpose: a durable sleep would add a recorded step per value and
measure DBOS sleeps instead of stream delivery. Not meant for anything but ``bench/``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.core.registry import registry
from communication.protocol.names import STATUS_EVENT

BENCH_STREAM = "bench"


class BenchInput(BaseModel):
    """Input of ``bench_stream``."""

    n: int = Field(100, ge=1, le=100_000, description="Values to write.")
    interval_ms: float = Field(20.0, ge=0, le=10_000, description="Pause between writes.")
    pad: int = Field(0, ge=0, le=100_000, description="Characters of padding per value (field 'pad').")


@registry.register("bench_stream", BenchInput, "Benchmark utility: on 'go', writes n timestamped values to 'bench'.")
async def bench_stream_workflow(params: dict[str, Any]) -> int:
    """Write the benchmark stream after the ``go`` message."""
    p = BenchInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "ready")
    await DBOS.recv_async("go", timeout_seconds=3600)
    started = time.monotonic()
    for i in range(p.n):
        value: dict[str, Any] = {"i": i, "t": time.time()}
        if p.pad:
            value["pad"] = "x" * p.pad
        await DBOS.write_stream_async(BENCH_STREAM, value)
        if p.interval_ms:
            # On a fixed schedule (the i-th write at start + i x interval), not a fixed pause after each write: a
            # pause would slow the offered pace by the write's own duration, which grows with the load measured.
            await asyncio.sleep(max(0.0, started + (i + 1) * p.interval_ms / 1000 - time.monotonic()))
    await DBOS.close_stream_async(BENCH_STREAM)
    return p.n


class BenchHopsInput(BaseModel):
    """Input of ``bench_echo`` and ``bench_ticks``."""

    n: int = Field(100, ge=1, le=100_000, description="Round trips (echo) or ticks.")
    interval_ms: float = Field(50.0, ge=0, le=10_000, description="Pause between ticks.")


@registry.register("bench_echo", BenchHopsInput, "Benchmark utility: records when each 'ping' message is received.")
async def bench_echo_workflow(params: dict[str, Any]) -> int:
    """For each message ``{"seq"}`` on topic ``ping``, set event ``recv-<seq>`` to the time ``recv`` returned."""
    p = BenchHopsInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "ready")
    for _ in range(p.n):
        message = await DBOS.recv_async("ping", timeout_seconds=600)
        received = time.time()
        await DBOS.set_event_async(f"recv-{message['seq']}", received)
    return p.n


@registry.register("bench_ticks", BenchHopsInput, "Benchmark utility: on 'go', sets events tick-<i> and tick.")
async def bench_ticks_workflow(params: dict[str, Any]) -> int:
    """Set ``tick-<i>`` (for blocked GETs) and ``tick`` (for watches) to the time just before the set."""
    p = BenchHopsInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "ready")
    await DBOS.recv_async("go", timeout_seconds=3600)
    for i in range(p.n):
        await DBOS.set_event_async(f"tick-{i}", time.time())
        await DBOS.set_event_async("tick", {"i": i, "t": time.time()})
        if p.interval_ms:
            await asyncio.sleep(p.interval_ms / 1000)
    return p.n
