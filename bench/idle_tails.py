"""Idle SSE tails on many distinct stream keys: does the server stay responsive, with bounded threads?

For each backend: a real ``python server.py`` on a fresh database; a few long-waiting ``bench_stream`` workflows;
``--tails`` SSE connections (loopback) each tailing a *distinct* stream key nobody writes; then ``/health`` is timed
sequentially. Reports tails opened (and failures), ``/health`` p50/p99, the server's thread count and RSS before
and after. Bounded: every step has a deadline; the whole run stops by itself (≈1 minute per backend)::

    .venv/bin/python -m bench.idle_tails                     # 2,000 tails, SQLite and Postgres
    .venv/bin/python -m bench.idle_tails --tails 500 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import fresh_database, machine, percentile, rss_bytes
from tests.support.server_proc import ServerProcess

WORKFLOWS = 4  # tails are spread over a few workflows (the per-workflow cap stays out of the way)


def threads(pid: int) -> int:
    """Thread count of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Threads for pid {pid}")


async def _open_tail(host: str, port: int, path: str, deadline: float) -> asyncio.StreamWriter | None:
    """One raw SSE connection, returned once its ``connected`` comment arrived (None if not before deadline)."""
    try:
        async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            buf = b""
            while b": connected" not in buf:
                chunk = await reader.read(4096)
                if not chunk:
                    writer.close()
                    return None
                buf += chunk
            if not buf.startswith(b"HTTP/1.1 200"):
                writer.close()
                return None
            return writer
    except (TimeoutError, OSError):
        return None


async def _health(http: httpx.AsyncClient, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        r = await http.get("/health")
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


async def run_backend(backend: str, tails: int, samples: int, work: Path) -> dict[str, Any]:
    """Open ``tails`` idle tails on one backend and measure; returns the figures."""
    env = {"COMM_LOG_LEVEL": "warning", "COMM_WORKFLOWS": "workflows,bench.workflows"}
    with fresh_database(backend, work) as url, ServerProcess(url, log_dir=work, env=env) as server:
        assert server.pid is not None
        host, port = server.url.removeprefix("http://").split(":")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            wids = [f"idle-{i}" for i in range(WORKFLOWS)]
            for wid in wids:
                r = await http.post(
                    "/v1/workflows", json={"type": "bench_stream", "input": {"n": 1}, "workflow_id": wid}
                )
                assert r.status_code == 201, r.text
            base_health = await _health(http, samples)
            before = {"threads": threads(server.pid), "rss": rss_bytes(server.pid)}
            started = time.monotonic()
            deadline = started + 60
            gate = asyncio.Semaphore(200)  # connections being opened at once (a client-side limit)

            async def one(i: int) -> asyncio.StreamWriter | None:
                async with gate:
                    path = f"/v1/workflows/{wids[i % WORKFLOWS]}/streams/idle-key-{i}/live"
                    return await _open_tail(host, int(port), path, deadline)

            writers = await asyncio.gather(*(one(i) for i in range(tails)))
            opened = [w for w in writers if w is not None]
            open_seconds = time.monotonic() - started
            await asyncio.sleep(2.0)  # let the poller / re-check run with every feed in place
            loaded = await _health(http, samples)
            after = {"threads": threads(server.pid), "rss": rss_bytes(server.pid)}
            for w in opened:
                w.close()
    return {
        "backend": backend,
        "tails": tails,
        "opened": len(opened),
        "open_seconds": open_seconds,
        "health_idle": ms(base_health),
        "health_loaded": ms(loaded),
        "before": before,
        "after": after,
    }


def ms(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of durations in seconds, in milliseconds."""
    values = [x * 1000 for x in samples]
    return percentile(values, 50), percentile(values, 99)


def report(results: list[dict[str, Any]]) -> str:
    """A markdown table of the figures."""
    lines = [
        "| backend | tails opened | open time s | /health p50 / p99 ms (no tails) | /health p50 / p99 ms (tails) "
        "| threads before → after | RSS MB before → after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['opened']}/{r['tails']} | {r['open_seconds']:.1f} "
            f"| {r['health_idle'][0]:.1f} / {r['health_idle'][1]:.1f} "
            f"| {r['health_loaded'][0]:.1f} / {r['health_loaded'][1]:.1f} "
            f"| {r['before']['threads']} → {r['after']['threads']} "
            f"| {r['before']['rss'] / 2**20:.0f} → {r['after']['rss'] / 2**20:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run each backend, print the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    p.add_argument("--tails", type=int, default=2000)
    p.add_argument("--samples", type=int, default=200, help="/health requests per measurement")
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets, on both ends
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            print(f"== {backend}", flush=True)
            results.append(
                asyncio.run(asyncio.wait_for(run_backend(backend, args.tails, args.samples, Path(tmp)), 150))
            )
    print(f"\n{machine()} · `python -m bench.idle_tails {' '.join(sys.argv[1:])}`\n\n{report(results)}")


if __name__ == "__main__":
    main()
