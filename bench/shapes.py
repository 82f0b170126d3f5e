"""Benchmark shapes measured with the lean load generator (``bench.loadgen``) against a server subprocess:

* ``fanout``: 1 stream x N SSE subscribers, the workflow writing at a fixed pace (e.g. 20 writes/s);
* ``many_streams``: N workflows each writing its own stream to its own SSE subscriber (LLM-serving shape);
* ``seed_path``: seed 004 ``POST /events/{sid}`` → ``GET /stream/{sid}`` with N subscribers.

Each returns latencies (seconds, producer's clock just before its write/post → reader has the frame), whether
every subscriber got every value, the server's CPU seconds per delivered frame (``/proc/<pid>/stat`` over the
delivery window: the figure that does not depend on the client) and the load generator's own CPU.
The in-process reference for ``many_streams`` (DBOS alone, no HTTP) runs as
``python -m bench.shapes DATABASE_URL STREAMS VALUES INTERVAL_MS``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import cpu_seconds
from bench.lean_http import LeanClient
from bench.loadgen import Readers


def _addr(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def _start_streams(api: httpx.AsyncClient, wids: list[str], writes: int, interval_ms: float) -> None:
    sem = asyncio.Semaphore(16)

    async def one(wid: str) -> None:
        async with sem:
            body = {"type": "bench_stream", "workflow_id": wid, "input": {"n": writes, "interval_ms": interval_ms}}
            (await api.post("/v1/workflows", json=body)).raise_for_status()
            (await api.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60})).raise_for_status()

    await asyncio.gather(*(one(w) for w in wids))


async def _go(api: httpx.AsyncClient, wids: list[str]) -> None:
    sem = asyncio.Semaphore(16)

    async def one(wid: str) -> None:
        async with sem:
            r = await api.post(f"/v1/workflows/{wid}/messages", json={"topic": "go", "message": 1})
            r.raise_for_status()

    await asyncio.gather(*(one(w) for w in wids))


def _summary(res: dict[str, Any], expected: int, cpu: float, wall: float) -> dict[str, Any]:
    frames = sum(res["counts"])
    return {
        "errors": res["errors"],
        "latencies": res["latencies"],
        "exact": all(c == expected for c in res["counts"]),
        "frames": frames,
        "server_cpu_per_frame_us": cpu / frames * 1e6 if frames else float("nan"),
        "server_cpu_s": cpu,
        "loadgen_cpu_s": res["cpu_s"],
        "wall_s": wall,
        "frames_per_s": frames / wall if wall else float("nan"),
    }


async def fanout(url: str, pid: int, subscribers: int, writes: int, interval_ms: float, procs: int) -> dict[str, Any]:
    """1 stream x ``subscribers`` SSE readers."""
    host, port = _addr(url)
    wid = f"fan-{subscribers}-{time.time_ns()}"
    async with httpx.AsyncClient(base_url=url, timeout=120) as api:
        await _start_streams(api, [wid], writes, interval_ms)
        readers = Readers(host, port, [f"/v1/workflows/{wid}/streams/bench/live"] * subscribers, procs)
        await readers.start()
        cpu0, t0 = cpu_seconds(pid), time.time()
        await _go(api, [wid])
        res = await readers.finish()
        cpu1, t1 = cpu_seconds(pid), time.time()
    return _summary(res, writes, cpu1 - cpu0, t1 - t0)


async def many_streams(url: str, pid: int, streams: int, writes: int, interval_ms: float, procs: int) -> dict[str, Any]:
    """``streams`` workflows, each writing its own stream to its own SSE reader."""
    host, port = _addr(url)
    stamp = time.time_ns()
    wids = [f"many-{stamp}-{i}" for i in range(streams)]
    async with httpx.AsyncClient(base_url=url, timeout=120) as api:
        await _start_streams(api, wids, writes, interval_ms)
        readers = Readers(host, port, [f"/v1/workflows/{w}/streams/bench/live" for w in wids], procs)
        await readers.start()
        cpu0, t0 = cpu_seconds(pid), time.time()
        await _go(api, wids)
        t_go = time.time()
        res = await readers.finish()
        cpu1, t1 = cpu_seconds(pid), time.time()
    out = _summary(res, writes, cpu1 - cpu0, t1 - t0)
    # The streams start as their "go" messages arrive (over a second or more under load): the pace delivered is
    # measured from the middle of that start-up, so a short run is not charged for the start-up itself.
    out["paced_frames_per_s"] = out["frames"] / (t1 - (t0 + t_go) / 2)
    return out


async def seed_path(url: str, pid: int, subscribers: int, posts: int, interval_ms: float, procs: int) -> dict[str, Any]:
    """Seed 004: a producer POSTs ``posts`` events to ``/events/{sid}``; ``subscribers`` read ``/stream/{sid}``."""
    host, port = _addr(url)
    sid = f"seed-{subscribers}-{time.time_ns()}"
    # The producer posts with the lean client (bench.lean_http): its clock starts before the POST, so httpx's own
    # per-request CPU would be counted as the server's latency.
    async with LeanClient(url) as api:
        status, text = await api.post(f"/events/{sid}", {"type": "start"})
        assert status < 300, text
        readers = Readers(host, port, [f"/stream/{sid}"] * subscribers, procs)
        await readers.start()
        cpu0, t0 = cpu_seconds(pid), time.time()
        for i in range(posts):
            status, text = await api.post(f"/events/{sid}", {"type": "tick", "i": i, "t": time.time()})
            assert status < 300, text
            await asyncio.sleep(interval_ms / 1000)
        status, text = await api.post(f"/events/{sid}", {"type": "done"})
        assert status < 300, text
        res = await readers.finish()
        cpu1, t1 = cpu_seconds(pid), time.time()
    return _summary(res, posts, cpu1 - cpu0, t1 - t0)


async def _health(api: httpx.AsyncClient, probes: int) -> list[float]:
    """``/health`` round trips in ms, one at a time."""
    out: list[float] = []
    for _ in range(probes):
        t0 = time.perf_counter()
        (await api.get("/health")).raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def idle(url: str, pid: int, connections: int, procs: int, probes: int = 200) -> dict[str, Any]:
    """Server RSS growth per idle SSE connection, and ``/health`` latency while ``connections`` are held (and
    before they are opened: the reference for "flat")."""
    from bench.common import percentile, rss_bytes

    host, port = _addr(url)
    wid = f"idle-{time.time_ns()}"
    async with httpx.AsyncClient(base_url=url, timeout=120) as api:
        await _start_streams(api, [wid], 1, 0)
        warm = Readers(host, port, [f"/v1/workflows/{wid}/streams/bench/live"] * 10, 1)
        await warm.start()  # first connections allocate lazily-built structures: keep them out of the figure
        await asyncio.sleep(1.0)
        before = await _health(api, probes)
        baseline = rss_bytes(pid)
        readers = Readers(host, port, [f"/v1/workflows/{wid}/streams/bench/live"] * connections, procs)
        try:
            await readers.start()
            await asyncio.sleep(1.0)
            grown = rss_bytes(pid)
            opened = readers.connected
            health = await _health(api, probes)
        finally:
            await readers.kill()
            await warm.kill()
    return {
        "rss_per_conn_kb": (grown - baseline) / max(opened, 1) / 1024,
        "health_p50_ms": percentile(health, 50),
        "health_p99_ms": percentile(health, 99),
        "health_p99_before_ms": percentile(before, 99),
        "connections": opened,
        "requested": connections,
    }


async def _inprocess_many(url: str, streams: int, writes: int, interval_ms: float) -> dict[str, Any]:
    """DBOS alone: the same workflows in-process, no HTTP, no readers (what DBOS writes on this machine)."""
    from dbos import DBOS, SetWorkflowID

    import bench.workflows  # noqa: F401  (registers bench_stream)
    from bench.workflows import bench_stream_workflow
    from communication.core.ops.runtime import dbos_config
    from communication.core.settings import Settings

    DBOS(config=dbos_config(Settings(database_url=url, log_level="warning")))
    DBOS.launch()
    try:
        wids = [f"ref-many-{i}" for i in range(streams)]
        handles: list[Any] = []
        for wid in wids:
            with SetWorkflowID(wid):
                handles.append(
                    await DBOS.start_workflow_async(bench_stream_workflow, {"n": writes, "interval_ms": interval_ms})
                )
        for wid in wids:
            await DBOS.get_event_async(wid, "status", 60)
        t0 = time.time()
        await asyncio.gather(*(DBOS.send_async(wid, 1, "go") for wid in wids))
        await asyncio.gather(*(h.get_result() for h in handles))
        wall = time.time() - t0
    finally:
        DBOS.destroy(destroy_registry=True)
    return {"writes_per_s": streams * writes / wall, "wall_s": wall}


def inprocess_many(url: str, streams: int, writes: int, interval_ms: float) -> dict[str, Any]:
    """Run :func:`_inprocess_many` in a subprocess (one DBOS instance per process)."""
    import subprocess
    from pathlib import Path

    out = subprocess.run(
        [sys.executable, "-m", "bench.shapes", url, str(streams), str(writes), str(interval_ms)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_inprocess_many(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))))
