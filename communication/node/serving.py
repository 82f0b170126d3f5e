"""Serving the app with uvicorn and shutting down gracefully on SIGINT/SIGTERM.

On the first signal: ``/readyz`` turns 503 at once (load balancers stop sending traffic), uvicorn stops accepting
connections and gives open requests (long polls, SSE tails) until the grace deadline, then the app's lifespan lets
workflows running in this process continue until the *same* deadline (``Settings.shutdown_grace_seconds`` in
total, not twice) and destroys DBOS. Whatever is still running then is recovered by the next process started with
this executor id. A second SIGINT forces an immediate exit.

Slow and numerous clients: uvicorn bounds idle keep-alive connections (``COMM_KEEP_ALIVE_TIMEOUT_SECONDS``), the
number of connections and running requests (``COMM_MAX_CONNECTIONS``, 503 beyond) and WebSocket messages
(``COMM_MAX_BODY_BYTES``, close 1009), but has no timeout for a request head that never completes: the server
closes such connections itself (:meth:`GracefulServer.on_tick`, ``COMM_HEADER_READ_TIMEOUT_SECONDS``). Slow
bodies are timed out by the body middleware. The open-file limit is raised to its hard maximum at start, so
``COMM_MAX_CONNECTIONS`` connections fit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import resource
import signal
import socket
import threading
import time
from collections.abc import Generator
from types import FrameType
from typing import Any
from urllib.parse import unquote

import uvicorn
from fastapi import FastAPI

from communication.core.ops.config_check import mask_url
from communication.core.settings import Settings
from communication.http.entry_send import EntrySend
from communication.http.errors import envelope
from communication.http.frames import encode_json
from communication.http.shutdown import begin_shutdown
from communication.protocol.errors import RequestBodyTimeout

log = logging.getLogger("communication.node.serving")


class GracefulServer(uvicorn.Server):
    """A uvicorn server that flags the app on the first signal and exits with status 0 afterwards."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: FastAPI,
        grace_seconds: float,
        header_timeout: float | None = None,
        interrupt_grace_seconds: float | None = None,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._grace = grace_seconds
        self._interrupt_grace = grace_seconds if interrupt_grace_seconds is None else interrupt_grace_seconds
        self._header_timeout = header_timeout
        # connection -> (its request cycle when first seen waiting for a request head, monotonic time then)
        self._waiting: dict[Any, tuple[Any, float]] = {}

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's 10 Hz housekeeping, plus the request-head timeout (twice a second)."""
        if self._header_timeout is not None and counter % 5 == 0:
            self._close_slow_heads(time.monotonic())
        return await super().on_tick(counter)

    def _close_slow_heads(self, now: float) -> None:
        """Close HTTP connections that have waited for a complete request head longer than the header timeout.

        A connection waits for a head when it has no request yet (``cycle is None``) or its last response is
        complete; the clock restarts with every new request (a new cycle). Requests being served (live tails
        included) and WebSockets (no ``cycle``) are never touched.
        """
        assert self._header_timeout is not None
        waiting: dict[Any, tuple[Any, float]] = {}
        for conn in list(self.server_state.connections):
            if not hasattr(conn, "cycle"):
                continue  # a WebSocket: its own ping/close handling applies
            cycle = conn.cycle
            if cycle is not None and not getattr(cycle, "response_complete", False):
                continue
            seen = self._waiting.get(conn)
            since = seen[1] if seen is not None and seen[0] is cycle else now
            if now - since < self._header_timeout:
                waiting[conn] = (cycle, since)
                continue
            transport = getattr(conn, "transport", None)
            if transport is None or transport.is_closing():
                continue
            if cycle is None:
                transport.write(_HEAD_TIMEOUT_RESPONSE)  # nothing was answered on it yet: say why it closes
            transport.close()
        self._waiting = waiting

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: start the graceful shutdown; uvicorn's own handling follows."""
        if not self.should_exit:
            # Ctrl-C is a person at a terminal waiting for the prompt: a short grace. Workflows still running are
            # durable and resume on the next start; SIGTERM (an orchestrator) gets the full grace.
            grace = self._interrupt_grace if sig == signal.SIGINT else self._grace
            log.info("%s received: shutting down (grace %.0f s)", signal.Signals(sig).name, grace)
            self.config.timeout_graceful_shutdown = max(1, math.ceil(grace))
            begin_shutdown(self._app, grace)
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Run the lifespan (DBOS launch), bind, then log the one "serving on" line: it is only printed once the
        database has been reached and the port is bound."""
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.config.host, self.config.port
        for server in getattr(self, "servers", []):
            for sock in server.sockets or ():
                host, port = sock.getsockname()[:2]
                break
        settings: Settings = self._app.state.settings
        log.info(
            "serving on http://%s:%d (dashboard at /ui/, API docs at /docs), database %s",
            host,
            port,
            mask_url(settings.resolved_database_url()),
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Deliberate divergence from uvicorn: it re-raises the captured signal after shutting down so that an
        # embedding program sees it, which turns a clean SIGTERM shutdown into death by signal (exit -15). We
        # are the program, so a completed graceful shutdown exits 0.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


_HEAD_TIMEOUT_BODY = encode_json(
    envelope(RequestBodyTimeout.code, "request head not received in time", {"phase": "headers"})
).encode()
_HEAD_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_HEAD_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _HEAD_TIMEOUT_BODY
)


#: Credentials that travel in URLs: read tokens (``?access_token=``, and any ``token``-like query parameter) and
#: callback-link tokens (the last segment of ``/v1/callbacks/<token>``). Their values never reach a log line.
_QUERY_SECRET_RE = re.compile(r"(?i)([?&](?:access_token|token|api_key|signature)=)[^&#\s]*")
_CALLBACK_PATH_RE = re.compile(r"(/v1/callbacks/)[^/?#\s]+")


def _redact_plain(text: str) -> str:
    return _CALLBACK_PATH_RE.sub(r"\1***", _QUERY_SECRET_RE.sub(r"\1***", text))


def redact(text: str) -> str:
    """``text`` with URL-borne tokens replaced by ``***``.

    The server percent-decodes paths and query names before using them (``?%61ccess_token=`` is a read token,
    ``/v1/%63allbacks/<token>`` a callback link), while the access log shows the raw request line; so the text is
    also checked decoded, and when that reveals a credential the decoded, redacted text is what gets logged.
    """
    plain = _redact_plain(text)
    if "%" in plain:
        decoded = unquote(plain, errors="replace")
        hidden = _redact_plain(decoded)
        if hidden != decoded:
            return hidden
    return plain


class RedactTokens(logging.Filter):
    """A logging filter that redacts URL-borne tokens from a record's message and arguments.

    uvicorn's access log formats ``(client, method, path?query, version, status)``: anyone who can read the log
    could otherwise reuse a read token or decide through a callback link.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactTokens` to uvicorn's loggers (idempotent). Call after uvicorn configured logging."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def raise_file_limit(wanted: int) -> int:
    """Raise this process's soft open-file limit to its hard limit; return the soft limit in force.

    Every connection holds a descriptor: at a 1,024 default a thousand slow clients leave none for ``/health``
    or the database. A limit still below ``wanted`` (connections plus a margin) is logged as a warning.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one on Linux (capped by fs.nr_open): take a large finite value.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open-file limit %d is below COMM_MAX_CONNECTIONS plus a margin (%d): raise the hard limit (ulimit -Hn) "
            "or lower COMM_MAX_CONNECTIONS, or connections beyond it fail",
            soft,
            wanted,
        )
    return int(soft)


def serve(app: FastAPI, settings: Settings) -> bool:
    """Serve ``app`` on ``settings.host:port`` until SIGINT/SIGTERM, then shut down gracefully.

    Returns:
        False when start-up failed (the lifespan raised, or the port could not be bound; uvicorn logged why).
    """
    config = uvicorn.Config(
        EntrySend(app),  # live responses write body chunks below the app's middleware (http/entry_send.py)
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # At least 1 s: uvicorn's wait with timeout 0 gives up before checking and logs an error on every stop.
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_seconds)),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        limit_concurrency=settings.max_connections,
        # uvicorn buffers a WebSocket message up to this size before the app sees it (its default is 16 MiB):
        # the app's own frame limit would come too late. Larger messages close the socket with 1009.
        ws_max_size=settings.max_body_bytes,
    )
    install_log_redaction()  # after uvicorn.Config, which (re)configures its loggers
    raise_file_limit(settings.max_connections + 256)  # the database pool, log files and DBOS's own sockets
    server = GracefulServer(
        config,
        app,
        settings.shutdown_grace_seconds,
        header_timeout=settings.header_read_timeout_seconds,
        interrupt_grace_seconds=settings.interrupt_grace_seconds,
    )
    try:
        server.run()
    except SystemExit:  # uvicorn's start-up failure exit; the caller chooses the status
        return False
    return True
