"""A lean SSE load generator: raw sockets, several processes, reporting its own CPU.

Why: an httpx client per subscriber in the benchmark's own process spends more CPU than the server does at
1,000 subscribers, so the client, not the server, was measured. Here each worker process holds many plain
asyncio connections, decodes HTTP chunked framing and SSE blocks by hand and parses only the ``data:`` lines of
value frames (their ``"t"`` field, the producer's wall clock just before its write).

Protocol between the parent (:class:`Readers`) and a worker (``python -m bench.loadgen``): the worker gets the
host, port and paths as JSON on stdin, prints ``ready N`` once every connection has its first frame
(``: connected``) or failed (N = connections open), reads until every response ends (or the deadline), then
prints one JSON line: ``{"latencies": [...], "counts": [...], "cpu_s": ..., "errors": [...]}``.
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


_CONNECTING = 256  # connections opening at once per worker: more overflows the server's listen backlog
_connected = 0  # connections that received their first frame


async def _read_one(
    host: str, port: int, path: str, ready: asyncio.Event, out: list[float], deadline: float, gate: asyncio.Semaphore
) -> int:
    global _connected
    async with gate:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=2**20)
        except OSError:
            ready.set()  # counted as a failed connection; the others go on
            raise
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError):
            ready.set()
            writer.close()
            raise
    status_line = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status_line:
        ready.set()
        writer.close()
        raise RuntimeError(f"{path}: {status_line!r}")
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
                    _connected += 1
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
    gate = asyncio.Semaphore(_CONNECTING)
    tasks = [
        asyncio.create_task(_read_one(host, port, p, r, latencies, deadline, gate))
        for p, r in zip(paths, readies, strict=True)
    ]
    for r in readies:
        await r.wait()
    print(f"ready {_connected}", flush=True)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    counts = [o if isinstance(o, int) else 0 for o in outcomes]
    errors = sorted({f"{type(o).__name__}: {o}"[:200] for o in outcomes if isinstance(o, BaseException)})
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {"latencies": latencies, "counts": counts, "cpu_s": usage.ru_utime + usage.ru_stime, "errors": errors}
    print(json.dumps(result), flush=True)


@dataclass
class Readers:
    """``paths`` read by ``processes`` worker processes (round-robin); open with :meth:`start`."""

    host: str
    port: int
    paths: list[str]
    processes: int = 2
    deadline_s: float = 300.0
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    connected: int = 0  # connections that received their first frame (set by :meth:`start`)

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
            line = await asyncio.wait_for(proc.stdout.readline(), 180)
            if not line.startswith(b"ready "):
                raise RuntimeError(f"load generator failed to start: {line!r}")
            self.connected += int(line.split()[1])

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
        errors: list[str] = []
        cpu = 0.0
        for proc in self.procs:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            await proc.wait()
            result = json.loads(line)
            latencies += result["latencies"]
            counts += result["counts"]
            errors += result["errors"]
            cpu += result["cpu_s"]
        return {"latencies": latencies, "counts": counts, "cpu_s": cpu, "errors": sorted(set(errors))}


def main() -> None:
    """Worker entry: a JSON spec on stdin."""
    spec = json.loads(sys.stdin.readline())
    asyncio.run(_worker(spec["host"], spec["port"], spec["paths"], spec["deadline_s"]))


if __name__ == "__main__":
    main()
