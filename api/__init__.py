"""FastAPI routers, one module per resource. Handlers parse, call one core function, and respond."""

from fastapi import APIRouter

from api import compat, events, health, messages, streams, workflows

ROUTERS: list[APIRouter] = [
    health.router,
    workflows.router,
    events.router,
    messages.router,
    streams.router,
    compat.router,
]

__all__ = ["ROUTERS"]
