"""FastAPI routers, one module per resource. Handlers parse, call one core function, and respond."""

from fastapi import APIRouter

from communication.http import access as auth
from communication.http import live
from communication.http.routes import (
    admin,
    approval_links,
    events,
    feed,
    health,
    inbox,
    messages,
    metrics,
    schedules,
    sessions,
    streams,
    ui,
    webhooks,
    workflows,
    ws,
)

ROUTERS: list[APIRouter] = [
    health.router,
    workflows.router,
    live.router,  # before events: /events/live must win over /events/{key}
    events.router,
    messages.router,
    inbox.router,
    streams.router,
    feed.router,
    auth.router,
    approval_links.router,
    approval_links.public_router,
    webhooks.router,
    schedules.router,
    sessions.router,
    ws.router,
    metrics.router,  # needs an API key when keys are configured (scrape with a bearer token)
    admin.router,
    ui.router,  # the dashboard: / and /ui/
]

# Access groups, applied by server.create_app. A router in neither list requires an API key.
#: Open to anyone: health checks, and endpoints whose signature or link is the credential.
# ws authenticates inside its handler (WebSocket routes cannot use the HTTP dependencies).
PUBLIC_ROUTERS: list[APIRouter] = [
    health.router,
    approval_links.public_router,
    webhooks.router,
    ws.router,
    ui.router,  # static page only; its API calls carry the key / read tokens
]
#: GET reads of one workflow's events and streams: an API key, or a read token for that workflow.
READ_ROUTERS: list[APIRouter] = [live.router, events.router, streams.router, feed.router]

__all__ = ["PUBLIC_ROUTERS", "READ_ROUTERS", "ROUTERS"]
