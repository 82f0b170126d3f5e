"""Access control for the HTTP API: dependencies, the read-token endpoint, and the security wiring.

Attach by router group (see ``server.create_app``): :func:`require_api_key` guards everything that is not
public, :func:`require_read_access` guards routers that only read one workflow's events and streams (an API
key *or* a read token for that workflow). Both run before any handler code, so a failure never depends on
whether the workflow exists. With no API key configured both allow everything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from communication.core.live.hub import End, Item
from communication.core.security.credentials import READ_TOKEN_PARAM, AccessControl, ReadToken, ServerSecret
from communication.core.security.webhooks import WebhookVerifier
from communication.core.settings import Settings
from communication.http.deps import CoreDep, WorkflowId
from communication.http.origin import SameOriginMiddleware
from communication.http.schemas import error_responses
from communication.protocol.errors import SecretEvent, TokenInvalid, Unauthorized
from communication.protocol.models import EventsOut
from communication.protocol.names import is_secret_event
from communication.protocol.requests import ErrorEnvelope, ReadTokenRequest

log = logging.getLogger("communication.http.access")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from COMM_API_KEYS, sent as 'Authorization: Bearer <key>'.",
)
_read_token = APIKeyQuery(
    name=READ_TOKEN_PARAM,
    auto_error=False,
    scheme_name="ReadToken",
    description="A read token from POST /v1/workflows/{id}/read-token; GET reads of that workflow's events and "
    "streams only.",
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

#: OpenAPI entry for the 401 every protected route can answer.
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorEnvelope, "description": "Missing or invalid credentials (unauthorized, token_*)"}
}


def get_access(request: Request) -> AccessControl:
    """The app's access control (built by :func:`install_security`)."""
    access: AccessControl = request.app.state.access
    return access


async def require_api_key(request: Request, credentials: BearerCredentials) -> None:
    """Dependency: a configured API key in ``Authorization: Bearer``, unless no key is configured.

    Raises:
        Unauthorized: 401 ``unauthorized``.
    """
    get_access(request).authenticate(credentials.credentials if credentials else None)


async def require_read_access(
    request: Request,
    credentials: BearerCredentials,
    access_token: Annotated[str | None, Depends(_read_token)],
) -> None:
    """Dependency: an API key, or a read token for the route's ``{workflow_id}`` on a GET/HEAD request.

    Raises:
        Unauthorized, TokenInvalid, TokenExpired: all 401.
    """
    access = get_access(request)
    if access.open or (credentials is not None and access.is_api_key(credentials.credentials)):
        return
    if access_token is None:
        access.authenticate(credentials.credentials if credentials else None)  # raises the matching 401
        return
    if request.method not in ("GET", "HEAD"):
        raise TokenInvalid("read tokens only allow GET requests")
    # Remembered so a live response (SSE) opened with this token ends when it expires.
    request.state.read_token_expires_at = access.check_read_token(
        access_token, str(request.path_params.get("workflow_id", ""))
    )
    # Read tokens end up in browsers and URLs: they must never read a secret (a callback link would let anyone
    # holding the token approve). One key asked by name is refused; lists and watches drop secrets (below).
    request.state.read_token_only = True
    parts = request.scope["path"].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "events" and is_secret_event(parts[-1]):
        raise SecretEvent(
            f"event {parts[-1]!r} holds a secret and read tokens never read secrets; use an API key", key=parts[-1]
        )


def read_token_only(request: Request) -> bool:
    """Whether ``request`` was let in by a read token rather than an API key (see :func:`require_read_access`)."""
    return bool(getattr(request.state, "read_token_only", False))


def without_secret_events(items: AsyncIterator[Item | End]) -> AsyncIterator[Item | End]:
    """An event watch with secret events (:func:`~communication.protocol.names.is_secret_event`) left out, for
    subscribers holding only a read token. Closing it closes the watch underneath."""

    async def filtered() -> AsyncIterator[Item | End]:
        try:
            async for out in items:
                if isinstance(out, Item) and is_secret_event(str(out.value.get("key", ""))):
                    continue
                yield out
        finally:
            await items.aclose()  # type: ignore[attr-defined]

    return filtered()


def visible_events(events: EventsOut, request: Request) -> EventsOut:
    """``events`` without secret keys when the request holds only a read token."""
    if not read_token_only(request):
        return events
    kept = {k: v for k, v in events.events.items() if not is_secret_event(k)}
    return events.model_copy(update={"events": kept})


def include_with_access(app: FastAPI, router: APIRouter, public: list[APIRouter], read: list[APIRouter]) -> None:
    """Include ``router`` with the auth dependency of its group: none for ``public``, read access for ``read``,
    an API key for everything else (secure by default: a router nobody classified requires a key).

    The 401 answer is added to the OpenAPI description of every guarded route.
    """
    if any(router is r for r in public):
        app.include_router(router)
        return
    guard = require_read_access if any(router is r for r in read) else require_api_key
    app.include_router(router, dependencies=[Depends(guard)], responses=UNAUTHORIZED_RESPONSE)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Build the access control (its server secret is kept for the core's approval links); check the webhook
    secrets; add CORS; warn when open.

    Raises:
        ValueError: a configured webhook secret is malformed (fail at start, not at the first delivery).
    """
    secret = ServerSecret(settings)
    app.state.secret = secret  # the core's approval links sign with it too (Core.build)
    app.state.access = AccessControl(settings, secret)
    WebhookVerifier(settings)  # a malformed webhook secret fails here, when the app is built
    if not settings.api_keys:
        log.warning("no API key configured (COMM_API_KEYS): every endpoint is open to anyone who can connect")
    # Inside CORS (so a preflight is answered first) and outside the body limit (a refused request is not read).
    app.add_middleware(SameOriginMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Location"],
            max_age=600,
        )


router = APIRouter(prefix="/v1/workflows/{workflow_id}", tags=["access"])


@router.post(
    "/read-token",
    status_code=201,
    summary="Mint a short-lived read token for one workflow's events and streams",
    responses={**UNAUTHORIZED_RESPONSE, **error_responses(400, 404)},
)
async def mint_read_token(
    workflow_id: WorkflowId,
    core: CoreDep,
    request: Request,
    body: Annotated[ReadTokenRequest | None, Body()] = None,
) -> ReadToken:
    """For browsers (EventSource cannot set headers): append ``?access_token=<token>`` to GET URLs under
    ``/v1/workflows/{id}/events`` and ``/v1/workflows/{id}/streams`` (SSE included) until it expires."""
    await core.workflows.status(workflow_id, detail=False)  # 404 for an unknown workflow
    return get_access(request).mint_read_token(workflow_id, body.ttl_seconds if body else None)


__all__ = [
    "UNAUTHORIZED_RESPONSE",
    "Unauthorized",
    "include_with_access",
    "install_security",
    "read_token_only",
    "require_api_key",
    "require_read_access",
    "router",
    "visible_events",
    "without_secret_events",
]
