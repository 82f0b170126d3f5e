"""A lean SSE load generator: raw sockets, several processes, reporting its own CPU.

Why: an httpx client per subscriber in the benchmark's own process spends more CPU than the server does at
1,000 subscribers, so the client, not the server, was measured. Here each worker process holds many plain
asyncio connections, reads large blocks, decodes HTTP chunked framing and SSE blocks by hand and reads only the
``"t"`` field of value frames (the producer's wall clock just before its write) without parsing their JSON.

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


def _stamp(block: bytes) -> float | None:
    """The producer's clock ``"t":`` of a value frame's ``data:`` line, read without parsing the JSON (the
    benchmark values are ``{"i": …, "t": …}``, or ``{"value": {…, "t": …}}`` on the seed path)."""
    i = block.find(b"data: ")
    if i < 0:
        return None
    j = block.find(_VALUE_MARK, i)
    if j < 0:
        return None
    j += len(_VALUE_MARK)
    k = j
    n = len(block)
    while k < n and block[k] not in b",}":
        k += 1
    return float(block[j:k])


class _Tail(asyncio.Protocol):
    """One SSE response read in ``data_received`` (no task, no future per read: the generator's own CPU per frame
    stays well below the server's): headers, chunk framing, SSE blocks, the ``"t"`` of each value frame."""

    def __init__(self, request: bytes, ready: asyncio.Event, out: list[float]) -> None:
        self.request = request
        self.ready = ready
        self.out = out
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.raw = b""  # bytes read, not yet split into chunks
        self.buf = b""  # chunk payloads, not yet split into SSE blocks
        self.chunked = False
        self.received = 0
        self.first = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        raw = self.raw + data
        if not self.head.done():
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            head, raw = raw[: end + 4], raw[end + 4 :]
            self.chunked = b"transfer-encoding: chunked" in head.lower()
            self.head.set_result(head)
        if self.chunked:
            # Chunk framing decoded in place over everything read so far (one read may hold many frames).
            pos, parts, ended = 0, [self.buf], False
            while True:
                eol = raw.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(raw[pos:eol].split(b";")[0], 16)
                if size == 0:
                    ended = True
                    break
                stop = eol + 2 + size
                if len(raw) < stop + 2:
                    break
                parts.append(raw[eol + 2 : stop])
                pos = stop + 2
            self.raw = raw[pos:]
            buf = b"".join(parts)
        else:
            self.raw, buf, ended = b"", self.buf + raw, False
        *blocks, self.buf = buf.split(b"\r\n\r\n")
        if blocks:
            global _connected
            now = time.time()
            for block in blocks:
                if self.first:
                    self.first = False
                    _connected += 1
                    self.ready.set()
                t = _stamp(block)
                if t is not None:
                    self.out.append(now - t)
                    self.received += 1
        if ended and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ready.set()
        if not self.head.done():
            self.head.set_exception(exc or ConnectionResetError("closed before the response"))
        if not self.done.done():
            self.done.set_result(self.received)


async def _read_one(
    host: str, port: int, path: str, ready: asyncio.Event, out: list[float], deadline: float, gate: asyncio.Semaphore
) -> int:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    tail = _Tail(request, ready, out)
    async with gate:
        try:
            transport, _ = await loop.create_connection(lambda: tail, host, port)
            head = await tail.head
        except OSError:
            ready.set()  # counted as a failed connection; the others go on
            raise
    status_line = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status_line:
        ready.set()
        transport.close()
        raise RuntimeError(f"{path}: {status_line!r}")
    try:
        return await asyncio.wait_for(asyncio.shield(tail.done), max(0.0, deadline - time.time()))
    except TimeoutError:
        return tail.received
    finally:
        ready.set()
        transport.close()


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
