"""The one strict request-body path: size while reading, one ``Content-Type``, JSON only where JSON is declared.

Why middleware and not a dependency: the size limit must hold for chunked bodies (no Content-Length) and stop
reading as soon as it is crossed, and every JSON body must be checked *before* FastAPI parses it (FastAPI's parser
accepts ``NaN`` and recurses as deep as the document goes).

For each request with a body the middleware looks up the operation in the app's OpenAPI document and the media
types its ``requestBody`` declares (a pydantic body parameter is declared JSON; routes that read the raw body
declare theirs in ``openapi_extra``), so what is enforced is exactly what the contract says. Then:

* more than one ``Content-Type`` header → 415 ``unsupported_media_type`` (two headers could be read differently
  by two parsers);
* a JSON route with a non-empty body that is not declared JSON (form data, text, no ``Content-Type``) → 415;
* a JSON body is parsed once by :func:`communication.protocol.validation.parse_json` (UTF-8, depth checked on the
  text before parsing, ``NaN``/``Infinity`` refused) → 400 ``malformed_json``; its ``Content-Type`` is then
  normalised to ``application/json`` so FastAPI reads it exactly as checked;
* a body not complete within ``read_timeout`` seconds of the request's start → 408 ``request_timeout`` (a client
  trickling bytes would otherwise hold its connection, and a file descriptor, forever).

This runs before any credential or signature check, so every step is linear in the body's size, and a JSON body
over :data:`THREAD_PARSE_BYTES` is checked on a worker thread: the event loop (``/health``, every other client)
never waits for one request's parse.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from communication.http.contract import Operation, route_table
from communication.http.errors import envelope
from communication.http.frames import encode_json
from communication.protocol.errors import (
    CommError,
    MalformedJSON,
    PayloadTooLarge,
    RequestBodyTimeout,
    UnsupportedMediaType,
)
from communication.protocol.validation import parse_json

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
#: JSON texts longer than this are parsed on a worker thread. Below it a parse takes well under a millisecond
#: (cheaper than the thread hop); 1 MiB takes tens of milliseconds, which every other client would wait out.
THREAD_PARSE_BYTES = 64 * 1024


async def parse_json_off_loop(data: bytes | str, max_depth: int) -> Any:
    """:func:`parse_json`, on a worker thread when ``data`` is large (see :data:`THREAD_PARSE_BYTES`)."""
    if len(data) > THREAD_PARSE_BYTES:
        return await run_in_threadpool(parse_json, data, max_depth)
    return parse_json(data, max_depth)


async def _reply(send: Send, status: int, code: str, message: str, details: dict[str, object]) -> None:
    body = encode_json(envelope(code, message, details)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == RequestBodyTimeout.status:
        headers.append((b"connection", b"close"))  # the rest of a slow body is never read: free the connection
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _fail(send: Send, exc: CommError) -> None:
    await _reply(send, exc.status, exc.code, exc.message, exc.details)


def media_type(content_type: bytes | None) -> str | None:
    """The lower-case ``type/subtype`` of a ``Content-Type`` value, folding ``application/*+json`` into
    ``application/json`` (FastAPI parses both as JSON); ``None`` when absent or empty."""
    if content_type is None:
        return None
    main = content_type.split(b";")[0].strip().lower().decode("latin-1")
    if not main:
        return None
    if main.startswith("application/") and main.endswith("+json"):
        return JSON
    return main


class BodyLimitMiddleware:
    """Reject bodies over ``max_bytes`` (413), ambiguous or undeclared media types (415), and JSON that is
    malformed, non-finite or nested over ``max_depth`` (400), and bodies slower than ``read_timeout`` (408)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_depth: int,
        openapi: Callable[[], dict[str, Any]] | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.read_timeout = read_timeout
        self._openapi = openapi
        self._table: list[Operation] | None = None
        self._building: asyncio.Future[list[Operation]] | None = None

    def _build_table(self) -> asyncio.Future[list[Operation]]:
        """Start building the route table on a worker thread (once): generating the OpenAPI document takes about a
        second, which on the event loop would stall every client at that moment."""
        # One build per event loop: a future cannot be awaited from another loop (an app served twice, e.g. by two
        # test clients, runs on two loops).
        if self._building is None or self._building.get_loop() is not asyncio.get_running_loop():
            openapi = self._openapi
            assert openapi is not None
            self._building = asyncio.ensure_future(run_in_threadpool(lambda: route_table(openapi())))
        return self._building

    async def _route_media(self, scope: Scope) -> frozenset[str] | None:
        """The media types the matched operation accepts; ``None`` when it takes no body or nothing matches
        (the router answers 404/405 and the body is never read)."""
        if self._openapi is None:
            return frozenset({JSON})  # no contract to consult: treat every body as JSON (strictest)
        if self._table is None:
            self._table = await asyncio.shield(self._build_table())
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]  # mounted under a prefix: the document's paths are relative to it
        method = scope["method"]
        for operation_method, regex, media in self._table:
            if operation_method == method and regex.match(path):
                return media
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._openapi is not None:
            self._build_table()  # ready before the first request with a body (a mounted app builds it then)
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_types = [v for k, v in scope["headers"] if k == b"content-type"]
        if len(content_types) > 1:
            await _fail(send, UnsupportedMediaType("send exactly one Content-Type header", count=len(content_types)))
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _fail(send, PayloadTooLarge("request body too large", max_bytes=self.max_bytes))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        # One deadline for the whole body, not per chunk: a byte every few seconds must not keep it alive.
        deadline = None if self.read_timeout is None else time.monotonic() + self.read_timeout
        while more:
            try:
                if deadline is None:
                    message = await receive()
                else:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await _fail(
                    send,
                    RequestBodyTimeout(
                        "request body not received in time", timeout_seconds=self.read_timeout, received_bytes=size
                    ),
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _fail(send, PayloadTooLarge("request body too large", max_bytes=self.max_bytes))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        accepted = await self._route_media(scope)
        if body and accepted is not None and JSON in accepted:
            kind = media_type(content_types[0] if content_types else None)
            if kind == JSON:
                try:
                    await parse_json_off_loop(body, self.max_depth)
                except MalformedJSON as exc:
                    await _fail(send, exc)
                    return
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                scope = {**scope, "headers": [*headers, (b"content-type", JSON.encode())]}
            elif kind not in accepted:
                await _fail(
                    send,
                    UnsupportedMediaType(
                        f"this route takes {' or '.join(sorted(accepted))}; send 'Content-Type: application/json'",
                        content_type=kind,
                        accepted=sorted(accepted),
                    ),
                )
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


_BODY_ERRORS = {
    "400": "Malformed JSON: invalid, not UTF-8, NaN/Infinity, or nested deeper than allowed (malformed_json)",
    "413": "Body too large (payload_too_large)",
    "408": "Body not received within COMM_BODY_READ_TIMEOUT_SECONDS (request_timeout)",
    "415": "Content-Type missing, repeated, or not the route's media type (unsupported_media_type)",
}


def document_body_errors(app: FastAPI) -> None:
    """Declare, on every operation that takes a request body, the 400, 413 and 415 this middleware answers.

    The middleware guards every route, so the OpenAPI document must say so everywhere, not only where a
    router remembered to list them.
    """
    build = app.openapi
    # FastAPI's generation is not thread-safe, and it runs on two threads: the body middleware builds its route
    # table from the document on a worker thread while a request for /openapi.json may build it on the loop.
    # Concurrent builds corrupt each other's field maps (a KeyError, answered 500); one at a time, and the document
    # is only visible once complete.
    lock = threading.Lock()

    def openapi() -> dict[str, Any]:
        with lock:
            return app.openapi_schema if app.openapi_schema is not None else complete(build())

    def complete(schema: dict[str, Any]) -> dict[str, Any]:
        has_envelope = "ErrorEnvelope" in schema.get("components", {}).get("schemas", {})
        content = (
            {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}} if has_envelope else {}
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    responses = operation.setdefault("responses", {})
                    for status, description in _BODY_ERRORS.items():
                        responses.setdefault(status, {"description": description, "content": content})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
