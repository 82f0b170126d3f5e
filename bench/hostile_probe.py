"""The outside probe's denial-of-service findings, replayed against a real ``python server.py``: how long the
hostile request takes, how the server's other clients fare meanwhile (``/health`` latency), and its memory.

    python -m bench.hostile_probe                      # this checkout
    python -m bench.hostile_probe --root /tmp/old-tree # another checkout (e.g. the code before a fix)
    python -m bench.hostile_probe --only json,dates    # a subset: json, dates, websocket, slow

Shapes (each from the probe's report):

* ``json``: a 24 KB and a 48 KB unterminated JSON string of escaped quotes to a public webhook route (before any
  signature check), and with ``--large`` the same at 1 MiB;
* ``dates``: 8 KB of digits in ``created_after`` (GET /v1/workflows) and 14 KB in a schedule backfill body;
* ``websocket``: 20 sockets each sending one 15 MiB text message (peak RSS, VmHWM);
* ``slow``: 1,500 connections that send part of a request head and then nothing, with the server started under
  a 1,024 soft open-file limit (the common default): ``/health`` answered or not, and its latency.

The server runs on SQLite in a temporary directory and is stopped at the end; every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _limit_files() -> None:  # runs in the child before exec: the probe's 1,024 soft limit
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


@contextlib.contextmanager
def server(root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``python server.py`` from ``root`` on a free port; yields (base URL, pid); stopped on exit."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        full = {
            **os.environ,
            "PYTHONPATH": str(root),
            "COMM_HOST": "127.0.0.1",
            "COMM_PORT": str(port),
            "COMM_LOG_LEVEL": "warning",
            "COMM_DATA_DIR": tmp,
            "COMM_SHUTDOWN_GRACE_SECONDS": "0",
            "DBOS_SYSTEM_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite",
            **(env or {}),
        }
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "server.py"],
            cwd=root,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_files,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(
                        "server exited during start-up: " + (Path(tmp) / "server.log").read_text()[-2000:]
                    )
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise RuntimeError("server not ready within 90 s")
            yield url, proc.pid
        finally:
            proc.send_signal(signal.SIGKILL)  # its state is a temporary database: nothing to shut down cleanly
            proc.wait(timeout=30)
            log.close()


def health_once(url: str, timeout: float = 5.0) -> bool:
    """One ``GET /health`` on a fresh connection, over a plain socket: what is timed is the server's answer, not
    an HTTP client's set-up (an ``httpx.get`` builds a TLS context each time, tens of milliseconds)."""
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200")


