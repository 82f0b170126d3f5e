"""The whole benchmark suite, one command, both backends, tables on stdout and plots::

    .venv/bin/python -m bench.suite                 # full run (~10 min per backend on 2 cores)
    .venv/bin/python -m bench.suite --quick         # smaller counts, a few minutes per backend

Every figure stands beside a reference measured in the same run (the machine may be shared: absolute figures
move with its load, ratios much less), and every target is printed as a ratio with met / missed.

Measures, side by side with the references (DBOS in-process, the raw NOTIFY floor, a 500 ms polling client):
hop latency over HTTP (message → recv, event → blocked GET, event → SSE watch, stream write → SSE / WebSocket);
workflow starts/s and messages/s over HTTP vs in-process by concurrency; and, with the lean multi-process load
generator (``bench.loadgen``) and the server's CPU time per delivered frame (``/proc/<pid>/stat``): 1 stream x N
SSE subscribers at 20 writes/s (vs one DBOS reader per subscriber in-process, and vs a bare asyncio server writing
the same bytes to the same load generator, ``bench.fanout_floor``), the seed 004 path (POST /events → GET /stream)
with N subscribers (vs the raw INSERT+NOTIFY floor), many streams at once (N workflows each to its own subscriber)
paced at 80 % and 100 % of the write capacity DBOS alone shows in-process in the same run, and idle connections
(RSS each, ``/health`` latency while held vs before). Prints the targets met or missed and writes
docs/bench/RESULTS.md, results.json, latency.png (hops), cdf.png (latency CDFs), fanout.png (p99 by subscribers)
and cpu.png (server CPU per frame).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import fanout, fanout_floor, floor, http_hops, shapes
from bench.common import fresh_database, machine, percentile
from tests.support.server_proc import ServerProcess

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


SERVER_ENV = {
    "COMM_LOG_LEVEL": "warning",
    "COMM_WORKFLOWS": "workflows,bench.workflows",
    # The benchmark's own shapes (10,000 idle tails of one stream) are above the production caps on purpose.
    "COMM_MAX_SUBSCRIPTIONS_PER_WORKFLOW": "100000",
    "COMM_MAX_SUBSCRIPTIONS_PER_PROCESS": "100000",
}


async def run_backend(backend: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every measurement on one backend, each beside its reference measured in the same run."""
    res: dict[str, Any] = {}
    # DBOS alone first: the many-streams shape is paced at a fraction of the capacity it shows here.
    print("  many streams: DBOS alone in-process, unpaced (capacity)", flush=True)
    with fresh_database(backend, work) as url:
        res["many_ref"] = shapes.inprocess_many(url, args.streams, args.stream_values, 0.0)
    capacity = res["many_ref"]["writes_per_s"]
    with fresh_database(backend, work) as url, ServerProcess(url, log_dir=work, env=SERVER_ENV) as server:
        assert server.pid is not None
        print("  hops + throughput over HTTP", flush=True)
        res["http_hops"] = await http_hops.hops(server.url, args.n, args.interval_ms)
        res["http_tp"] = await http_hops.throughput(server.url, args.total, args.concurrency)
        res["fanout"] = []
        for n in args.subscribers:
            print(f"  fan-out: 1 stream x {n} SSE subscribers", flush=True)
            out = await shapes.fanout(server.url, server.pid, n, args.fan_writes, 50.0, args.procs)
            res["fanout"].append({"n": n, **out})
        res["seed"] = []
        for n in args.seed_subscribers:
            print(f"  seed 004 path: {n} subscribers", flush=True)
            out = await shapes.seed_path(server.url, server.pid, n, args.seed_posts, 50.0, args.procs)
            res["seed"].append({"n": n, **out})
        res["many"] = []
        for share in (0.8, 1.0):
            # Each of the streams writes at rate/streams per second, so together they offer share x capacity.
            interval_ms = 1000.0 * args.streams / (share * capacity)
            print(f"  many streams: {args.streams} at {share:.0%} of DBOS's {capacity:.0f} writes/s", flush=True)
            out = await shapes.many_streams(
                server.url, server.pid, args.streams, args.stream_values, interval_ms, args.procs
            )
            res["many"].append({"share": share, "offered_per_s": share * capacity, **out})
    with fresh_database(backend, work) as url, ServerProcess(url, log_dir=work, env=SERVER_ENV) as server:
        assert server.pid is not None
        print(f"  {args.idle} idle SSE connections", flush=True)
        res["idle"] = await shapes.idle(server.url, server.pid, args.idle, args.procs)
    # The CPU target is set at 1,000 subscribers (the largest count below it when 1,000 is not measured).
    at = 1000 if 1000 in args.subscribers else max(args.subscribers)
    print(f"  fan-out floor: bare asyncio server, 1 stream x {at}", flush=True)
    res["fanout_floor"] = {"n": at, **await fanout_floor.measure(at, args.fan_writes, 50.0, args.procs)}
    print("  references in-process", flush=True)
    with fresh_database(backend, work) as url:
        proc = subprocess.run(
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
        ref = json.loads(proc.stdout.strip().splitlines()[-1])
        res["ref_hops"] = ref["hops"]
        res["ref_tp"] = {k: {int(c): v for c, v in d.items()} for k, d in ref["throughput"].items()}
    res["fanout_ref"] = []
    for n in args.reference:
        with fresh_database(backend, work) as url:
            ref_fan = fanout.measure_reference(url, n, args.fan_writes, 50.0)
        res["fanout_ref"].append({"n": n, "latencies": ref_fan["latencies"]})
    # The raw INSERT+NOTIFY floor is a Postgres figure; it is the reference of the seed path on both backends.
    with fresh_database("postgres", work) as url:
        res["floor"] = floor.notify_latency(url, args.n * 2)
    return res


def _pct(lat: list[float]) -> tuple[float, float]:
    return _ms(lat) if lat else (float("nan"), float("nan"))


def _mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _row(goal: str, backend: str, measured: str, reference: str, ok: bool) -> str:
    return f"| {goal} | {backend} | {measured} | {reference} | {_mark(ok)} |"


def targets(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The targets, one row per target and backend: measured, its reference from the same run, met or missed."""
    rows = ["| target | backend | measured | reference (same run) | verdict |", "|---|---|---|---|---|"]
    for backend, r in results.items():
        fans = {f["n"]: f for f in r["fanout"]}
        fl = r["fanout_floor"]
        at = fans.get(fl["n"])
        if at is not None:
            ratio = at["server_cpu_per_frame_us"] / fl["server_cpu_per_frame_us"]
            rows.append(
                _row(
                    f"server CPU per frame, 1 stream x {fl['n']} SSE ≤ 3x bare asyncio floor",
                    backend,
                    f"{at['server_cpu_per_frame_us']:.1f} µs ({ratio:.2f}x), exact={at['exact']}",
                    f"bare asyncio {fl['server_cpu_per_frame_us']:.1f} µs",
                    ratio <= 3 and at["exact"],
                )
            )
        one, big = fans.get(1), fans[max(fans)]
        if one is not None and big["n"] > 1:
            _, p1 = _pct(one["latencies"])
            _, pb = _pct(big["latencies"])
            rows.append(
                _row(
                    f"1 stream x {big['n']} SSE, every one exact, p99 ≤ 5x 1-subscriber p99",
                    backend,
                    f"p99 {pb:.0f} ms ({pb / p1:.1f}x), exact={big['exact']}",
                    f"1 subscriber p99 {p1:.1f} ms",
                    pb <= 5 * p1 and big["exact"],
                )
            )
        for many in r["many"]:
            _, n99 = _pct(many["latencies"])
            _, p1 = _pct(one["latencies"]) if one is not None else (float("nan"), float("nan"))
            delivered = many.get("paced_frames_per_s", many["frames_per_s"]) / many["offered_per_s"]
            if many["share"] < 1:
                goal = f"many streams at {many['share']:.0%} of DBOS: ≥ 0.95x delivered, p99 ≤ 3x one stream's"
                ok = delivered >= 0.95 and n99 <= 3 * p1 and many["exact"]
            else:
                goal = "many streams at 100% of DBOS (shown, no target)"
                ok = many["exact"]
            rows.append(
                _row(
                    goal,
                    backend,
                    f"{delivered:.2f}x of {many['offered_per_s']:.0f}/s, p99 {n99:.0f} ms ({n99 / p1:.1f}x), "
                    f"exact={many['exact']}",
                    f"DBOS alone {r['many_ref']['writes_per_s']:.0f} writes/s; 1-stream p99 {p1:.1f} ms",
                    ok,
                )
            )
        for op, floor_ratio, clients in (("messages", 0.8, (1,)), ("starts", 0.9, (1, 8))):
            for c in [c for c in clients if c in r["http_tp"][op]]:
                h, i = r["http_tp"][op][c], r["ref_tp"][op][c]
                rows.append(
                    _row(
                        f"HTTP {op}/s ≥ {floor_ratio}x in-process, {c} client(s)",
                        backend,
                        f"{h:.0f}/s ({h / i:.2f}x)",
                        f"{i:.0f}/s",
                        h >= floor_ratio * i,
                    )
                )
        f50, _ = _pct(r["floor"])
        for seed in [s for s in r["seed"] if s["n"] == 1]:
            s50, _ = _pct(seed["latencies"])
            rows.append(
                _row(
                    "seed 004 POST → SSE, 1 subscriber: p50 ≤ 5x raw NOTIFY floor",
                    backend,
                    f"p50 {s50:.1f} ms ({s50 / f50:.1f}x), exact={seed['exact']}",
                    f"INSERT+NOTIFY → LISTEN {f50:.2f} ms",
                    s50 <= 5 * f50 and seed["exact"],
                )
            )
        h50, _ = _pct(r["http_hops"]["stream_sse"])
        r50, _ = _pct(r["ref_hops"]["stream_read"])
        rows.append(
            _row(
                "stream write → SSE p50 ≤ 0.7x DBOS in-process reader",
                backend,
                f"{h50:.1f} ms ({h50 / r50:.2f}x)",
                f"DBOS read_stream {r50:.1f} ms",
                h50 <= 0.7 * r50,
            )
        )
        idle = r["idle"]
        flat = idle["health_p99_ms"] / idle["health_p99_before_ms"]
        rows.append(
            _row(
                f"{idle['connections']} idle SSE: ≤ 30 KB each, /health p99 flat (≤ 2x without them)",
                backend,
                f"{idle['rss_per_conn_kb']:.1f} KB, /health p99 {idle['health_p99_ms']:.1f} ms ({flat:.1f}x)",
                f"/health p99 {idle['health_p99_before_ms']:.1f} ms before",
                idle["rss_per_conn_kb"] <= 30 and flat <= 2,
            )
        )
    return rows


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown tables for every backend."""
    lines = ["## Targets", "", *targets(results, args), ""]
    lines += [
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
        "## Live delivery under load (lean load generator; server CPU per delivered frame from /proc)",
        "",
        "| backend | shape | subscribers | p50 ms | p99 ms | every value to everyone | frames/s "
        "| server CPU µs / frame | load generator CPU s |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for backend, r in results.items():
        shaped = [("1 stream, 20 writes/s", f) for f in r["fanout"]]
        shaped += [("seed 004 POST → /stream", f) for f in r["seed"]]
        shaped += [
            (f"many streams at {m['share']:.0%} of DBOS ({m['offered_per_s']:.0f}/s offered)", {"n": args.streams, **m})
            for m in r["many"]
        ]
        fl = r["fanout_floor"]
        shaped += [("bare asyncio server, same bytes (floor)", fl)]
        for label, f in shaped:
            p50, p99 = _pct(f["latencies"])
            lines.append(
                f"| {backend} | {label} | {f['n']} | {p50:.1f} | {p99:.1f} | {f['exact']} | {f['frames_per_s']:.0f} "
                f"| {f['server_cpu_per_frame_us']:.1f} | {f['loadgen_cpu_s']:.1f} |"
            )
        for f in r["fanout_ref"]:
            p50, p99 = _pct(f["latencies"])
            lines.append(
                f"| {backend} | DBOS read_stream per subscriber (in-process reference) | {f['n']} | {p50:.1f} "
                f"| {p99:.1f} | | | | |"
            )
        lines.append(
            f"| {backend} | many streams, DBOS alone in-process, unpaced (capacity) | {args.streams} | | | "
            f"| {r['many_ref']['writes_per_s']:.0f} writes/s | | |"
        )
        idle = r["idle"]
        lines.append(
            f"| {backend} | idle SSE connections: RSS each {idle['rss_per_conn_kb']:.1f} KB; /health p50 "
            f"{idle['health_p50_ms']:.1f} / p99 {idle['health_p99_ms']:.1f} ms | {idle['connections']} | | | | | | |"
        )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], out: Path) -> None:
    """latency.png (hops vs in-process), cdf.png (latency CDFs), fanout.png (p99 by subscribers), cpu.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 5), squeeze=False)
    for ax, (backend, r) in zip(axes[0], results.items(), strict=False):
        labels = [k for k, _ in HOPS]
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], [_ms(r["http_hops"][k])[0] for k in labels], 0.4, label="HTTP p50")
        ax.bar([i + 0.2 for i in x], [_ms(r["ref_hops"][REFERENCE[k]])[0] for k in labels], 0.4, label="in-process")
        ax.set_xticks(list(x), labels, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(f"hop latency p50 ({backend})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 5), squeeze=False)
    for ax, (backend, r) in zip(axes[0], results.items(), strict=False):
        curves = [(f"stream → SSE, 1 stream x {f['n']}", f["latencies"]) for f in r["fanout"]]
        curves += [(f"seed 004, {f['n']} sub", f["latencies"]) for f in r["seed"]]
        curves += [(f"many streams {m['share']:.0%}", m["latencies"]) for m in r["many"]]
        curves += [("500 ms polling", r["http_hops"]["stream_poll"])]
        curves += [("DBOS read_stream (in-process)", r["ref_hops"]["stream_read"])]
        if "floor" in r:
            curves.append(("raw NOTIFY floor", r["floor"]))
        for label, lat in curves:
            if lat:
                ms = sorted(v * 1000 for v in lat)
                ax.plot(ms, [(i + 1) / len(ms) for i in range(len(ms))], label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency ms (log)")
        ax.set_ylabel("fraction of values")
        ax.set_title(f"latency CDF ({backend})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "cdf.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for backend, r in results.items():
        pts = sorted((f["n"], _pct(f["latencies"])[1]) for f in r["fanout"])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"hub → SSE ({backend})")
        pts = sorted((f["n"], _pct(f["latencies"])[1]) for f in r["fanout_ref"])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="x", ls="--", label=f"DBOS reader each ({backend})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers of one stream")
    ax.set_ylabel("p99 ms")
    ax.set_title("fan-out: p99 by subscribers (20 writes/s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fanout.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    labels, values = [], []
    for backend, r in results.items():
        for f in r["fanout"]:
            labels.append(f"{backend}\nfan-out {f['n']}")
            values.append(f["server_cpu_per_frame_us"])
        for f in r["seed"]:
            labels.append(f"{backend}\nseed {f['n']}")
            values.append(f["server_cpu_per_frame_us"])
        for m in r["many"]:
            labels.append(f"{backend}\nmany {m['share']:.0%}")
            values.append(m["server_cpu_per_frame_us"])
        labels.append(f"{backend}\nfloor {r['fanout_floor']['n']}")
        values.append(r["fanout_floor"]["server_cpu_per_frame_us"])
    ax.bar(range(len(values)), values)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylabel("server CPU µs per delivered frame")
    ax.set_yscale("log")
    ax.set_title("server CPU per delivered frame")
    fig.tight_layout()
    fig.savefig(out / "cpu.png", dpi=100)
    plt.close(fig)


def _compact(value: Any, keep: int = 1000) -> Any:
    """Long latency lists cut to ``keep`` evenly spaced quantiles (enough for CDFs and percentiles; small files)."""
    if isinstance(value, dict):
        return {k: _compact(v, keep) for k, v in value.items()}
    if isinstance(value, list) and len(value) > keep and all(isinstance(v, float) for v in value[:10]):
        ordered = sorted(value)
        return [ordered[round(i * (len(ordered) - 1) / (keep - 1))] for i in range(keep)]
    if isinstance(value, list):
        return [_compact(v, keep) for v in value]
    return value


def _load(path: Path) -> dict[str, dict[str, Any]]:
    """Saved results, with the integer keys JSON turned into strings restored."""
    saved: dict[str, dict[str, Any]] = json.loads(path.read_text())
    for r in saved.values():
        for key in ("http_tp", "ref_tp"):
            r[key] = {op: {int(c): v for c, v in d.items()} for op, d in r[key].items()}
    return saved


def main() -> None:
    """Parse arguments, run every backend, print and save the report and plots."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    p.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    p.add_argument("--n", type=int, default=200, help="samples per hop")
    p.add_argument("--interval-ms", type=float, default=20.0)
    p.add_argument("--total", type=int, default=400, help="operations per throughput measurement")
    p.add_argument("--concurrency", type=ints, default=[1, 8, 32])
    p.add_argument("--subscribers", type=ints, default=[1, 1000, 2000, 5000], help="fan-out subscribers of one stream")
    p.add_argument("--reference", type=ints, default=[1, 100, 500], help="in-process DBOS readers (reference)")
    p.add_argument("--fan-writes", type=int, default=200, help="writes per fan-out run (20/s)")
    p.add_argument("--seed-subscribers", type=ints, default=[1, 500])
    p.add_argument("--seed-posts", type=int, default=100)
    p.add_argument("--streams", type=int, default=200, help="many streams: workflows, each to its own subscriber")
    p.add_argument("--stream-values", type=int, default=30, help="many streams: values per stream")
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--quick", action="store_true", help="small counts for a fast look")
    p.add_argument(
        "--render",
        type=lambda v: v.split(","),
        default=None,
        help="render saved results.json files (comma-separated) instead of measuring; pass the runs' options",
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = p.parse_args()
    if args.quick:
        args.n, args.total, args.concurrency = 50, 100, [1, 8]
        args.subscribers, args.reference, args.fan_writes = [1, 1000, 5000], [1, 100], 60
        args.seed_subscribers, args.seed_posts = [1, 100], 50
        args.streams, args.stream_values, args.idle = 100, 20, 2000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of SSE sockets, on both ends
    results: dict[str, dict[str, Any]] = {}
    if args.render:
        # Re-render saved runs (e.g. one per backend, run separately to keep each under a few minutes).
        for path in args.render:
            results.update(_load(Path(path)))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends:
                print(f"== {backend}", flush=True)
                results[backend] = asyncio.run(run_backend(backend, args, Path(tmp)))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    how = "rendered from saved runs" if args.render else f"load average at the end {os.getloadavg()[0]:.1f}"
    text = (
        f"# Benchmark results\n\n{stamp} · {machine()} · {how} "
        f"(a shared machine: figures are noisy)\n\nCommand: `python -m bench.suite "
        f"{' '.join(sys.argv[1:])}`. Latency = from just before the producing call (send / set_event / "
        f"write_stream / POST) to the consumer having the value; same clock.\n\n{report(results, args)}\n"
    )
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "RESULTS.md").write_text(
        text + "\n![latency](latency.png)\n![cdf](cdf.png)\n![fanout](fanout.png)\n![cpu](cpu.png)\n"
    )
    (args.out / "results.json").write_text(json.dumps(_compact(results)))
    plot(results, args.out)


if __name__ == "__main__":
    main()
