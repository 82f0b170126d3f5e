"""The mount: the API as a guest inside someone else's FastAPI application, which launches DBOS itself.

A guest never shadows its host, and never takes over the host's lifespan:

* **The host's routes win**, whatever the order of declaration: as if every host route were declared before the
  API. The API is one route of the host's router (a :class:`_GuestMount`, put first); at match time it yields any
  request a host route matches (path and method), declared before or after :func:`mount`, and claims only paths
  one of its own routes matches (a method a host path does not serve may still be ours). A host catch-all
  mount (``app.mount("/", StaticFiles(...))``) is the one host route that does not win over ours: it is the
  host's fallback, so it gets what neither claims.
* **The lifespan is the host's.** ``app.router.lifespan_context`` is left alone (a host may set it after
  :func:`mount`, or use ``on_event`` handlers). Our parts start when the host's start-up has completed (DBOS
  launched), seen by a pure ASGI middleware in the host's lifespan messages, and stop when the host's shutdown
  begins, before the host's shutdown code destroys DBOS. Why a middleware: the lifespan messages reach only the
  application chain, never a route, and FastAPI's ``on_shutdown`` handlers do not run for a host with
  ``lifespan=``. Under an ASGI server that runs no lifespan, the parts start on the first request that reaches
  the API (once, under a lock) and are never stopped by us.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from communication.app.factory import Parts, build_api, compat_settings_of
from communication.compat.settings import CompatSettings
from communication.core.ops import runtime
from communication.core.settings import Settings

log = logging.getLogger("communication.app.mount")


class _Guest:
    """The mounted API's parts: started once (at the host's start-up or on the first request), stopped at the
    host's shutdown; ready to start again for a host that runs its lifespan again (tests)."""

    def __init__(self, api: FastAPI, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.parts: Parts | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _lock_of_this_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def start(self) -> None:
        """Start the parts over the DBOS the host launched (no-op when started).

        Raises:
            RuntimeError: the host has not launched DBOS.
        """
        if self.parts is not None:
            return
        async with self._lock_of_this_loop():
            if self.parts is None:
                parts = Parts(self.api, _with_running_database(self.settings))
                self.api.state.settings = parts.settings
                await parts.start()
                self.parts = parts

    async def stop(self) -> None:
        """Stop the parts (no-op when not started)."""
        async with self._lock_of_this_loop():
            parts, self.parts = self.parts, None
            if parts is not None:
                await parts.stop()


class _GuestMount(Mount):
    """A mount that claims only the paths its API has a route for and no host route claims."""

    def __init__(self, path: str, *, api: FastAPI, host: FastAPI, guest: _Guest) -> None:
        super().__init__(path, app=api, name="communication")
        self.host = host
        self.guest = guest

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        # Starlette routes match on the path below root_path, which the child scope extends by our prefix.
        inner = {**scope, **child}
        ours = any(route.matches(inner)[0] is not Match.NONE for route in self.routes)
        # Ours first: a request for the host then costs no second pass over the host's routes.
        if not ours or self._host_claims(scope):
            return Match.NONE, {}
        return match, child

    def _host_claims(self, scope: Scope) -> bool:
        for route in self.host.router.routes:
            if route is self or _is_catch_all(route):
                continue
            route_match, _ = route.matches(scope)
            if route_match is Match.FULL:
                return True
        return False

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.guest.start()  # already started at the host's start-up, unless the server runs no lifespan
        await super().handle(scope, receive, send)


def _is_catch_all(route: BaseRoute) -> bool:
    return isinstance(route, Mount) and route.path == ""


class _HostLifespan:
    """Pure ASGI middleware: starts the guest once the host's start-up completed, stops it as the host's shutdown
    begins; every other message and scope passes through untouched."""

    def __init__(self, app: ASGIApp, guest: _Guest) -> None:
        self.app = app
        self.guest = guest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                # Raising here fails the host's start-up (Starlette reports it and leaves the host's lifespan).
                await self.guest.start()
            await send(message)

        async def on_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                try:
                    await self.guest.stop()
                except Exception:  # the host's own shutdown must still run
                    log.exception("communication.mount: stopping the API's parts failed")
            return message

        await self.app(scope, on_receive, on_send)


def mount(
    app: FastAPI,
    *,
    prefix: str = "",
    settings: Settings | None = None,
    compat: bool | CompatSettings = False,
    health: bool = False,
    metrics: bool = False,
    docs: bool = False,
    dashboard: bool = False,
) -> FastAPI:
    """Add the v1 API (every path under ``{prefix}/v1/``) to ``app``, an application that launches DBOS itself.

    By default only the v1 API: no ``/health``, ``/healthz``, ``/readyz``, ``/metrics``, docs, dashboard or seed
    paths, which a host usually has or does not want; each is one option away. The host's routes always win: a
    request any host route matches (declared before or after this call) is answered by the host. The API
    runs as a sub-application under ``prefix`` with its own error handlers, body limit and state, so the host's
    routes, error handlers and middleware are left alone, and the host's OpenAPI document lists none of our
    paths (``docs=True`` serves ours at ``{prefix}/docs`` and ``{prefix}/openapi.json``). The host's global
    dependencies (``FastAPI(dependencies=...)``, as set when this is called) run on our routes too. Our parts
    (hub, core services) start once the host's start-up has run (DBOS launched) and stop when its shutdown begins,
    before the host's own shutdown code; ``app.router.lifespan_context`` is never replaced and DBOS is never
    launched or destroyed here. Live tails end when the host's shutdown begins: under uvicorn, which waits for
    open connections before that, give it ``--timeout-graceful-shutdown``. The API's state is ``app.state.comm``.

    Args:
        app: the host application.
        prefix: path prefix, e.g. ``"/comm"`` (``""``: the API's own paths at the root).
        settings: the API's settings; default ``Settings()`` (environment). Its database URL is taken from the
            running DBOS instance; ``workflows`` is ignored (the host imports its workflow modules itself).
        compat: also serve the seed's paths (``True``, or the room's own settings).
        health: also serve ``{prefix}/health``, ``/healthz`` and ``/readyz``.
        metrics: also serve ``{prefix}/metrics``.
        docs: also serve ``{prefix}/docs``, ``/redoc`` and ``/openapi.json``.
        dashboard: also serve the dashboard at ``{prefix}/`` and ``{prefix}/ui/``.

    Returns:
        The mounted API application.

    Raises:
        ValueError: ``prefix`` does not start with "/" or ends with "/".
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError("prefix must start with '/' and must not end with '/' (or be empty)")
    configured = settings if settings is not None else Settings()
    api = build_api(
        configured,
        dashboard=dashboard,
        health=health,
        metrics=metrics,
        docs=docs,
        compat=compat_settings_of(compat),
        dependencies=list(app.router.dependencies),
    )
    guest = _Guest(api, configured)
    # First: a catch-all mount of the host must not answer our paths; every other host route still wins, as our
    # mount yields to it at match time.
    app.router.routes.insert(0, _GuestMount(prefix, api=api, host=app, guest=guest))
    app.add_middleware(_HostLifespan, guest=guest)
    app.state.comm = api
    return api


def _with_running_database(settings: Settings) -> Settings:
    """``settings`` with the database URL of the DBOS instance the host launched.

    Raises:
        RuntimeError: the host has not launched DBOS by the end of its start-up.
    """
    url = runtime.running_database_url()
    if url is None:
        raise RuntimeError(
            "communication.mount: DBOS is not launched. Launch it in the host app's lifespan "
            "(DBOS(config=...); DBOS.launch()) before it yields."
        )
    return settings.model_copy(update={"database_url": url})


__all__ = ["mount"]
