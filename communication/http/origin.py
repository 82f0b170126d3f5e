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
cannot add ``X-Forwarded-Host`` to a request it forges without a CORS preflight we never grant. The exception is
DNS rebinding: a page on ``evil.example`` re-points that name at 127.0.0.1, so its requests reach a local server
with ``Host: evil.example`` *and* ``Origin: http://evil.example``. Hence :func:`host_allowed`: with
``COMM_ALLOWED_HOSTS`` unset, a server bound to a loopback address (the default) answers only to loopback names
(``localhost``, ``127.0.0.1``, ``[::1]``, with any port); behind a local reverse proxy that forwards another
``Host``, list it in ``COMM_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from communication.core.settings import Settings
from communication.http.errors import envelope
from communication.http.frames import encode_json
from communication.protocol.errors import CommError, HostNotAllowed, OriginNotAllowed

#: GET routes that start or create work (a workflow): refused to foreign browsers even as a top-level navigation.
WORK_STARTING_GETS = re.compile(r"^(?:/monty/stream|/stream/[^/]+|/v1/sessions/[^/]+/live)/?\Z")
_SAFE = ("GET", "HEAD", "OPTIONS")
_LOOPBACK_NAMES = frozenset({"localhost", "[::1]"})
_PORT_RE = re.compile(r"[0-9]{1,5}")


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


def split_host(value: str) -> tuple[str, str | None] | None:
    """``(name, port)`` of a ``Host`` value (name lower-case, IPv6 in brackets), or ``None`` when it is not
    ``name`` or ``name:port`` (``host:80:junk``, ``host:``, ``[::1``, an empty name)."""
    host = value.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[: end + 1], host[end + 1 :]
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
    if not name:
        return None
    if not rest:
        return name, None
    if rest[0] != ":" or not _PORT_RE.fullmatch(rest[1:]):
        return None
    return name, rest[1:]


def _is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(settings: Settings, headers: Headers, server: tuple[str, int] | None = None) -> bool:
    """Whether the ``Host`` header may be answered.

    ``allowed_hosts`` set: the host (``name`` or ``name:port``, well-formed) must be listed (``*``: any). Unset:
    any host, except on a loopback bind, where only loopback names pass (DNS rebinding; see the module docstring).
    ``server`` is the local address the connection arrived on (ASGI ``scope["server"]``); the loopback rule
    applies when both it and the configured bind are loopback (an in-process test client has neither).
    """
    raw = headers.get("host", "")
    parsed = split_host(raw)
    allowed = {h.strip().lower() for h in settings.allowed_hosts}
    if not allowed:
        if server is None or not (_is_loopback(settings.host) and _is_loopback(str(server[0]))):
            return True
        return parsed is not None and _is_loopback(parsed[0])
    if "*" in allowed:
        return True
    if parsed is None:
        return False
    name, port = parsed
    return name in allowed or (port is not None and f"{name}:{port}" in allowed)


class SameOriginMiddleware:
    """Refuse foreign browser requests that could change state or start work, and ``Host`` headers outside
    ``allowed_hosts`` (DNS rebinding)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        server = scope.get("server")
        if scope["type"] == "websocket":
            # Origins are checked by the handlers (close 4403); a rebound Host is refused here, before any handler.
            if host_allowed(self.settings, headers, server):
                await self.app(scope, receive, send)
            else:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": HostNotAllowed.code})
            return
        refusal: CommError | None = None
        if not host_allowed(self.settings, headers, server):
            refusal = HostNotAllowed(
                "this Host is not one this server answers to: list it in COMM_ALLOWED_HOSTS",
                host=headers.get("host", "")[:200],
            )
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
        body = encode_json(envelope(refusal.code, refusal.message, refusal.details)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
