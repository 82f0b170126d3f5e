"""An ASGI wrapper that records the ``send`` the server called the application with, so a live response can write
its body chunks below the application's own middleware.

Why: every middleware of the application wraps ``send`` in a coroutine of its own (Starlette's server-error and
exception layers, the body limit, same-origin, CORS), and a live stream's body chunk then steps through all of
them, per subscriber per frame, although none of them looks at body chunks: they act on the request, or on
``http.response.start`` (headers, "has the response started"). A streaming response sends its start through the
wrapped ``send`` as usual (every middleware sees it), and may then send ``http.response.body`` chunks through the
``send`` recorded here (``scope[ENTRY_SEND]``): what the server gave the application. ``python server.py``
serves the application wrapped in :class:`EntrySend`; served any other way (an API mounted in a host application,
a test client) the key is absent and responses use the wrapped ``send`` as usual. Middleware that rewrites body
chunks must not be added to a wrapped application (Starlette's ``GZipMiddleware`` leaves ``text/event-stream``
alone anyway).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

ENTRY_SEND = "comm.entry_send"


class EntrySend:
    """``app`` with the ``send`` of each HTTP request recorded in its scope (``scope[ENTRY_SEND]``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record ``send`` (HTTP only), then call the application."""
        if scope["type"] == "http":
            scope[ENTRY_SEND] = send
        await self.app(scope, receive, send)
