"""ASGI middleware enforcing the request body size limit while reading, and the JSON depth limit.

Why middleware and not a dependency: the limit must hold for chunked bodies (no Content-Length) and must
stop reading as soon as the limit is crossed, before FastAPI buffers and parses the whole body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from communication.http.errors import envelope
from communication.protocol.errors import MalformedJSON
from communication.protocol.validation import json_depth


async def _reply(send: Send, status: int, code: str, message: str, details: dict[str, object]) -> None:
    body = json.dumps(envelope(code, message, details)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_kind(content_type: bytes | None) -> str:
    """How FastAPI will treat the body: ``json`` (application/json or application/*+json, any case), ``maybe``
    (no content type: FastAPI tries JSON too), ``other``. Mirrors FastAPI so no JSON body escapes the checks."""
    if content_type is None or not content_type.strip():
        return "maybe"
    main = content_type.split(b";")[0].strip().lower()
    if main == b"application/json" or (main.startswith(b"application/") and main.endswith(b"+json")):
        return "json"
    return "other"


class BodyLimitMiddleware:
    """Reject bodies over ``max_bytes`` with 413 and JSON nesting over ``max_depth`` with 400."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def _check_json(self, body: bytes, *, strict: bool) -> MalformedJSON | None:
        """The reason to reject ``body``, or ``None``. Not JSON is a rejection only when declared as JSON (a body
        without a content type may be meant for a route that ignores it); too deep is always one."""
        try:
            value = json.loads(body)
        except RecursionError:
            return MalformedJSON("JSON nests too deeply", max_depth=self.max_depth)
        except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8/16/32
            if not strict:
                return None
            details: dict[str, object] = {"reason": str(exc)[:200]}
            if isinstance(exc, json.JSONDecodeError):
                details.update(line=exc.lineno, column=exc.colno)
            return MalformedJSON("request body is not valid JSON", **details)
        try:
            json_depth(value, self.max_depth)
        except MalformedJSON as exc:
            return exc
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, "payload_too_large", "request body too large", {"max_bytes": self.max_bytes})
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, "payload_too_large", "request body too large", {"max_bytes": self.max_bytes})
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        kind = _json_kind(headers.get(b"content-type"))
        if body and kind != "other":
            rejection = self._check_json(body, strict=kind == "json")
            if rejection is not None:
                await _reply(send, 400, rejection.code, rejection.message, rejection.details)
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
    "400": "Malformed JSON, or nested deeper than allowed (malformed_json)",
    "413": "Body too large (payload_too_large)",
}


def document_body_errors(app: FastAPI) -> None:
    """Declare, on every operation that takes a request body, the 400 and 413 this middleware answers.

    The middleware guards every route, so the OpenAPI document must say so everywhere, not only where a
    router remembered to list them.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
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
