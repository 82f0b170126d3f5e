"""The compatibility room's routers, and how an application takes them in."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from communication.compat import monty, routes, sessions, ws_seed
from communication.compat.settings import CompatSettings
from communication.http.access import include_with_access

#: Every seed-shaped router, in matching order.
ROUTERS: list[APIRouter] = [routes.router, sessions.router, ws_seed.router, monty.router]
#: ws_seed authenticates inside its handler (WebSocket routes cannot use the HTTP dependencies).
PUBLIC_ROUTERS: list[APIRouter] = [ws_seed.router]


def install(app: FastAPI, settings: CompatSettings) -> None:
    """Add the seed's paths to ``app`` (built by :func:`communication.app.factory.build_api`), with the same access
    rules as the v1 API: an API key when keys are configured, except where a handler authenticates itself."""
    app.state.compat = settings
    for router in ROUTERS:
        include_with_access(app, router, public=PUBLIC_ROUTERS, read=[])
