"""The floor for fan-out: the same SSE bytes written by a bare asyncio server to the same load generator.

A server subprocess (``python -m bench.fanout_floor 0``, any free port) built on ``asyncio.start_server`` alone
answers every ``GET`` with the headers a live tail sends (chunked ``text/event-stream``) and ``: connected``; when the
parent writes ``go WRITES INTERVAL_MS`` on its stdin it writes ``WRITES`` pre-encoded value frames (the hub's layout:
``id`` / ``event: value`` / ``data: {"i","t"}``, chunk-framed as uvicorn frames them) to every open socket, one
``transport.write`` per socket per frame in one loop, paced ``INTERVAL_MS`` apart, then ends every response.

Its CPU time per delivered frame is what a Python process cannot go below for this shape: no database, no hub,
no ASGI, one write per subscriber per frame. :func:`measure` runs it against ``bench.loadgen`` exactly as
``bench.shapes.fanout`` runs the real server, so the two figures are comparable in the same run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench.common import cpu_seconds
from bench.loadgen import Readers

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
    b"connection: keep-alive\r\nx-accel-buffering: no\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


async def _serve(port: int) -> None:
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_HEAD + _chunk(b": connected\r\n\r\n"))
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", port, backlog=4096)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    command = (await stdin.readline()).split()
    writes, interval = int(command[1]), float(command[2]) / 1000
    for i in range(writes):
        frame = _chunk(f'id: {i}\r\nevent: value\r\ndata: {{"i":{i},"t":{time.time()}}}\r\n\r\n'.encode())
        for w in writers:
            w.write(frame)
        await asyncio.sleep(interval)
    for w in writers:
        w.write(b"0\r\n\r\n")
    await asyncio.gather(*(w.drain() for w in writers), return_exceptions=True)
    for w in writers:
        w.close()
    server.close()
    print("done", flush=True)
    await stdin.readline()  # stay alive until the parent has read this process's CPU time


async def measure(subscribers: int, writes: int, interval_ms: float, procs: int) -> dict[str, Any]:
    """Server CPU µs per delivered frame (and latencies) of the bare asyncio server for 1 stream x ``subscribers``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fanout_floor", "0", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        port = int((await asyncio.wait_for(proc.stdout.readline(), 30)).split()[1])
        readers = Readers("127.0.0.1", port, ["/floor"] * subscribers, procs)
        await readers.start()
        cpu0, t0 = cpu_seconds(proc.pid), time.time()
        proc.stdin.write(f"go {writes} {interval_ms}\n".encode())
        await proc.stdin.drain()
        res = await readers.finish()
        await asyncio.wait_for(proc.stdout.readline(), 60)
        cpu1, t1 = cpu_seconds(proc.pid), time.time()
        proc.stdin.write(b"exit\n")
        await proc.stdin.drain()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    frames = sum(res["counts"])
    return {
        "latencies": res["latencies"],
        "exact": all(c == writes for c in res["counts"]),
        "frames": frames,
        "server_cpu_per_frame_us": (cpu1 - cpu0) / frames * 1e6 if frames else float("nan"),
        "loadgen_cpu_s": res["cpu_s"],
        "frames_per_s": frames / (t1 - t0),
        "errors": res["errors"],
    }


if __name__ == "__main__":
    if len(sys.argv) == 2:
        asyncio.run(_serve(int(sys.argv[1])))
    else:  # python -m bench.fanout_floor measure N WRITES INTERVAL_MS
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        out = asyncio.run(measure(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), 2))
        out["latencies"] = len(out["latencies"])
        print(json.dumps(out))
