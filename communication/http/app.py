"""The application factory: ``create_app(settings)`` builds the whole HTTP API over the core.

DBOS is launched in the app's lifespan (after the configured workflow modules are imported) and destroyed on
shutdown; the hub and the core services are built once DBOS runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from communication.core import runtime
from communication.core.config_check import check_settings
from communication.core.hub import Hub
from communication.core.registry import registry
from communication.core.services import Core
from communication.core.settings import Settings
from communication.http.access import include_with_access, install_security
from communication.http.body_limit import BodyLimitMiddleware, document_body_errors
from communication.http.errors import install_error_handlers
from communication.http.routes import PUBLIC_ROUTERS, READ_ROUTERS, ROUTERS
from communication.http.shutdown import remaining_grace

DESCRIPTION = """
Talk to running DBOS workflows over HTTP: **events** (blocking reads with bounded timeouts and versions),
**messages** (exactly-once sends with an idempotency key) and **streams** (snapshots from a durable offset).

Every error is `{"error": {"code", "message", "details"}}` with a stable code (see QUICK_REFERENCE.md).
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the application. DBOS is launched in the lifespan and destroyed on shutdown.

    Args:
        settings: the one settings object (``Settings()`` reads the environment and ``.env``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_settings(settings)
        runtime.launch(settings)
        # Until DBOS's first async call installs its own (bounded by thread_pool_size) executor as the loop's
        # default, asyncio.to_thread runs on this one: bounded as well.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=settings.thread_pool_size, thread_name_prefix="comm-")
        )
        app.state.hub = Hub.from_settings(settings)
        app.state.core = Core.build(settings, registry, app.state.hub)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await app.state.hub.close()
            grace = remaining_grace(app)
            if grace > 0:
                # A signal asked for a graceful stop: destroy DBOS off the event loop, so workflows started here,
                # which run on this loop, can finish within the grace.
                await asyncio.to_thread(runtime.shutdown, grace)
            else:
                # No grace: stop at once. Blocking the loop keeps its workflows from running on while DBOS goes away.
                runtime.shutdown()

    # /docs and /redoc load Swagger UI / ReDoc from the installed fastapi-offline package, not from a CDN.
    app = FastAPIOffline(
        title="DBOS workflow communication server",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ready = False
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        openapi=lambda: app.openapi(),
    )
    install_security(app, settings)  # after the body limit: CORS must be the outer layer
    install_error_handlers(app)
    for router in ROUTERS:
        include_with_access(app, router, public=PUBLIC_ROUTERS, read=READ_ROUTERS)
    document_body_errors(app)
    return app
