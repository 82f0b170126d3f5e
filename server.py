"""The durable workflow communication server: ``create_app(settings)`` and ``main()``.

Run ``python server.py`` (embedded SQLite under ./data) or set ``DBOS_SYSTEM_DATABASE_URL=postgresql://...``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import PUBLIC_ROUTERS, READ_ROUTERS, ROUTERS
from api.auth import include_with_access, install_security
from api.body_limit import BodyLimitMiddleware, document_body_errors
from api.errors import install_error_handlers
from api.serving import remaining_grace, serve
from communication import runtime
from communication.config_check import ConfigError, check_settings, load_settings, mask_url
from communication.core import Core
from communication.hub import Hub
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
        check_settings(settings)
        runtime.launch(settings)
        app.state.hub = Hub(
            poll_interval=settings.sqlite_polling_interval_sec if settings.is_sqlite() else None,
            recheck_interval=settings.hub_recheck_seconds,
            buffer_size=settings.hub_buffer_size,
        )
        app.state.core = Core.build(settings, registry, app.state.hub)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await app.state.hub.close()
            grace = remaining_grace(app)
            if grace > 0:
                # A signal asked for a graceful stop (issue 6): destroy DBOS off the event loop, so workflows started
                # here, which run on this loop, can finish within the grace.
                await asyncio.to_thread(runtime.shutdown, grace)
            else:
                # No grace: stop at once. Blocking the loop keeps its workflows from running on while DBOS goes away.
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
    install_security(app, settings)  # after the body limit: CORS must be the outer layer
    install_error_handlers(app)
    for router in ROUTERS:
        include_with_access(app, router, public=PUBLIC_ROUTERS, read=READ_ROUTERS)
    document_body_errors(app)
    return app


def configure_logging(settings: Settings) -> None:
    """One structured line per record: time, level, logger, message."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """Read settings from the environment and serve; ``--worker`` runs a worker instead (no HTTP).

    Returns the exit status: 0 after a graceful shutdown, 2 for an invalid configuration (one line per problem).
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        from communication import worker

        return worker.main(args[1:])
    try:
        settings = load_settings()
        configure_logging(settings)
        check_settings(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    log.info(
        "serving on http://%s:%d (dashboard at /ui/, API docs at /docs), database %s",
        settings.host,
        settings.port,
        mask_url(settings.resolved_database_url()),
    )
    serve(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
