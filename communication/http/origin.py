"""Same-origin by default: browser requests from other sites may not change state or start work.

A browser tells us where a request comes from: ``Origin`` (every cross-origin fetch, form POST, EventSource and
WebSocket handshake) and ``Sec-Fetch-Site`` / ``Sec-Fetch-Mode`` (every request of a current browser). A request
is *foreign* when its ``Origin`` is neither the server's own (the request's ``Host`` / ``X-Forwarded-Host``, or
``COMM_PUBLIC_BASE_URL``) nor listed in ``COMM_CORS_ORIGINS`` (``*`` allows any), or, without ``Origin``, when
``Sec-Fetch-Site`` says ``cross-site`` / ``same-site``; ``Sec-Fetch-Site: same-origin`` is never foreign.
Clients that send neither (curl, SDKs, other servers, webhook providers) are not browsers, cannot be driven by
another site, and are never refused here.

Foreign requests get 403 ``origin_not_allowed`` when they are state-changing (POST/PUT/PATCH/DELETE), any
non-navigation GET (a cross-site script, image or EventSource), or a navigation to a GET that starts work
(:data:`WORK_STARTING_GETS`: the seed's Monty stream and session tails, which start workflows). Plain link clicks
to read-only pages (a callback link in an e-mail, the dashboard) keep working. WebSockets use the same test and
close with 4403 (:func:`origin_allowed`, called by the socket handlers).

Why trust ``Host`` for "own origin": in a cross-site attack the victim's browser sets it to our host, and a page
cannot add ``X-Forwarded-Host`` to a request it forges without a CORS preflight we never grant.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from communication.core.settings import Settings
from communication.http.errors import envelope
from communication.protocol.errors import CommError, HostNotAllowed, OriginNotAllowed

#: GET routes that start or create work (a workflow): refused to foreign browsers even as a top-level navigation.
WORK_STARTING_GETS = re.compile(r"^(?:/monty/stream|/stream/[^/]+|/v1/sessions/[^/]+/live)/?\Z")
_SAFE = ("GET", "HEAD", "OPTIONS")


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def own_hosts(settings: Settings, headers: Headers) -> set[str]:
    """The ``host[:port]`` values under which this request reached us (and the public base URL's)."""
    hosts = {h.strip().lower() for h in headers.get("x-forwarded-host", "").split(",") if h.strip()}
    if headers.get("host"):
        hosts.add(headers["host"].strip().lower())
    if settings.public_base_url:
        hosts.add(_netloc(settings.public_base_url))
    return hosts - {""}


def origin_allowed(settings: Settings, headers: Headers) -> bool:
    """Whether a request (or WebSocket handshake) with these headers may act: no ``Origin`` (not a browser), our
    own origin, or one listed in ``cors_origins``."""
    origin = headers.get("origin")
    if origin is None:
        return True
    allowed = settings.cors_origins
    if "*" in allowed or origin in allowed:
        return True
    return origin != "null" and _netloc(origin) in own_hosts(settings, headers)


def foreign(settings: Settings, headers: Headers) -> bool:
    """Whether the request comes from a browser on another site (see the module docstring)."""
    site = headers.get("sec-fetch-site")
    if site == "same-origin":
        # The browser itself vouches (pages cannot set Sec-Fetch-*). Needed because under Referrer-Policy:
        # no-referrer (our callback pages) a same-origin form POST carries "Origin: null".
        return False
    if headers.get("origin") is not None:
        return not origin_allowed(settings, headers)
    return site in ("cross-site", "same-site")


def host_allowed(settings: Settings, headers: Headers) -> bool:
    """Whether the ``Host`` header is in ``allowed_hosts`` (always, when the list is empty)."""
    if not settings.allowed_hosts:
        return True
    host = headers.get("host", "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return "*" in settings.allowed_hosts or host in settings.allowed_hosts or name in settings.allowed_hosts


class SameOriginMiddleware:
    """Refuse foreign browser requests that could change state or start work, and ``Host`` headers outside
    ``allowed_hosts`` (DNS rebinding)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # WebSockets: checked by the handlers, which close with 4403
            return
        headers = Headers(scope=scope)
        refusal: CommError | None = None
        if not host_allowed(self.settings, headers):
            refusal = HostNotAllowed("this Host is not in COMM_ALLOWED_HOSTS", host=headers.get("host", ""))
        elif scope["method"] != "OPTIONS" and foreign(self.settings, headers):
            path: str = scope["path"][len(scope.get("root_path", "")) :] if scope.get("root_path") else scope["path"]
            navigation = headers.get("sec-fetch-mode") == "navigate" and scope["method"] in _SAFE
            if not navigation or WORK_STARTING_GETS.match(path):
                refusal = OriginNotAllowed(
                    "cross-site browser requests may not change state or start work; list the site in "
                    "COMM_CORS_ORIGINS to allow it",
                    origin=headers.get("origin"),
                    sec_fetch_site=headers.get("sec-fetch-site"),
                )
        if refusal is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(envelope(refusal.code, refusal.message, refusal.details)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
