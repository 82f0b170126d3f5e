"""A real uvicorn server running the app in a background thread, for tests that need real HTTP connections
(SSE tails that are cut and resumed, WebSockets) while still reaching ``app.state`` in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from server import create_app
from tests.support.inprocess import make_settings
from tests.support.server_proc import free_port


@dataclass
class LiveServer:
    """A running server: its base URL and its app."""

    url: str
    app: FastAPI


@contextmanager
def live_server(database_url: str, **overrides: Any) -> Iterator[LiveServer]:
    """Serve a new app on a free port until the block ends (DBOS launched by the app's lifespan)."""
    app = create_app(make_settings(database_url, **overrides))
    port = free_port()
    # Live tails never end by themselves: bound uvicorn's wait for open connections, or its shutdown (and so
    # the lifespan that destroys DBOS) would wait for them forever.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        # Readiness: /readyz answers 200 once the lifespan has launched DBOS (bounded by the loop count).
        for _ in range(600):
            if not thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            try:
                if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.05)  # start-up poll of a readiness endpoint, not test synchronisation
        else:
            raise RuntimeError("server did not become ready")
        yield LiveServer(url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if thread.is_alive():  # a leaked server would keep its DBOS threads (and the test run) alive
            raise RuntimeError("test server did not stop within 30 s")
