"""The durable workflow communication server: ``create_app(settings)`` and ``main()``.

Run ``python server.py`` (embedded SQLite under ./data) or set ``DBOS_SYSTEM_DATABASE_URL=postgresql://...``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api import ROUTERS
from api.body_limit import BodyLimitMiddleware
from api.errors import install_error_handlers
from communication import runtime
from communication.core import Core
from communication.settings import Settings

log = logging.getLogger("server")

DESCRIPTION = """
Talk to running DBOS workflows over HTTP: **events** (blocking reads with bounded timeouts and versions),
**messages** (exactly-once sends with an idempotency key) and **streams** (snapshots from a durable offset).

Every error is `{"error": {"code", "message", "details"}}` with a stable code (see QUICK_REFERENCE.md).
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the application. DBOS is launched in the lifespan and destroyed on shutdown."""
    from workflows import registry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.launch(settings)
        app.state.core = Core.build(settings, registry)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            runtime.shutdown()

    app = FastAPI(
        title="DBOS workflow communication server",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ready = False
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def configure_logging(settings: Settings) -> None:
    """One structured line per record: time, level, logger, message."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def main() -> None:
    """Read settings from the environment and serve."""
    settings = Settings()
    configure_logging(settings)
    log.info(
        "serving on http://%s:%d (docs at /docs), database %s",
        settings.host,
        settings.port,
        "sqlite" if settings.is_sqlite() else "postgres",
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
