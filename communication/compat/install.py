"""The compatibility room's routers, as the application factory includes them."""

from __future__ import annotations

from fastapi import APIRouter

from communication.compat import monty, routes, sessions, ws_seed

#: Every seed-shaped router, in matching order.
ROUTERS: list[APIRouter] = [routes.router, sessions.router, ws_seed.router, monty.router]
#: ws_seed authenticates inside its handler (WebSocket routes cannot use the HTTP dependencies).
PUBLIC_ROUTERS: list[APIRouter] = [ws_seed.router]
