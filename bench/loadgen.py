"""A lean SSE load generator: raw sockets, several processes, reporting its own CPU.

Why: an httpx client per subscriber in the benchmark's own process spends more CPU than the server does at
1,000 subscribers, so the client, not the server, was measured. Here each worker process holds many plain
asyncio connections, decodes HTTP chunked framing and SSE blocks by hand and parses only the ``data:`` lines of
value frames (their ``"t"`` field, the producer's wall clock just before its write).

Protocol between the parent (:class:`Readers`) and a worker (``python -m bench.loadgen``): the worker gets the
host, port and paths as JSON on stdin, prints ``ready`` once every connection has its first frame
(``: connected``), reads until every response ends (or ``--deadline`` seconds), then prints one JSON line:
``{"latencies": [...], "counts": [...], "cpu_s": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_VALUE_MARK = b'"t":'


async def _read_one(host: str, port: int, path: str, ready: asyncio.Event, out: list[float], deadline: float) -> int:
    reader, writer = await asyncio.open_connection(host, port, limit=2**20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"{path}: {head[:200]!r}")
    chunked = b"transfer-encoding: chunked" in head.lower()
    buf = b""
    received = 0
    first = True
    try:
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            if chunked:
                size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), remaining)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break  # the response ended
                data = await reader.readexactly(size + 2)
                buf += data[:-2]
            else:
                data = await asyncio.wait_for(reader.read(65536), remaining)
                if not data:
                    break
                buf += data
            *blocks, buf = buf.split(b"\r\n\r\n")
            now = time.time()
            for block in blocks:
                if first:
                    first = False
                    ready.set()
                i = block.find(b"data: ")
                if i < 0 or _VALUE_MARK not in block:
                    continue
                line = block[i + 6 :].split(b"\r\n", 1)[0]
                value = json.loads(line)
                t = value.get("t") if isinstance(value, dict) else None
                if t is None and isinstance(value, dict) and isinstance(value.get("value"), dict):
                    t = value["value"].get("t")
                if t is not None:
                    out.append(now - t)
                    received += 1
    finally:
        ready.set()
        writer.close()
    return received


async def _worker(host: str, port: int, paths: list[str], deadline_s: float) -> None:
    deadline = time.time() + deadline_s
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in paths]
    tasks = [
        asyncio.create_task(_read_one(host, port, p, r, latencies, deadline))
        for p, r in zip(paths, readies, strict=True)
    ]
    for r in readies:
        await r.wait()
    print("ready", flush=True)
    counts = await asyncio.gather(*tasks)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"latencies": latencies, "counts": counts, "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)


@dataclass
class Readers:
    """``paths`` read by ``processes`` worker processes (round-robin); open with :meth:`start`."""

    host: str
    port: int
    paths: list[str]
    processes: int = 2
    deadline_s: float = 300.0
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self) -> None:
        """Spawn the workers and wait until every connection is open."""
        n = max(1, min(self.processes, len(self.paths)))
        per = math.ceil(len(self.paths) / n)
        for k in range(n):
            share = self.paths[k * per : (k + 1) * per]
            if not share:
                continue
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.loadgen",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**27,  # the result line carries every latency
            )
            assert proc.stdin is not None
            spec = {"host": self.host, "port": self.port, "paths": share, "deadline_s": self.deadline_s}
            proc.stdin.write(json.dumps(spec).encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if line.strip() != b"ready":
                raise RuntimeError(f"load generator failed to connect: {line!r}")

    async def kill(self) -> None:
        """Stop every worker now (idle-connection measurements)."""
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()

    async def finish(self) -> dict[str, Any]:
        """Wait for every worker; merged latencies (s), per-connection counts, the generators' CPU seconds."""
        latencies: list[float] = []
        counts: list[int] = []
        cpu = 0.0
        for proc in self.procs:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            await proc.wait()
            result = json.loads(line)
            latencies += result["latencies"]
            counts += result["counts"]
            cpu += result["cpu_s"]
        return {"latencies": latencies, "counts": counts, "cpu_s": cpu}


def main() -> None:
    """Worker entry: a JSON spec on stdin."""
    spec = json.loads(sys.stdin.readline())
    asyncio.run(_worker(spec["host"], spec["port"], spec["paths"], spec["deadline_s"]))


if __name__ == "__main__":
    main()