class HealthProbe:
    """``GET /health`` every 50 ms on a thread (a fresh connection each time, like a load balancer)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            ok = health_once(self.url)
            elapsed = time.perf_counter() - start
            if ok:
                self.latencies.append(elapsed)
            else:
                self.failures += 1
            self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def summary(self) -> str:
        if not self.latencies:
            return f"/health: 0 answered, {self.failures} failed"
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p95 = lat[max(0, math.ceil(0.95 * len(lat)) - 1)] * 1000  # nearest rank
        return (
            f"/health: {len(lat)} answered (p50 {p50:.1f} ms, p95 {p95:.0f} ms, max {lat[-1] * 1000:.0f} ms), "
            f"{self.failures} failed"
        )


def _timed(what: str, url: str, call: Callable[[], httpx.Response]) -> None:
    with HealthProbe(url) as health:
        start = time.perf_counter()
        try:
            status: Any = call().status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - start
    print(f"  {what}: {status} in {elapsed:.2f} s; {health.summary()}", flush=True)


def probe_json(url: str, large: bool) -> None:
    """Item 1: escaped quotes in an unterminated string, on the public webhook route."""
    print("json depth pre-scan (POST /v1/webhooks/standard, unsigned):", flush=True)
    # Before the fix the time grew with the square of the size (48 KB: ~27 s on the probe's machine), so 1 MiB,
    # which would freeze an unfixed server for hours, only runs with --large.
    for size in (24_000, 48_000, *((1_048_000,) if large else ())):
        body = b'{"a":"' + b'\\"' * (size // 2)
        _timed(
            f"{size // 1000} KB",
            url,
            lambda b=body: httpx.post(  # type: ignore[misc]
                f"{url}/v1/webhooks/standard", content=b, headers={"content-type": "application/json"}, timeout=120
            ),
        )


def probe_dates(url: str) -> None:
    """Item 6: digit runs in date-time fields."""
    print("date-time fields:", flush=True)
    created = "1" * 8000 + "x"
    _timed(
        "GET /v1/workflows?created_after=<8 KB>",
        url,
        lambda: httpx.get(f"{url}/v1/workflows", params={"created_after": created}, timeout=120),
    )
    start = "1" * 14000 + "x"
    _timed(
        "POST /v1/schedules/x/backfill start=<14 KB>",
        url,
        lambda: httpx.post(
            f"{url}/v1/schedules/x/backfill", json={"start": start, "end": "2025-01-01T00:00:00Z"}, timeout=120
        ),
    )


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe_websocket(url: str, pid: int) -> None:
    """Item 8: large WebSocket messages, buffered by the server before the app's own limit."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake
    from websockets.sync.client import connect

    print("websocket messages (20 sockets x 15 MiB, /ws/<user>):", flush=True)
    before = _rss_mb(pid, "VmRSS")
    message = "x" * (15 * 1024 * 1024)
    closes: list[str] = []

    def one(i: int) -> None:
        try:
            with connect(f"{url.replace('http', 'ws')}/ws/bench-{i}", max_size=None, open_timeout=10) as ws:
                ws.send(message)
                try:
                    ws.recv(timeout=10)
                    closes.append("answered")
                except ConnectionClosed as exc:
                    closes.append(str(exc.rcvd.code if exc.rcvd else None))
                except TimeoutError:
                    closes.append("no answer")
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            closes.append(type(exc).__name__)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    with HealthProbe(url) as health:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    peak = _rss_mb(pid, "VmHWM")
    outcome = {c: closes.count(c) for c in set(closes)}
    print(f"  RSS {before:.0f} MB before, peak {peak:.0f} MB; outcomes {outcome}; {health.summary()}", flush=True)


def probe_slow(url: str, count: int = 1500, hold: float = 8.0) -> None:
    """Item 9: many connections that never finish their request head."""
    print(f"slow request heads ({count} connections, server soft open-file limit 1024):", flush=True)
    host, port = url.removeprefix("http://").split(":")
    socks: list[socket.socket] = []
    refused = 0
    for _ in range(count):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((host, int(port)))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            refused += 1
            s.close()
    try:
        with HealthProbe(url) as health:
            time.sleep(hold)  # the measurement window: /health polled while the slow connections stay open
        print(f"  {len(socks)} opened ({refused} refused); during {hold:.0f} s: {health.summary()}", flush=True)
        # Which slow connections has the server closed by now (a 408 or EOF)?
        closed = 0
        deadline = time.monotonic() + 15
        for s in socks:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            with contextlib.suppress(OSError):
                data = s.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 408"):
                    closed += 1
        print(f"  closed by the server within {hold + 15:.0f} s: {closed} of {len(socks)}", flush=True)
    finally:
        for s in socks:
            s.close()


def main(argv: list[str] | None = None) -> int:
    """Run the selected probes, each against a fresh server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose server.py to run")
    parser.add_argument("--large", action="store_true", help="also the 1 MiB JSON body (fixed servers only)")
    parser.add_argument("--only", default="json,dates,websocket,slow", help="comma-separated probes")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    print(f"server from {args.root}", flush=True)
    with server(args.root) as (url, _), HealthProbe(url) as idle:
        time.sleep(3)
    print(f"idle server: {idle.summary()}", flush=True)
    if only & {"json", "dates", "websocket"}:
        with server(args.root) as (url, pid):
            if "json" in only:
                probe_json(url, args.large)
            if "dates" in only:
                probe_dates(url)
            if "websocket" in only:
                probe_websocket(url, pid)
    if "slow" in only:
        with server(args.root) as (url, _):
            probe_slow(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
