"""The benchmark suite's plots: latency.png (hops vs in-process), cdf.png (latency CDFs), fanout.png (p99 by
subscribers) and cpu.png (server CPU per delivered frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import HOPS, REFERENCE, _ms, _pct


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
        curves += [(f"many streams {m['share']:.0%}, {m.get('layout', '')}", m["latencies"]) for m in r["many"]]
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
    ax.set_title("fan-out: p99 by subscribers (20 writes/s, at most --fan-frames frames/s)")
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
            labels.append(f"{backend}\nmany {m['share']:.0%}\n{m.get('layout', '')}")
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
