"""Stream fan-out benchmark: stream write → SSE client latency through the hub, vs one plain DBOS
``read_stream_async`` per subscriber in-process; database transactions per write; server RSS per idle SSE
connection. Both backends, one command::

    .venv/bin/python -m bench.fanout                      # sqlite + postgres, 1/100/1000 subscribers
    .venv/bin/python -m bench.fanout --backends sqlite --subscribers 1,100 --writes 50

Prints a table and writes it (with the raw numbers) to docs/bench/. Latency = time from just before the
workflow's write call to the subscriber parsing the value (same clock).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import fresh_database, machine, percentile, pg_commits, rss_bytes
from tests.support.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


async def _subscriber(http: httpx.AsyncClient, path: str, connected: asyncio.Semaphore, out: list[float]) -> int:
    received = 0
    async with http.stream("GET", path, headers={"Accept": "text/event-stream"}) as response:
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.release()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "value":
                value = json.loads(line[5:])
                out.append(time.time() - value["t"])
                received += 1
            elif line.startswith("data:") and event == "end":
                return received
    return received


async def _open_subscribers(
    url: str, path: str, count: int
) -> tuple[httpx.AsyncClient, list[asyncio.Task[int]], list[float]]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    http = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(None), limits=limits)
    connected = asyncio.Semaphore(0)
    latencies: list[float] = []
    tasks = [asyncio.create_task(_subscriber(http, path, connected, latencies)) for _ in range(count)]
    for _ in range(count):
        await asyncio.wait_for(connected.acquire(), 120)
    return http, tasks, latencies


async def _hub_run(url: str, subscribers: int, writes: int, interval_ms: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        wid = f"bench-{subscribers}"
        r = await api.post(
            "/v1/workflows",
            json={"type": "bench_stream", "workflow_id": wid, "input": {"n": writes, "interval_ms": interval_ms}},
        )
        r.raise_for_status()
        (await api.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60})).raise_for_status()
        http, tasks, latencies = await _open_subscribers(url, f"/v1/workflows/{wid}/streams/bench/live", subscribers)
        return {"http": http, "tasks": tasks, "latencies": latencies, "wid": wid, "api_url": url}


async def measure_hub(
    database_url: str, subscribers: int, writes: int, interval_ms: float, logs: Path
) -> dict[str, Any]:
    """Our path: server subprocess, ``subscribers`` SSE clients on one stream."""
    with ServerProcess(
        database_url, log_dir=logs, env={"COMM_LOG_LEVEL": "warning", "COMM_WORKFLOWS": "workflows,bench.workflows"}
    ) as server:
        run = await _hub_run(server.url, subscribers, writes, interval_ms)
        before = pg_commits(database_url)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as api:
            (
                await api.post(f"/v1/workflows/{run['wid']}/messages", json={"topic": "go", "message": 1})
            ).raise_for_status()
        counts = await asyncio.gather(*run["tasks"])
        await run["http"].aclose()
        await asyncio.sleep(1.2)  # Postgres flushes statistics at most once a second
        after = pg_commits(database_url)
    return {
        "latencies": run["latencies"],
        "complete": all(c == writes for c in counts),
        "txn_per_write": None if before is None or after is None else (after - before) / writes,
    }


async def measure_idle_rss(database_url: str, connections: int, logs: Path) -> float:
    """Server RSS growth per idle SSE connection (bytes)."""
    with ServerProcess(
        database_url, log_dir=logs, env={"COMM_LOG_LEVEL": "warning", "COMM_WORKFLOWS": "workflows,bench.workflows"}
    ) as server:
        assert server.pid is not None
        run = await _hub_run(server.url, 1, 1, 0)
        await asyncio.sleep(1.0)  # settle allocations of the first connection before the baseline
        baseline = rss_bytes(server.pid)
        http, tasks, _ = await _open_subscribers(
            server.url, f"/v1/workflows/{run['wid']}/streams/bench/live", connections
        )
        await asyncio.sleep(1.0)
        grown = rss_bytes(server.pid)
        for task in [*tasks, *run["tasks"]]:
            task.cancel()
        await http.aclose()
        await run["http"].aclose()
    return (grown - baseline) / connections


def measure_reference(database_url: str, readers: int, writes: int, interval_ms: float) -> dict[str, Any]:
    """One plain DBOS reader per subscriber, in-process (a subprocess keeps DBOS instances apart)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.dbos_reference", database_url, str(readers), str(writes), str(interval_ms)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _row(backend: str, mode: str, n: int, lat: list[float], txn: float | None, note: str = "") -> dict[str, Any]:
    ms = [x * 1000 for x in lat]
    return {
        "backend": backend,
        "mode": mode,
        "subscribers": n,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "txn_per_write": txn,
        "values": len(ms),
        "note": note,
    }


def _fmt(rows: list[dict[str, Any]], rss: dict[str, float]) -> str:
    lines = [
        "| backend | path | subscribers | p50 ms | p99 ms | DB txn / write | values received |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        txn = "n/a" if r["txn_per_write"] is None else f"{r['txn_per_write']:.1f}"
        lines.append(
            f"| {r['backend']} | {r['mode']} | {r['subscribers']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {txn} | {r['values']}{' ' + r['note'] if r['note'] else ''} |"
        )
    for backend, per_conn in rss.items():
        lines.append(f"\nServer RSS per idle SSE connection ({backend}): **{per_conn / 1024:.1f} KB**")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    """Run every configured measurement; return the markdown report."""
    rows: list[dict[str, Any]] = []
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for backend in args.backends:
            for n in args.subscribers:
                with fresh_database(backend, work) as url:
                    hub = await measure_hub(url, n, args.writes, args.interval_ms, work)
                rows.append(
                    _row(
                        backend,
                        "hub → SSE (HTTP)",
                        n,
                        hub["latencies"],
                        hub["txn_per_write"],
                        "" if hub["complete"] else "(incomplete!)",
                    )
                )
                print(_fmt(rows[-1:], {}).splitlines()[-1], flush=True)
            for n in args.reference:
                with fresh_database(backend, work) as url:
                    ref = measure_reference(url, n, args.writes, args.interval_ms)
                rows.append(
                    _row(
                        backend,
                        "DBOS read_stream_async per subscriber (in-process)",
                        n,
                        ref["latencies"],
                        ref["txn_per_write"],
                    )
                )
                print(_fmt(rows[-1:], {}).splitlines()[-1], flush=True)
            with fresh_database(backend, work) as url:
                rss[backend] = await measure_idle_rss(url, args.idle, work)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"# Stream fan-out benchmark\n\n{stamp} · {machine()}\n\n"
        f"{args.writes} writes {args.interval_ms:g} ms apart per run; latency = write call → subscriber "
        f"parsed the value. Command: `python -m bench.fanout {' '.join(sys.argv[1:])}`\n\n{_fmt(rows, rss)}\n"
    )


def main() -> None:
    """Parse arguments, run, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    parser.add_argument("--subscribers", type=ints, default=[1, 100, 1000])
    parser.add_argument("--reference", type=ints, default=[1, 100, 500], help="DBOS readers per run")
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--idle", type=int, default=1000, help="idle SSE connections for the RSS measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "fanout.md")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
