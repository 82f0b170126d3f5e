"""The application factory: one API, served standalone (:func:`create_app`) or inside a host app (:mod:`.mount`).

:func:`create_app` builds the server: its lifespan imports the configured workflow modules, launches DBOS, starts
the parts (fan-out hub, core services) and, on shutdown, stops them and destroys DBOS. It serves the v1 API, the
health and metrics paths, the docs, the dashboard and, unless ``COMM_COMPAT=false``, the seed's compatibility room.

Both it and :func:`communication.app.mount.mount` use :func:`build_api` (routers, middleware, error table, security
state) and :class:`Parts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import FastAPI, params
from fastapi_offline import FastAPIOffline

from communication.compat import install as compat_room
from communication.compat.settings import CompatSettings
from communication.core.live.hub import Hub
from communication.core.ops import runtime
from communication.core.ops.config_check import check_settings
from communication.core.ops.versions import VersionWatch
from communication.core.registry import registry
from communication.core.security import approval_links
from communication.core.services import Core
from communication.core.settings import Settings
from communication.http.access import include_with_access, install_security
from communication.http.body_limit import BodyLimitMiddleware, document_body_errors
from communication.http.errors import install_error_handlers
from communication.http.routes import PUBLIC_ROUTERS, READ_ROUTERS, ROUTERS
from communication.http.routes import health as health_routes
from communication.http.routes import metrics as metrics_routes
from communication.http.routes import ui as ui_routes
from communication.http.shutdown import remaining_grace

log = logging.getLogger("communication.app.factory")

DESCRIPTION = """
Talk to running DBOS workflows over HTTP: **events** (blocking reads with bounded timeouts and versions),
**messages** (exactly-once sends with an idempotency key) and **streams** (snapshots from a durable offset).

Every error is `{"error": {"code", "message", "details"}}` with a stable code (see QUICK_REFERENCE.md).
"""


def build_api(
    settings: Settings,
    *,
    dashboard: bool = True,
    health: bool = True,
    metrics: bool = True,
    docs: bool = True,
    compat: CompatSettings | None = None,
    dependencies: Sequence[params.Depends] = (),
    lifespan: Any = None,
) -> FastAPI:
    """The API as a FastAPI application: routers, body limit, security state, CORS, error table.

    It neither launches DBOS nor starts its parts: :func:`create_app` and :func:`mount` do that.

    Args:
        settings: the one settings object.
        dashboard: include the dashboard (``/`` and ``/ui/``).
        health: include ``/health``, ``/healthz`` and ``/readyz``.
        metrics: include ``/metrics``.
        docs: serve ``/docs``, ``/redoc`` and ``/openapi.json``.
        compat: the seed's compatibility room's settings; ``None`` leaves its paths out.
        dependencies: ``Depends(...)`` run before every route's own (a host's global dependencies, for a
            mounted API).
        lifespan: the application's lifespan, if it has its own.
    """
    meta: dict[str, Any] = {
        "title": "DBOS workflow communication server",
        "version": _api_version(),
        "description": DESCRIPTION,
        "lifespan": lifespan,
        "dependencies": list(dependencies),
    }
    # /docs and /redoc load Swagger UI / ReDoc from the installed fastapi-offline package, not from a CDN.
    app = FastAPIOffline(**meta) if docs else FastAPI(**meta, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.ready = False
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        openapi=lambda: app.openapi(),
        read_timeout=settings.body_read_timeout_seconds,
    )
    install_security(app, settings)  # after the body limit: CORS must be the outer layer
    install_error_handlers(app)
    left_out = {
        id(router)
        for router, wanted in (
            (ui_routes.router, dashboard),
            (health_routes.router, health),
            (metrics_routes.router, metrics),
        )
        if not wanted
    }
    for router in ROUTERS:
        if id(router) not in left_out:
            include_with_access(app, router, public=PUBLIC_ROUTERS, read=READ_ROUTERS)
    if compat is not None:
        compat_room.install(app, compat)
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
        state.core = Core.build(self.settings, registry, state.hub, secret=getattr(state, "secret", None))
        approval_links.install(state.core.links)  # workflows in this process mint links with the same secret
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


def compat_settings_of(compat: bool | CompatSettings | None) -> CompatSettings | None:
    """The compatibility room's settings to serve with, or ``None`` to leave it out.

    ``None``: as ``COMM_COMPAT`` says (default on); ``True`` / ``False``: on / off (its other settings from the
    environment); a :class:`CompatSettings`: as it says.
    """
    if compat is False:
        return None
    chosen = compat if isinstance(compat, CompatSettings) else CompatSettings()
    if compat is True:
        return chosen.model_copy(update={"enabled": True})
    return chosen if chosen.enabled else None


def create_app(settings: Settings, *, compat: bool | CompatSettings | None = None) -> FastAPI:
    """Build the application. DBOS is launched in the lifespan and destroyed on shutdown.

    Args:
        settings: the one settings object (``Settings()`` reads the environment and ``.env``).
        compat: serve the seed's paths: ``None`` as ``COMM_COMPAT`` says (default: yes), ``True`` / ``False``, or
            the room's own :class:`~communication.compat.settings.CompatSettings`.
    """
    compat_settings = compat_settings_of(compat)

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

    return build_api(settings, compat=compat_settings, lifespan=lifespan)
