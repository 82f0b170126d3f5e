"""The reference floor: the same hops and throughput measured in-process through DBOS directly (no HTTP).

Run as ``python -m bench.inprocess DATABASE_URL N INTERVAL_MS``; prints one JSON object. A subprocess per run
keeps DBOS instances apart from the HTTP measurements.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from dbos import DBOS, SetWorkflowID

from communication.core.ops.runtime import dbos_config
from communication.core.settings import Settings


async def _start(fn: Any, wid: str, params: dict[str, Any]) -> None:
    with SetWorkflowID(wid):
        await DBOS.start_workflow_async(fn, params)
    await DBOS.get_event_async(wid, "status", 60)


async def hops(n: int, interval_ms: float) -> dict[str, list[float]]:
    """message → recv, event set → blocked get_event, stream write → read_stream_async (seconds)."""
    from bench.workflows import BENCH_STREAM, bench_echo_workflow, bench_stream_workflow, bench_ticks_workflow

    out: dict[str, list[float]] = {"msg_recv": [], "event_get": [], "stream_read": []}
    await _start(bench_echo_workflow, "ref-echo", {"n": n})
    for seq in range(n):
        t0 = time.time()
        await DBOS.send_async("ref-echo", {"seq": seq}, "ping")
        out["msg_recv"].append(await DBOS.get_event_async("ref-echo", f"recv-{seq}", 30) - t0)

    await _start(bench_ticks_workflow, "ref-ticks", {"n": n, "interval_ms": interval_ms})

    async def get_ticks() -> None:
        for i in range(n):
            value = await DBOS.get_event_async("ref-ticks", f"tick-{i}", 30)
            out["event_get"].append(time.time() - value)

    getter = asyncio.create_task(get_ticks())
    await asyncio.sleep(0.2)  # the first blocked get is registered before the first set (benchmark pacing)
    await DBOS.send_async("ref-ticks", 1, "go")
    await getter

    await _start(bench_stream_workflow, "ref-stream", {"n": n, "interval_ms": interval_ms})

    async def read() -> None:
        async for value in DBOS.read_stream_async("ref-stream", BENCH_STREAM):
            out["stream_read"].append(time.time() - value["t"])

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    await DBOS.send_async("ref-stream", 1, "go")
    await reader
    return out


async def throughput(total: int, concurrency: list[int]) -> dict[str, dict[int, float]]:
    """Workflow starts/s and messages/s through DBOS directly, by number of concurrent callers."""
    from workflows.events_workflow import events_workflow
    from workflows.messaging_workflow import messaging_workflow

    result: dict[str, dict[int, float]] = {"starts": {}, "messages": {}}
    await _start(messaging_workflow, "ref-sink", {"n_steps": 1, "timeout_seconds": 3600})
    for c in concurrency:
        counter = iter(range(total))

        async def starter(counter: Any = counter, prefix: str = f"ref-start-{c}") -> None:
            for i in counter:
                with SetWorkflowID(f"{prefix}-{i}"):
                    await DBOS.start_workflow_async(events_workflow, {"n_steps": 1})

        t0 = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(c)))
        result["starts"][c] = total / (time.perf_counter() - t0)
        counter = iter(range(total))

        async def sender(counter: Any = counter, c: int = c) -> None:
            for i in counter:
                await DBOS.send_async("ref-sink", {"i": i}, "sink", idempotency_key=f"m-{c}-{i}")

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(c)))
        result["messages"][c] = total / (time.perf_counter() - t0)
    return result


async def main(url: str, n: int, interval_ms: float, total: int, concurrency: list[int]) -> dict[str, Any]:
    """Launch DBOS in this process and run every in-process measurement."""
    import bench.workflows  # noqa: F401  (registration)
    import workflows  # noqa: F401  (registration)

    DBOS(config=dbos_config(Settings(database_url=url, log_level="warning")))
    DBOS.launch()
    try:
        return {"hops": await hops(n, interval_ms), "throughput": await throughput(total, concurrency)}
    finally:
        DBOS.destroy(destroy_registry=True)


if __name__ == "__main__":
    conc = [int(x) for x in sys.argv[5].split(",")]
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), conc))))
