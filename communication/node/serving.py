"""Serving the app with uvicorn and shutting down gracefully on SIGINT/SIGTERM.

On the first signal: ``/readyz`` turns 503 at once (load balancers stop sending traffic), uvicorn stops accepting
connections and gives open requests (long polls, SSE tails) until the grace deadline, then the app's lifespan lets
workflows running in this process continue until the *same* deadline (``Settings.shutdown_grace_seconds`` in
total, not twice) and destroys DBOS. Whatever is still running then is recovered by the next process started with
this executor id. A second SIGINT forces an immediate exit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import signal
import socket
import threading
from collections.abc import Generator
from types import FrameType

import uvicorn
from fastapi import FastAPI

from communication.core.ops.config_check import mask_url
from communication.core.settings import Settings
from communication.http.shutdown import begin_shutdown

log = logging.getLogger("communication.node.serving")


class GracefulServer(uvicorn.Server):
    """A uvicorn server that flags the app on the first signal and exits with status 0 afterwards."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_seconds: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace = grace_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: start the graceful shutdown; uvicorn's own handling follows."""
        if not self.should_exit:
            log.info("%s received: shutting down (grace %.0f s)", signal.Signals(sig).name, self._grace)
            begin_shutdown(self._app, self._grace)
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


#: Credentials that travel in URLs: read tokens (``?access_token=``, and any ``token``-like query parameter) and
#: callback-link tokens (the last segment of ``/v1/callbacks/<token>``). Their values never reach a log line.
_QUERY_SECRET_RE = re.compile(r"(?i)([?&](?:access_token|token|api_key|signature)=)[^&#\s]*")
_CALLBACK_PATH_RE = re.compile(r"(/v1/callbacks/)[^/?#\s]+")


def redact(text: str) -> str:
    """``text`` with URL-borne tokens replaced by ``***``."""
    return _CALLBACK_PATH_RE.sub(r"\1***", _QUERY_SECRET_RE.sub(r"\1***", text))


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


def serve(app: FastAPI, settings: Settings) -> bool:
    """Serve ``app`` on ``settings.host:port`` until SIGINT/SIGTERM, then shut down gracefully.

    Returns:
        False when start-up failed (the lifespan raised, or the port could not be bound; uvicorn logged why).
    """
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # At least 1 s: uvicorn's wait with timeout 0 gives up before checking and logs an error on every stop.
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_seconds)),
    )
    install_log_redaction()  # after uvicorn.Config, which (re)configures its loggers
    server = GracefulServer(config, app, settings.shutdown_grace_seconds)
    try:
        server.run()
    except SystemExit:  # uvicorn's start-up failure exit; the caller chooses the status
        return False
    return True
