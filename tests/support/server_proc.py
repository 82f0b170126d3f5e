"""A real ``python server.py`` in a subprocess, for end-to-end tests (client library, CLI, example tour, chaos).

Usage in a test module::

    from tests.support.server_proc import ServerProcess

    @pytest.fixture
    def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
        with ServerProcess(database_url, log_dir=tmp_path) as proc:
            yield proc

    def test_something(server: ServerProcess) -> None:
        httpx.get(f"{server.url}/readyz")
        server.restart()             # same port, same database: clients reconnect to the same URL
        server.stop(graceful=False)  # SIGKILL, like a crash; leaving the with-block does the same

The server gets ``DBOS_SYSTEM_DATABASE_URL`` (the per-test database), ``COMM_PORT`` (a free port, kept across
restarts), ``COMM_HOST=127.0.0.1``, ``COMM_DEMO_STEP_DELAY_SECONDS=0`` and ``COMM_SHUTDOWN_GRACE_SECONDS=0``;
``env`` adds or overrides variables.
Its output goes to ``server.log`` under ``log_dir``; failures to start include the log's tail.

Also here: :class:`TcpProxy` (a real TCP relay whose connections a test can cut, to force a disconnect without
stopping the server).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``python server.py`` as a subprocess on a free port, restartable on the same port and database.

    Args:
        database_url: the system database (SQLite file or Postgres database), e.g. the ``database_url`` fixture.
        log_dir: where ``server.log`` goes (appended across restarts).
        env: extra environment variables for the server (e.g. ``{"COMM_API_KEYS": "..."}``).
        port: a fixed port; default a free one.
        startup_timeout: seconds to wait for ``/readyz`` before failing.
    """

    def __init__(
        self,
        database_url: str,
        *,
        log_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "server.log"
        self.startup_timeout = startup_timeout
        self._extra_env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running server's process id."""
        return self._proc.pid if self._proc is not None else None

    def environment(self) -> dict[str, str]:
        """The environment the server runs with."""
        env = dict(os.environ)
        # A client-side setting of the developer's shell must not leak into how the server is reached or keyed.
        for name in ("COMM_URL", "COMM_API_KEY"):
            env.pop(name, None)
        env.update(
            {
                "DBOS_SYSTEM_DATABASE_URL": self.database_url,
                "COMM_HOST": "127.0.0.1",
                "COMM_PORT": str(self.port),
                "COMM_DEMO_STEP_DELAY_SECONDS": "0",
                "COMM_LOG_LEVEL": "warning",
                # Tests stop servers often; draining running workflows (the production default) only slows them.
                "COMM_SHUTDOWN_GRACE_SECONDS": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self._extra_env)
        return env

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended by itself; ``None`` while it runs (or was never started)."""
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        """Start the server and wait until ``/readyz`` answers 200 (bounded by ``startup_timeout``)."""
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("server already running")
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, str(ROOT / "server.py")],
            cwd=ROOT,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        """Poll ``/readyz`` until it answers 200; fail early (with the log) if the process exits."""
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self._proc.returncode} during start-up:\n{self.log_tail()}"
                    )
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # readiness polling of a subprocess, not test synchronisation
        raise RuntimeError(f"server not ready within {self.startup_timeout:g} s:\n{self.log_tail()}")

    def stop(self, *, graceful: bool = True, timeout: float = 15.0) -> None:
        """Stop the server: SIGTERM and wait (killing it after ``timeout``), or SIGKILL at once (a crash)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if graceful:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            else:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, graceful: bool = True) -> None:
        """Stop the server and start it again on the same port and database; returns once it is ready."""
        self.stop(graceful=graceful)
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # The test is over and its database is thrown away: a graceful stop would only cost time (about a second,
        # up to the shutdown grace with work in flight). Tests of shutdown call stop() themselves.
        self.stop(graceful=False)


class TcpProxy:
    """A TCP relay in front of a server, to cut live connections on demand (a real network failure).

    ``url`` is the proxy's address; :meth:`drop_connections` closes every relayed connection (both sides)
    while the proxy keeps accepting new ones, so a client that reconnects gets through again.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._accepter = threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True)
        self._accepter.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                if self._closed:
                    downstream.close()
                    upstream.close()
                    return
                self._sockets.update((downstream, upstream))
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other direction or drop_connections closed a socket: this relay is over
        finally:
            self._close(src)
            self._close(dst)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):  # already shut down by the other direction
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def connections(self) -> int:
        """Sockets currently relayed (two per connection)."""
        with self._lock:
            return len(self._sockets)

    def drop_connections(self) -> None:
        """Cut every relayed connection now."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def close(self) -> None:
        """Stop accepting and cut everything."""
        with self._lock:
            self._closed = True
        self._listener.close()
        self.drop_connections()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
