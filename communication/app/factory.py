"""The application factory and the mount: one API, served standalone or inside someone else's FastAPI app.

:func:`create_app` builds the server: its lifespan imports the configured workflow modules, launches DBOS, starts
the parts (fan-out hub, core services) and, on shutdown, stops them and destroys DBOS.

:func:`mount` adds the same API to an existing FastAPI application that launches DBOS itself. It builds the API as
a sub-application (its own error handlers, body limit, state) mounted under ``prefix``, and runs the parts inside
the host's lifespan, after the host has launched DBOS, never launching or destroying DBOS itself.

Both share :func:`build_api` (routers, middleware, error table, security state) and :class:`Parts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from communication.compat import install as compat_routes
from communication.core.live.hub import Hub
from communication.core.ops import runtime
from communication.core.ops.config_check import check_settings
from communication.core.ops.versions import VersionWatch
from communication.core.registry import registry
from communication.core.services import Core
from communication.core.settings import Settings
from communication.http.access import include_with_access, install_security
from communication.http.body_limit import BodyLimitMiddleware, document_body_errors
from communication.http.errors import install_error_handlers
from communication.http.routes import PUBLIC_ROUTERS, READ_ROUTERS, ROUTERS
from communication.http.routes import ui as ui_routes
from communication.http.shutdown import remaining_grace

log = logging.getLogger("communication.app.factory")

DESCRIPTION = """
Talk to running DBOS workflows over HTTP: **events** (blocking reads with bounded timeouts and versions),
**messages** (exactly-once sends with an idempotency key) and **streams** (snapshots from a durable offset).

Every error is `{"error": {"code", "message", "details"}}` with a stable code (see QUICK_REFERENCE.md).
"""


def build_api(settings: Settings, *, dashboard: bool = True, lifespan: Any = None) -> FastAPI:
    """The API as a FastAPI application: routers, body limit, security state, CORS, error table.

    It neither launches DBOS nor starts its parts: :func:`create_app` and :func:`mount` do that.

    Args:
        settings: the one settings object.
        dashboard: include the dashboard (``/`` and ``/ui/``).
        lifespan: the application's lifespan, if it has its own.
    """
    # /docs and /redoc load Swagger UI / ReDoc from the installed fastapi-offline package, not from a CDN.
    app = FastAPIOffline(
        title="DBOS workflow communication server",
        version=_api_version(),
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
    public = [*PUBLIC_ROUTERS, *compat_routes.PUBLIC_ROUTERS]
    for router in [*ROUTERS[:-1], *compat_routes.ROUTERS, ROUTERS[-1]]:  # the dashboard (/ and /ui/) last
        if router is ui_routes.router and not dashboard:
            continue
        include_with_access(app, router, public=public, read=READ_ROUTERS)
    document_body_errors(app)
    return app


def _api_version() -> str:
    """The installed package's version: the OpenAPI document describes this release of the API."""
    try:
        return package_version("dbos-comm")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


class Parts:
    """What runs beside a launched DBOS for one API application: the fan-out hub, the core services and the
    application-version watch. Their state lives on the API application's ``state`` (``hub``, ``core``,
    ``versions``, ``ready``)."""

    def __init__(self, api: FastAPI, settings: Settings) -> None:
        self.api = api
        self.settings = settings

    async def start(self) -> None:
        """Build the hub and the core over the running DBOS; mark the API ready."""
        state = self.api.state
        state.hub = Hub.from_settings(self.settings)
        state.core = Core.build(self.settings, registry, state.hub)
        state.versions = VersionWatch(self.settings)
        await state.versions.report_at_start(role="http")
        state.ready = True

    async def stop(self) -> None:
        """Mark the API not ready and close the hub (live subscribers end)."""
        state = self.api.state
        state.ready = False
        hub: Hub | None = getattr(state, "hub", None)
        if hub is not None:
            await hub.close()


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
        # default, asyncio.to_thread runs on this one: bounded as well. (A mounted API leaves the host's loop alone.)
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=settings.thread_pool_size, thread_name_prefix="comm-")
        )
        parts = Parts(app, settings)
        await parts.start()
        try:
            yield
        finally:
            await parts.stop()
            grace = remaining_grace(app)
            if grace > 0:
                # A signal asked for a graceful stop: destroy DBOS off the event loop, so workflows started here,
                # which run on this loop, can finish within the grace.
                await asyncio.to_thread(runtime.shutdown, grace)
            else:
                # No grace: stop at once. Blocking the loop keeps its workflows from running on while DBOS goes away.
                runtime.shutdown()

    return build_api(settings, lifespan=lifespan)
