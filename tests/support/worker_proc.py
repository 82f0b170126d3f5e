"""A real ``python -m communication.node.worker`` in a subprocess, for worker, shutdown and multi-node tests.

Readiness is observed on the worker's own health port (``COMM_WORKER_METRICS_PORT``), so tests never sleep to
wait for it. Output goes to ``worker-<executor id>.log`` under ``log_dir``; start-up failures include its tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from tests.support.server_proc import ROOT, free_port


def wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    """Poll ``url/readyz`` until it answers 200; fail early, with the log's tail, if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"process exited with {proc.returncode} at start:\n{tail}")
            try:
                if http.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # readiness polling of a subprocess, not test synchronisation
    raise RuntimeError(f"{url} not ready within {timeout:g} s:\n{log_path.read_text(errors='replace')[-4000:]}")


class WorkerProcess:
    """A worker subprocess executing ``queue`` as ``executor_id`` on ``database_url``; restartable.

    Args:
        env: extra environment variables (e.g. ``COMM_APP_VERSION``).
        startup_timeout: seconds to wait for ``/readyz`` on the health port.
    """

    def __init__(
        self,
        database_url: str,
        *,
        log_dir: Path,
        executor_id: str = "worker-1",
        queue: str = "work",
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.database_url = database_url
        self.executor_id = executor_id
        self.queue = queue
        self.health_port = free_port()
        self.health_url = f"http://127.0.0.1:{self.health_port}"
        self.log_path = log_dir / f"worker-{executor_id}.log"
        self.startup_timeout = startup_timeout
        self._extra_env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """The environment the worker runs with."""
        env = dict(os.environ)
        env.update(
            {
                "DBOS_SYSTEM_DATABASE_URL": self.database_url,
                "COMM_HOST": "127.0.0.1",
                "COMM_WORK_QUEUE": self.queue,
                "COMM_EXECUTOR_ID": self.executor_id,
                "COMM_WORKER_METRICS_PORT": str(self.health_port),
                "COMM_QUEUE_POLLING_INTERVAL_SEC": "0.05",
                "COMM_SQLITE_POLLING_INTERVAL_SEC": "0.01",
                "COMM_LOG_LEVEL": "info",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self._extra_env)
        return env

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the worker and wait until its ``/readyz`` answers 200."""
        if self.running:
            raise RuntimeError("worker already running")
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "communication.node.worker"],
            cwd=ROOT,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.health_url, self._proc, self.log_path, self.startup_timeout)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit (SIGKILL after ``timeout``); return the exit status."""
        return self._stop(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL, like a machine dying; return the exit status."""
        return self._stop(signal.SIGKILL, 15.0)

    def _stop(self, sig: signal.Signals, timeout: float) -> int:
        proc, self._proc = self._proc, None
        code = 0
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15.0)
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def metrics(self) -> str:
        """The worker's ``/metrics`` text."""
        return httpx.get(f"{self.health_url}/metrics", timeout=5.0).text

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the worker's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self.kill()
