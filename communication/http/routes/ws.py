"""WebSocket per workflow: subscribe to streams (from offsets), events and status; send messages; JSON frames.

Protocol (documented in QUICK_REFERENCE.md). Client → server frames, each a JSON object with ``op``:

* ``{"op": "subscribe_stream", "sub": "s1", "key": "progress_stream", "offset": 0}``
* ``{"op": "subscribe_events", "sub": "e1", "after_version": 0, "keys": ["progress"]}``
* ``{"op": "subscribe_status", "sub": "st"}``
* ``{"op": "subscribe_feed", "sub": "f1", "cursor": null, "events": null, "streams": ["tokens"], "status": true}``
* ``{"op": "unsubscribe", "sub": "s1"}``
* ``{"op": "send", "req": "r1", "topic": "notification", "message": {...}, "idempotency_key": "k1"}``
* ``{"op": "ping", "req": "p1"}``

Server → client frames have ``type``: ``hello``, ``value`` (sub, offset, value), ``event`` (sub, key, value,
version), ``status`` (sub, status), ``feed`` (sub, id, data: the workflow feed's frames), ``end`` (sub, reason,
next_offset?, workflow_status), ``overflow`` (sub,
next_offset), ``send_result`` (req, outcome, ...), ``pong`` (req), ``error`` (req/sub, error envelope).
A bad frame (binary, not JSON, ``NaN``, nested over ``max_json_depth``, over ``max_body_bytes``, invalid) gets
an ``error`` frame and the socket stays open. Close codes: 4403 foreign ``Origin`` (not the server's own nor in
``COMM_CORS_ORIGINS``), 4404 unknown workflow, 4401 not authorised (API key, or ``access_token`` read token for
subscriptions only; read tokens never see secret events; a socket opened with a read token gets an ``error``
frame ``token_expired`` and 4401 when the token expires), 1011 internal error, 1001 server shutting down.

Every frame is written under the connection's send lock, so frames of several subscriptions never interleave. A
``subscribe_stream`` or ``subscribe_feed`` subscription that is caught up has its frames written by the hub's feed
itself, in its one pass over all caught-up subscribers (:mod:`communication.http.direct_ws`,
:mod:`communication.http.direct_feed`), under the same lock; the rest goes through the subscription's own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.types import Message

from communication.core.live.feed_cursor import MAX_CURSOR_CHARS, decode_cursor
from communication.core.live.feed_entries import FeedFilter
from communication.core.live.hub import End, Hub, Item
from communication.core.live.workflow_feed import FeedFinished
from communication.core.security.credentials import READ_TOKEN_PARAM, AccessControl
from communication.core.services import Core
from communication.http.access import without_secret_events
from communication.http.body_limit import parse_json_off_loop
from communication.http.direct_feed import WsFeedWriter
from communication.http.direct_ws import WsSink
from communication.http.feed_frames import ws_feed_frame
from communication.http.frames import encode_json, record_delivery, ws_end, ws_event, ws_overflow, ws_value
from communication.http.origin import origin_allowed
from communication.http.websocket import INTERNAL_ERROR, bearer_key, close_code
from communication.protocol.errors import (
    CommError,
    MalformedJSON,
    OriginNotAllowed,
    PayloadTooLarge,
    TokenExpired,
    TooManySubscriptions,
    Unauthorized,
    ValidationFailed,
)
from communication.protocol.validation import (
    IDEMPOTENCY_KEY_PATTERN,
    KEY_PATTERN,
    MAX_POSITION,
    WORKFLOW_ID_PATTERN,
    check_workflow_id,
)

log = logging.getLogger("communication.http.routes.ws")
router = APIRouter(tags=["live"])

SubId = Annotated[str, Field(min_length=1, max_length=64)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscribeStream(_Frame):
    op: Literal["subscribe_stream"]
    sub: SubId
    key: str = Field(pattern=KEY_PATTERN)
    offset: int = Field(0, ge=0, le=MAX_POSITION)


class SubscribeEvents(_Frame):
    op: Literal["subscribe_events"]
    sub: SubId
    after_version: int = Field(0, ge=0, le=MAX_POSITION - 1)
    keys: list[Annotated[str, Field(pattern=KEY_PATTERN)]] | None = None


class SubscribeStatus(_Frame):
    op: Literal["subscribe_status"]
    sub: SubId


class SubscribeFeed(_Frame):
    op: Literal["subscribe_feed"]
    sub: SubId
    cursor: str | None = Field(None, max_length=MAX_CURSOR_CHARS)
    events: list[Annotated[str, Field(pattern=KEY_PATTERN)]] | None = None
    streams: list[Annotated[str, Field(pattern=KEY_PATTERN)]] | None = None
    status: bool = True


class Unsubscribe(_Frame):
    op: Literal["unsubscribe"]
    sub: SubId


class Send(_Frame):
    op: Literal["send"]
    req: str | None = Field(None, max_length=64)
    topic: str = Field("notification", pattern=KEY_PATTERN)
    message: Any
    idempotency_key: str | None = Field(None, pattern=IDEMPOTENCY_KEY_PATTERN)


class Ping(_Frame):
    op: Literal["ping"]
    req: str | None = Field(None, max_length=64)


ClientFrame = Annotated[
    SubscribeStream | SubscribeEvents | SubscribeStatus | SubscribeFeed | Unsubscribe | Send | Ping,
    Field(discriminator="op"),
]
_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class _Connection:
    """One socket: its subscriptions (tasks) and a lock so frames from several tasks never interleave."""

    def __init__(
        self, ws: WebSocket, core: Core, hub: Hub, workflow_id: str, can_send: bool, expires_at: float | None = None
    ) -> None:
        self.ws, self.core, self.hub, self.workflow_id = ws, core, hub, workflow_id
        self.can_send = can_send
        self.expires_at = expires_at  # when the read token that opened the socket expires (None: an API key)
        self.subs: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send one frame: a dict is encoded here; a ``str`` is already encoded (``communication.http.frames``)."""
        text = frame if isinstance(frame, str) else encode_json(frame)
        async with self._lock:
            await self.ws.send_text(text)

    async def error(self, exc: CommError, **ids: Any) -> None:
        await self.send({"type": "error", **{k: v for k, v in ids.items() if v is not None}, "error": exc.to_dict()})

    def check_room(self, sub: str) -> None:
        """Refuse a subscription id in use, or one more than the per-connection cap."""
        if sub in self.subs:
            raise ValidationFailed(f"subscription {sub!r} already exists", field="sub")
        limit = self.core.settings.max_subscriptions_per_connection
        if len(self.subs) >= limit:
            raise TooManySubscriptions(f"at most {limit} subscriptions per connection", scope="connection", limit=limit)

    def start(self, sub: str, work: Any) -> None:
        self.check_room(sub)
        task = asyncio.create_task(self._guard(sub, work))
        self.subs[sub] = task

    async def _guard(self, sub: str, work: Any) -> None:
        try:
            await work
        except CommError as exc:
            await self.error(exc, sub=sub)
        except (WebSocketDisconnect, RuntimeError):
            pass  # socket gone; the receive loop cleans up
        finally:
            self.subs.pop(sub, None)

    async def relay(
        self, sub: str, items: Any, kind: str, keys: set[str] | None = None, sink: WsSink | None = None
    ) -> None:
        """The per-subscriber path of one stream or event subscription (``sink``: a stream's direct-delivery
        sink, which the feed writes to itself while the subscription is caught up; what it does not take comes
        through here)."""
        try:
            async for out in items:
                # Frames from the one mapper: the value's JSON is encoded once per feed, spliced per subscription.
                if isinstance(out, Item):
                    if kind == "value":
                        if sink is not None and sink.expired():
                            return  # no value after the read token's expiry: the socket ends with token_expired
                        await self.send(ws_value(out, sub))
                        record_delivery(out, "websocket")
                    elif keys is None or out.value["key"] in keys:
                        await self.send(ws_event(out, sub))
                        record_delivery(out, "websocket")
                elif isinstance(out, End):
                    if out.reason == "overflow":
                        await self.send(ws_overflow(out, sub))
                    elif out.reason != "shutdown":
                        await self.send(ws_end(out, sub, with_offset=kind == "value"))
        finally:
            if sink is not None:
                sink.close()  # a direct write still pending must not keep the send lock

    async def status(self, sub: str) -> None:
        info = await self.core.workflows.status(self.workflow_id, detail=False)
        await self.send({"type": "status", "sub": sub, "status": info.status})
        # The event watch ends exactly when the workflow reaches a terminal state: report the final status.
        watch = await self.hub.watch_events(self.workflow_id, 2**62)
        async for out in watch:
            if isinstance(out, End) and out.reason != "shutdown":
                await self.send({"type": "status", "sub": sub, "status": out.workflow_status})

    async def feed(self, sub: str, frame: SubscribeFeed) -> None:
        """The workflow feed on this socket: ``feed {sub, id, data}`` frames (``data`` as on the SSE feed)."""
        wanted = FeedFilter(
            events=None if frame.events is None else frozenset(frame.events),
            streams=None if frame.streams is None else frozenset(frame.streams),
            status=frame.status,
            secrets=self.can_send,  # a read token never sees a secret event
        )
        try:
            items = await self.hub.workflows.open(self.workflow_id, decode_cursor(frame.cursor), wanted)
        except FeedFinished:
            await self.send({"type": "end", "sub": sub, "reason": "cursor_has_end"})
            return
        # Caught up, the feed writes this subscription's frames to the socket directly (http/direct_feed.py).
        sink = WsSink(self.ws.send, self._lock, sub, self.expires_at)
        items.deliver_to(WsFeedWriter(sink))
        try:
            async with contextlib.aclosing(items):
                async for entry, pos in items:
                    if sink.expired():
                        return  # nothing after the read token's expiry: the socket ends with token_expired
                    await self.send(ws_feed_frame(entry, pos, sub))
        finally:
            sink.close()  # a direct write still pending must not keep the send lock

    async def handle(self, frame: Any) -> None:
        if isinstance(frame, SubscribeStream | SubscribeEvents | SubscribeStatus | SubscribeFeed):
            self.check_room(frame.sub)
        if isinstance(frame, SubscribeStream):
            tail = await self.hub.tail_stream(self.workflow_id, frame.key, frame.offset)
            # Caught up, the feed writes this subscription's frames to the socket directly (http/direct_ws.py).
            sink = WsSink(self.ws.send, self._lock, frame.sub, self.expires_at)
            tail.deliver_to(sink)
            self.start(frame.sub, self.relay(frame.sub, tail, "value", sink=sink))
        elif isinstance(frame, SubscribeEvents):
            items: AsyncIterator[Item | End] = await self.hub.watch_events(self.workflow_id, frame.after_version)
            if not self.can_send:  # a read token: never a secret event
                items = without_secret_events(items)
            self.start(frame.sub, self.relay(frame.sub, items, "event", set(frame.keys) if frame.keys else None))
        elif isinstance(frame, SubscribeStatus):
            self.start(frame.sub, self.status(frame.sub))
        elif isinstance(frame, SubscribeFeed):
            self.start(frame.sub, self.feed(frame.sub, frame))
        elif isinstance(frame, Unsubscribe):
            task = self.subs.pop(frame.sub, None)
            if task is not None:
                task.cancel()
        elif isinstance(frame, Send):
            if not self.can_send:
                raise Unauthorized("sending needs an API key; a read token only allows subscriptions")
            result = await self.core.messages.send(self.workflow_id, frame.message, frame.topic, frame.idempotency_key)
            await self.send({"type": "send_result", "req": frame.req, **result.model_dump()})
        elif isinstance(frame, Ping):
            await self.send({"type": "pong", "req": frame.req})

    async def close_all(self) -> None:
        for task in list(self.subs.values()):
            task.cancel()
        for task in list(self.subs.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _authorise(websocket: WebSocket, workflow_id: str) -> tuple[bool, float | None]:
    """Check credentials like the HTTP API: an API key (``Authorization: Bearer``) allows everything; a read token
    (``access_token`` query parameter, for browsers) allows subscriptions to this workflow only.

    Returns whether the client may send messages, and when its read token expires (``None``: no token).
    Raises Unauthorized / TokenInvalid / TokenExpired.
    """
    access: AccessControl = websocket.app.state.access
    key = bearer_key(websocket)
    if access.open or (key is not None and access.is_api_key(key)):
        return True, None
    token = websocket.query_params.get(READ_TOKEN_PARAM)
    if token is None:
        access.authenticate(key)  # raises the matching 401
        return True, None
    return False, access.check_read_token(token, workflow_id)


async def _receive(websocket: WebSocket, expires_at: float | None) -> Message | None:
    """The next ASGI message (text, binary or disconnect); ``None`` once the read token that opened it expired."""
    if expires_at is None:
        return await websocket.receive()
    remaining = expires_at - time.time()
    if remaining <= 0:
        return None
    try:
        return await asyncio.wait_for(websocket.receive(), remaining)
    except TimeoutError:
        return None


@router.websocket("/v1/workflows/{workflow_id}/ws")
async def workflow_socket(websocket: WebSocket, workflow_id: str) -> None:
    """Subscribe to a workflow's streams, events and status, and send it messages, over one socket."""
    core: Core = websocket.app.state.core
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    try:
        # Origin and credentials first, so a refusal never depends on whether the workflow exists.
        if not origin_allowed(core.settings, websocket.headers):
            raise OriginNotAllowed(
                "this Origin is not allowed (own origin or COMM_CORS_ORIGINS)", origin=websocket.headers.get("origin")
            )
        can_send, expires_at = _authorise(websocket, workflow_id)
        check_workflow_id(workflow_id)
        info = await core.workflows.status(workflow_id, detail=False)
    except CommError as exc:
        await websocket.send_text(encode_json({"type": "error", "error": exc.to_dict()}))
        await websocket.close(code=close_code(exc))
        return
    conn = _Connection(websocket, core, hub, workflow_id, can_send, expires_at)
    await conn.send(
        {"type": "hello", "workflow_id": workflow_id, "status": info.status, "pattern": WORKFLOW_ID_PATTERN}
    )
    limit, depth = core.settings.max_body_bytes, core.settings.max_json_depth
    try:
        while True:
            message = await _receive(websocket, expires_at)
            if message is None:
                # The read token expired: a terminal error frame, then close (4401, like a refused token).
                await conn.close_all()
                expired = TokenExpired("read token expired; mint a new one", expired_at=expires_at)
                await conn.error(expired)
                await websocket.close(code=close_code(expired))
                break
            if message["type"] == "websocket.disconnect":
                break
            req = None
            try:
                # Every protocol error is answered with an error frame and the socket stays open.
                raw = message.get("text")
                if raw is None:
                    raise MalformedJSON("binary frames are not supported: send JSON text")
                if len(raw) > limit:
                    raise PayloadTooLarge("frame too large", max_bytes=limit)
                data = await parse_json_off_loop(raw, depth)  # the one strict parser (off the loop when large)
                req = data.get("req") or data.get("sub") if isinstance(data, dict) else None
                if not isinstance(req, str | None):
                    req = None
                frame = _frames.validate_python(data)
                await conn.handle(frame)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_context=False, include_input=False)
                await conn.error(ValidationFailed("invalid frame", errors=errors), req=req)
            except CommError as exc:
                await conn.error(exc, req=req)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("websocket failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=INTERNAL_ERROR)
    finally:
        await conn.close_all()
