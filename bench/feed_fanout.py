"""Workflow-feed fan-out: N subscribers of one workflow's feed (``/v1/workflows/{id}/feed``) cost one storage
read per write, not N. One command::

    .venv/bin/python -m bench.feed_fanout                          # sqlite + postgres, 500 subscribers
    .venv/bin/python -m bench.feed_fanout --backends sqlite --subscribers 100 --writes 50

A real ``python server.py`` runs ``bench_stream`` (on ``go``, ``writes`` timestamped values to stream ``bench``,
then it closes it and finishes). All subscribers connect first (each one catch-up read of its own, at connect),
then ``go``; every subscriber (the lean load generator, :mod:`bench.loadgen`) must receive every value and
``end``. Reported: the feeds' shared storage reads per
write and subscribers' catch-up reads during the writes (the server's ``comm_feed_reads`` counter), Postgres
transactions per write (the workflow's own writes included), and write → subscriber latency (same clock), with
the same subscribers on the stream's own live tail (``/streams/bench/live``) measured in the same run as the
reference.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.common import fresh_database, machine, percentile, pg_commits
from bench.loadgen import Readers
from tests.support.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
_READS_RE = re.compile(r'^comm_feed_reads_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


async def feed_reads(api: httpx.AsyncClient) -> dict[str, float]:
    """The server's ``comm_feed_reads_total`` by kind."""
    text = (await api.get("/metrics")).text
    return {kind: float(n) for kind, n in _READS_RE.findall(text)}


async def measure(
    database_url: str, subscribers: int, writes: int, interval_ms: float, logs: Path, *, tail: bool = False
) -> dict[str, Any]:
    """One run: ``subscribers`` feed subscribers of one ``bench_stream`` workflow (``tail``: the reference, the
    same subscribers on the stream's own live tail)."""
    env = {"COMM_LOG_LEVEL": "warning", "COMM_WORKFLOWS": "workflows,bench.workflows"}
    with ServerProcess(database_url, log_dir=logs, env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as api:
            wid = f"feed-bench-{subscribers}"
            body = {"type": "bench_stream", "workflow_id": wid, "input": {"n": writes, "interval_ms": interval_ms}}
            (await api.post("/v1/workflows", json=body)).raise_for_status()
            (await api.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60})).raise_for_status()
            host, port = server.url.removeprefix("http://").split(":")
            path = (
                f"/v1/workflows/{wid}/streams/bench/live"
                if tail
                else f"/v1/workflows/{wid}/feed?streams=bench&events=&status=0"
            )
            readers = Readers(host, int(port), [path] * subscribers, processes=2)
            await readers.start()  # every subscriber connected (its catch-up read done)
            before, commits_before = await feed_reads(api), pg_commits(database_url)
            (await api.post(f"/v1/workflows/{wid}/messages", json={"topic": "go", "message": 1})).raise_for_status()
            res = await readers.finish()
            after = await feed_reads(api)
            await asyncio.sleep(1.2)  # Postgres flushes statistics at most once a second
            commits_after = pg_commits(database_url)
    latencies, counts = res["latencies"], res["counts"]
    shared = after.get("shared", 0) - before.get("shared", 0)
    catch_up = after.get("catch_up", 0) - before.get("catch_up", 0)
    return {
        "route": "stream tail (reference)" if tail else "feed",
        "subscribers": subscribers,
        "writes": writes,
        "complete": len(counts) == subscribers and all(c == writes for c in counts),
        "shared_reads_per_write": shared / writes,
        "catch_up_reads": catch_up,
        "txn_per_write": None
        if commits_before is None or commits_after is None
        else (commits_after - commits_before) / writes,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | route | subscribers | writes | complete | feed reads / write | catch-up reads | txn / write "
        "| p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        txn = "—" if r["txn_per_write"] is None else f"{r['txn_per_write']:.2f}"
        feed = r["route"] == "feed"  # the reference's hub reads are not feed reads
        reads = f"{r['shared_reads_per_write']:.2f}" if feed else "—"
        catch_up = f"{r['catch_up_reads']:.0f}" if feed else "—"
        lines.append(
            f"| {r['backend']} | {r['route']} | {r['subscribers']} | {r['writes']} | {r['complete']} "
            f"| {reads} | {catch_up} | {txn} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    """All measurements; returns the markdown table."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            for n in [int(x) for x in args.subscribers.split(",")]:
                for tail in (False, True):
                    with fresh_database(backend, work) as url:
                        row = await measure(url, n, args.writes, args.interval_ms, work, tail=tail)
                    rows.append({"backend": backend, **row})
                    print(_table(rows[-1:]).splitlines()[-1], flush=True)
    return _table(rows)


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--subscribers", default="500")
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "feed_fanout.md")
    args = parser.parse_args()
    table = asyncio.run(run(args))
    print(table)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Workflow feed fan-out\n\n`python -m bench.feed_fanout` ({stamp}; {machine()}).\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
