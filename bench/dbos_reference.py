"""Reference: one plain ``DBOS.read_stream_async`` per subscriber, in the writer's own process.

Run as ``python -m bench.dbos_reference DATABASE_URL READERS WRITES INTERVAL_MS``; prints one JSON line with
latencies (seconds, write call → reader receives) and Postgres transactions per write.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from dbos import DBOS, SetWorkflowID

from bench.common import pg_commits
from communication.core.ops.runtime import dbos_config
from communication.core.settings import Settings


async def main(url: str, readers: int, writes: int, interval_ms: float) -> dict[str, object]:
    """Launch DBOS in-process, start the bench workflow, read it with ``readers`` DBOS readers."""
    import bench.workflows  # noqa: F401  (registers bench_stream)
    from bench.workflows import BENCH_STREAM, bench_stream_workflow

    settings = Settings(database_url=url, log_level="warning")
    DBOS(config=dbos_config(settings))
    DBOS.launch()
    wid = "bench-reference"
    with SetWorkflowID(wid):
        await DBOS.start_workflow_async(bench_stream_workflow, {"n": writes, "interval_ms": interval_ms})
    await DBOS.get_event_async(wid, "status", 60)
    latencies: list[float] = []

    async def read() -> int:
        count = 0
        async for value in DBOS.read_stream_async(wid, BENCH_STREAM):
            latencies.append(time.time() - value["t"])
            count += 1
        return count

    tasks = [asyncio.create_task(read()) for _ in range(readers)]
    await asyncio.sleep(1.0)  # let every reader register and settle before the first write (benchmark pacing)
    before = pg_commits(url)
    await DBOS.send_async(wid, 1, "go")
    counts = await asyncio.gather(*tasks)
    await asyncio.sleep(1.2)  # Postgres flushes statistics at most once a second
    after = pg_commits(url)
    DBOS.destroy(destroy_registry=True)
    assert all(c == writes for c in counts), counts
    return {
        "latencies": latencies,
        "txn_per_write": None if before is None or after is None else (after - before) / writes,
    }


if __name__ == "__main__":
    db, n_readers, n_writes, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(asyncio.run(main(db, n_readers, n_writes, interval))))
