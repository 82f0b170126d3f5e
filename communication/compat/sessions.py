"""The seed's callback receiver (seed 004): ``POST /events/{sid}`` stores any JSON body, ``GET /stream/{sid}``
tails it as SSE, exactly as posted. The same durable sessions as ``/v1/sessions``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from communication.compat.frames import seed_item, sse_seed_session
from communication.core.library_workflows.session_workflow import SESSION_STREAM
from communication.http.deps import CoreDep, SettingsDep
from communication.http.direct_sse import SseSink
from communication.http.live import SSE_RESPONSE, LastEventId, hub_of, resume_position
from communication.http.routes.sessions import IdempotencyHeader, SessionId
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import ValidationFailed
from communication.protocol.requests import PostAck
from communication.protocol.validation import KEY_PATTERN, check_idempotency_key

router = APIRouter(tags=["seed-compatible"])


# -- seed paths -----------------------------------------------------------------------------------------------
@router.post(
    "/events/{session_id}",
    status_code=202,
    summary="Post an event (seed callback receiver)",
    responses=error_responses(400, 409, 413),
)
async def seed_post(
    session_id: SessionId,
    core: CoreDep,
    payload: Annotated[Any, Body(examples=[{"type": "thinking", "content": "Reading the files..."}])],
    idempotency_key: IdempotencyHeader = None,
) -> PostAck:
    """Any JSON body, stored and served on ``GET /stream/{session_id}`` exactly as posted. ``type`` (or
    ``event``) names the event, default ``message`` (``done`` / ``timeout`` close the session); ``data`` (or the
    whole body) is its data on the v1 API; ``id`` (or the Idempotency-Key header) deduplicates reposts."""
    event_type, data, event_id = "message", payload, idempotency_key
    if isinstance(payload, dict):
        event_type = payload.get("type") or payload.get("event") or "message"
        if not isinstance(event_type, str):  # an object or number is refused, never turned into text
            raise ValidationFailed("type must be a string", field="type", pattern=KEY_PATTERN)
        data = payload.get("data", payload)
        event_id = check_idempotency_key(payload["id"], "id") if payload.get("id") is not None else idempotency_key
    ack = await core.sessions.post(session_id, event_type, data, event_id, payload=payload)
    return PostAck(**ack)


@router.get(
    "/stream/{session_id}",
    summary="Tail a session as SSE (seed callback receiver)",
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def seed_stream(
    request: Request,
    session_id: SessionId,
    core: CoreDep,
    settings: SettingsDep,
    named: Annotated[
        bool, Query(description="Name each frame by the event's type (`event: progress`); default unnamed.")
    ] = False,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """``data:`` is exactly the JSON the producer posted; ``id:`` its durable offset. Frames are unnamed, so a
    browser ``EventSource.onmessage`` receives them (``?named=1``: ``event:`` is the event's type). The ``done``
    or ``timeout`` frame is the last; then the response ends."""
    wid = await core.sessions.open(session_id)
    items = await hub_of(request).tail_stream(wid, SESSION_STREAM, resume_position(last_event_id, 0))
    # Caught up, the feed writes to this response directly (communication.http.direct_sse).
    sink = SseSink(frame_of=lambda item: seed_item(item, named))
    items.deliver_to(sink)
    return FrameStream(
        sse_seed_session(items, named=named),
        heartbeat=settings.sse_heartbeat_seconds,
        send_timeout=settings.sse_send_timeout_seconds,
        sink=sink,
    )
