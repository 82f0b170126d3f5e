"""The mount: the API inside someone else's FastAPI application, which launches DBOS itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, Mount
from starlette.types import Scope

from communication.app.factory import Parts, build_api
from communication.core.ops import runtime
from communication.core.settings import Settings


class _ApiMount(Mount):
    """A mount that claims only the paths its API has a route for.

    Why: a plain ``Mount("")`` (or ``Mount("/x")``) answers every path under it, so host routes declared after
    :func:`mount` — or the host's own 404 — would be shadowed. Here a path none of our routes matches falls
    through to the host's routing.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return match, child
        # Starlette routes match on the path below root_path, which the child scope extends by our prefix.
        inner = {**scope, **child}
        for route in self.routes:
            route_match, _ = route.matches(inner)
            if route_match is not Match.NONE:
                return match, child
        return Match.NONE, {}


def mount(
    app: FastAPI,
    *,
    prefix: str = "",
    settings: Settings | None = None,
    dashboard: bool = False,
) -> FastAPI:
    """Add the whole API (v1, live SSE/WebSocket, sessions, webhooks, callbacks, seed paths, optionally the
    dashboard) to ``app``, an application that launches DBOS itself in its own lifespan.

    The API runs as a sub-application under ``prefix`` with its own error handlers, body limit and state, so the
    host's routes, error handlers and middleware are left alone; paths the API does not serve fall through to the
    host. Its parts (hub, core services) start inside the host's lifespan once the host's part of it has run
    (DBOS launched) and stop before the host's shutdown code runs; DBOS itself is never launched or destroyed here.
    The API's state is ``app.state.comm`` (the sub-application).

    Args:
        app: the host application.
        prefix: path prefix, e.g. ``"/comm"`` (``""``: the API's own paths at the root).
        settings: the API's settings; default ``Settings()`` (environment). Its database URL is taken from the
            running DBOS instance; ``workflows`` is ignored (the host imports its workflow modules itself).
        dashboard: also serve the dashboard at ``{prefix}/`` and ``{prefix}/ui/``.

    Returns:
        The mounted API application.

    Raises:
        ValueError: ``prefix`` does not start with "/" or ends with "/".
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError("prefix must start with '/' and must not end with '/' (or be empty)")
    configured = settings if settings is not None else Settings()
    api = build_api(configured, dashboard=dashboard)
    app.router.routes.append(_ApiMount(prefix, app=api, name="communication"))
    app.state.comm = api
    original: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(host: Any) -> AsyncIterator[Any]:
        async with original(host) as host_state:
            parts = Parts(api, _with_running_database(configured))
            api.state.settings = parts.settings
            await parts.start()
            try:
                yield host_state
            finally:
                await parts.stop()

    app.router.lifespan_context = lifespan
    return api


def _with_running_database(settings: Settings) -> Settings:
    """``settings`` with the database URL of the DBOS instance the host launched.

    Raises:
        RuntimeError: the host has not launched DBOS by the end of its lifespan's start-up.
    """
    url = runtime.running_database_url()
    if url is None:
        raise RuntimeError(
            "communication.mount: DBOS is not launched. Launch it in the host app's lifespan "
            "(DBOS(config=...); DBOS.launch()) before it yields."
        )
    return settings.model_copy(update={"database_url": url})
