"""ASGI middleware enforcing the request body size limit while reading, and the JSON depth limit.

Why middleware and not a dependency: the limit must hold for chunked bodies (no Content-Length) and must
stop reading as soon as the limit is crossed, before FastAPI buffers and parses the whole body.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import envelope
from communication.errors import MalformedJSON
from communication.validation import json_depth


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


class BodyLimitMiddleware:
    """Reject bodies over ``max_bytes`` with 413 and JSON nesting over ``max_depth`` with 400."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

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
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip()
        if body and content_type == b"application/json":
            try:
                json_depth(json.loads(body), self.max_depth)
            except MalformedJSON as exc:
                await _reply(send, 400, exc.code, exc.message, exc.details)
                return
            except RecursionError:
                await _reply(send, 400, "malformed_json", "JSON nests too deeply", {"max_depth": self.max_depth})
                return
            except ValueError:
                pass  # not JSON: FastAPI reports malformed_json with its own position details

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
