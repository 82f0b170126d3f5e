"""The whole benchmark suite (issue 8), one command, both backends, a table on stdout and a PNG::

    .venv/bin/python -m bench.suite                 # full run (~10-15 min on 2 cores)
    .venv/bin/python -m bench.suite --quick         # smaller counts, a few minutes

Measures, side by side: hop latency over HTTP (message → recv, event → blocked GET, event → SSE watch, stream
write → SSE, stream write → WebSocket) and the same primitives in-process through DBOS; a seed-style 500 ms
polling client; raw Postgres INSERT+NOTIFY → LISTEN (the floor); workflow starts/s and messages/s over HTTP vs
in-process by concurrency; stream fan-out (hub vs one DBOS reader per subscriber) with DB transactions per write
and RSS per idle connection. Writes docs/bench/RESULTS.md and docs/bench/latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import fanout, floor, http_hops
from bench.common import fresh_database, machine, percentile
from tests.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
HOPS = [
    ("msg_recv", "message → workflow recv"),
    ("event_get", "event set → blocked GET"),
    ("event_sse", "event set → SSE watch"),
    ("stream_sse", "stream write → SSE"),
    ("stream_ws", "stream write → WebSocket"),
    ("stream_poll", "stream write → 500 ms polling client"),
]
REFERENCE = {
    "msg_recv": "msg_recv",
    "event_get": "event_get",
    "event_sse": "event_get",
    "stream_sse": "stream_read",
    "stream_ws": "stream_read",
    "stream_poll": "stream_read",
}


def _ms(values: list[float]) -> tuple[float, float]:
    ms = [v * 1000 for v in values]
    return percentile(ms, 50), percentile(ms, 99)


async def run_backend(backend: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every measurement on one backend."""
    res: dict[str, Any] = {}
    with (
        fresh_database(backend, work) as url,
        ServerProcess(
            url, log_dir=work, env={"COMM_LOG_LEVEL": "warning", "COMM_WORKFLOWS": "workflows,bench.workflows"}
        ) as server,
    ):
        res["http_hops"] = await http_hops.hops(server.url, args.n, args.interval_ms)
        res["http_tp"] = await http_hops.throughput(server.url, args.total, args.concurrency)
    with fresh_database(backend, work) as url:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.inprocess",
                url,
                str(args.n),
                str(args.interval_ms),
                str(args.total),
                ",".join(map(str, args.concurrency)),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        ref = json.loads(out.stdout.strip().splitlines()[-1])
        res["ref_hops"] = ref["hops"]
        res["ref_tp"] = {k: {int(c): v for c, v in d.items()} for k, d in ref["throughput"].items()}
    if backend == "postgres":
        with fresh_database(backend, work) as url:
            res["floor"] = floor.notify_latency(url, args.n * 2)
    res["fanout"] = []
    for n in args.subscribers:
        with fresh_database(backend, work) as url:
            hub = await fanout.measure_hub(url, n, args.fan_writes, 20.0, work)
        res["fanout"].append(("hub", n, hub["latencies"], hub["txn_per_write"]))
    for n in args.reference:
        with fresh_database(backend, work) as url:
            ref_fan = fanout.measure_reference(url, n, args.fan_writes, 20.0)
        res["fanout"].append(("dbos", n, ref_fan["latencies"], ref_fan["txn_per_write"]))
    with fresh_database(backend, work) as url:
        res["rss_per_idle"] = await fanout.measure_idle_rss(url, args.idle, work)
    return res


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown tables for every backend."""
    lines = [
        "## Hop latency (ms)",
        "",
        "| backend | hop | HTTP p50 | HTTP p99 | in-process DBOS p50 | in-process p99 | HTTP / in-process (p50) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for backend, r in results.items():
        for key, label in HOPS:
            p50, p99 = _ms(r["http_hops"][key])
            r50, r99 = _ms(r["ref_hops"][REFERENCE[key]])
            lines.append(f"| {backend} | {label} | {p50:.1f} | {p99:.1f} | {r50:.1f} | {r99:.1f} | {p50 / r50:.2f}x |")
        if "floor" in r:
            f50, f99 = _ms(r["floor"])
            lines.append(f"| {backend} | raw INSERT+NOTIFY → LISTEN (floor) | {f50:.2f} | {f99:.2f} | | | |")
    lines += [
        "",
        "## Throughput (per second)",
        "",
        "| backend | operation | concurrent clients | HTTP | in-process DBOS | HTTP / in-process |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend, r in results.items():
        for op in ("starts", "messages"):
            for c in args.concurrency:
                h, i = r["http_tp"][op][c], r["ref_tp"][op][c]
                lines.append(f"| {backend} | workflow {op} | {c} | {h:.0f} | {i:.0f} | {h / i:.2f}x |")
    lines += [
        "",
        "## Stream fan-out",
        "",
        "| backend | path | subscribers | p50 ms | p99 ms | DB txn / write |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend, r in results.items():
        for kind, n, lat, txn in r["fanout"]:
            p50, p99 = _ms(lat)
            path = "hub → SSE (HTTP)" if kind == "hub" else "DBOS reader per subscriber (in-process)"
            lines.append(
                f"| {backend} | {path} | {n} | {p50:.1f} | {p99:.1f} | {'n/a' if txn is None else f'{txn:.1f}'} |"
            )
        lines.append(
            f"| {backend} | server RSS per idle SSE connection ({args.idle} idle) | | "
            f"**{r['rss_per_idle'] / 1024:.1f} KB** | | |"
        )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Hop p50/p99 HTTP vs in-process per backend, and fan-out p99 by subscribers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results) + 1, figsize=(6 * (len(results) + 1), 5))
    for ax, (backend, r) in zip(axes, results.items(), strict=False):
        labels = [k for k, _ in HOPS]
        x = range(len(labels))
        http = [_ms(r["http_hops"][k])[0] for k in labels]
        ref = [_ms(r["ref_hops"][REFERENCE[k]])[0] for k in labels]
        ax.bar([i - 0.2 for i in x], http, 0.4, label="HTTP p50")
        ax.bar([i + 0.2 for i in x], ref, 0.4, label="in-process DBOS p50")
        ax.set_xticks(list(x), labels, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(f"hop latency ({backend})")
        ax.legend()
    ax = axes[-1]
    for backend, r in results.items():
        for kind, label in (("hub", "hub → SSE"), ("dbos", "DBOS reader each")):
            pts = sorted((n, _ms(lat)[1]) for k, n, lat, _ in r["fanout"] if k == kind)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{label} ({backend})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers")
    ax.set_ylabel("p99 ms")
    ax.set_title("stream fan-out p99")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Parse arguments, run every backend, print and save the report and plot."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    p.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    p.add_argument("--n", type=int, default=200, help="samples per hop")
    p.add_argument("--interval-ms", type=float, default=20.0)
    p.add_argument("--total", type=int, default=400, help="operations per throughput measurement")
    p.add_argument("--concurrency", type=ints, default=[1, 8, 32])
    p.add_argument("--subscribers", type=ints, default=[1, 100, 1000])
    p.add_argument("--reference", type=ints, default=[1, 100, 500])
    p.add_argument("--fan-writes", type=int, default=100)
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--quick", action="store_true", help="small counts for a fast look")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = p.parse_args()
    if args.quick:
        args.n, args.total, args.concurrency = 50, 100, [1, 8]
        args.subscribers, args.reference, args.fan_writes, args.idle = [1, 100], [1, 100], 50, 500
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of SSE sockets, on both ends
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            print(f"== {backend}", flush=True)
            results[backend] = asyncio.run(run_backend(backend, args, Path(tmp)))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"# Benchmark results\n\n{stamp} · {machine()}\n\nCommand: `python -m bench.suite "
        f"{' '.join(sys.argv[1:])}`. Latency = from just before the producing call (send / set_event / "
        f"write_stream) to the consumer having the value; same clock.\n\n{report(results, args)}\n"
    )
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "RESULTS.md").write_text(text + "\n![latency](latency.png)\n")
    plot(results, args.out / "latency.png")


if __name__ == "__main__":
    main()
