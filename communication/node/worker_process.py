"""Worker mode: a process that executes workflows from the work queue and serves no API.

Run it with ``python server.py --worker`` (or ``python -m communication.node.worker``), configured by the same
environment as the server; ``COMM_WORK_QUEUE`` is required and should match the HTTP nodes' so they enqueue what the
workers run. Give every process a distinct ``COMM_EXECUTOR_ID`` on Postgres.

- Concurrency: ``COMM_WORKER_CONCURRENCY`` (per process) and ``COMM_GLOBAL_CONCURRENCY`` (whole fleet) limit the
  queue; DBOS enforces them when dequeuing.
- Shutdown: on SIGINT/SIGTERM the worker stops dequeuing and scheduling, lets running workflows continue for up to
  ``COMM_SHUTDOWN_GRACE_SECONDS``, then exits 0; what did not finish is recovered when a process with the same
  executor id starts again. A second signal exits at once (status 1).
- Health: with ``COMM_WORKER_METRICS_PORT`` set, a small HTTP listener on ``COMM_HOST`` answers ``/healthz``,
  ``/readyz`` (DBOS launched, database reachable, not shutting down) and ``/metrics``; unset, there is no HTTP.
- ``--recover EXECUTOR_ID`` (repeatable): once started, take over the pending workflows of a dead executor
  (see :mod:`communication.core.ops.recovery`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from communication.core.ops import runtime
from communication.core.ops.config_check import mask_url
from communication.core.ops.health import database_reachable
from communication.core.ops.metrics import render
from communication.core.ops.recovery import recover_executors
from communication.core.ops.versions import VersionWatch
from communication.core.settings import Settings

log = logging.getLogger("communication.node.worker")


class Worker:
    """One worker process: launch DBOS listening to the work queue, wait for a signal, shut down gracefully."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self._stop = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._versions = VersionWatch(settings, role="worker")
        self._versions_lock = threading.Lock()

    def version_mismatch(self) -> dict[str, Any] | None:
        """``details.version_mismatch`` for the health port's ``/readyz`` (cached check; see core.versions)."""
        with self._versions_lock:  # the health server is threaded; one check at a time
            report = asyncio.run(self._versions.report())
        return report.mismatch() if report is not None else None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)  # the user insists; unfinished workflows are recovered at the next start
        log.info(
            "%s received: finishing (grace %.0f s)", signal.Signals(signum).name, self.settings.shutdown_grace_seconds
        )
        self.ready = False
        self._stop.set()

    def _serve_health(self) -> None:
        port = self.settings.worker_metrics_port
        if port is None:
            return
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, content_type = render()
                    status = 200
                elif self.path == "/healthz":
                    body, content_type, status = b'{"status": "ok"}', "application/json", 200
                elif self.path == "/readyz":
                    ok = worker.ready and database_reachable()
                    content_type, status = "application/json", 200 if ok else 503
                    payload: dict[str, object] = {"status": "ready" if ok else "not_ready"}
                    mismatch = worker.version_mismatch() if ok else None
                    if mismatch is not None:
                        payload["warnings"] = mismatch["problems"]
                        payload["details"] = {"version_mismatch": mismatch}
                    body = json.dumps(payload).encode()
                else:
                    body, content_type, status = b'{"error": "not found"}', "application/json", 404
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health: " + format, *args)

        self._http = ThreadingHTTPServer((self.settings.host, port), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="worker-health", daemon=True).start()
        log.info("health and metrics on http://%s:%d", self.settings.host, self._http.server_address[1])

    def run(self, recover: list[str] | None = None) -> int:
        """Run until SIGINT/SIGTERM; return the exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self._serve_health()
        runtime.launch(self.settings, worker=True)
        try:
            if recover:
                recover_executors(recover)
            asyncio.run(self._versions.report_at_start(role="worker"))
            self.ready = not self._stop.is_set()
            log.info(
                "worker %r executing queue %r on %s",
                self.settings.executor_id or "local",
                self.settings.work_queue,
                mask_url(self.settings.resolved_database_url()),
            )
            self._stop.wait()
        finally:
            self.ready = False
            runtime.shutdown(self.settings.shutdown_grace_seconds)
            if self._http is not None:
                self._http.shutdown()
                self._http.server_close()
        log.info("worker stopped")
        return 0
