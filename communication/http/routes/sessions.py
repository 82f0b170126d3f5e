"""Durable sessions for external producers: v1 resource and the seed's ``/events`` + ``/stream`` paths."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from communication.core.library_workflows.session_workflow import SESSION_ID_PATTERN, SESSION_STREAM
from communication.http.deps import CoreDep, SettingsDep
from communication.http.direct_sse import SseSink
from communication.http.frames import seed_item, sse_seed_session
from communication.http.live import SSE_RESPONSE, LastEventId, frames_of, hub_of, resume_position, sse
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import ValidationFailed
from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN, KEY_PATTERN, check_idempotency_key

router = APIRouter(tags=["sessions"])

SessionId = Annotated[
    str,
    Path(
        pattern=SESSION_ID_PATTERN,
        description="Session id (up to 120 characters: `session:` + the id is its workflow's id).",
        examples=["job-42"],
    ),
]
IdempotencyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN, description="Event id.")
]


class SessionEventIn(BaseModel):
    """One event from a producer."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"type": "progress", "data": {"pct": 40}, "id": "evt-7"}]}
    )

    type: str = Field("message", pattern=KEY_PATTERN, description="'done' or 'timeout' closes the session.")
    data: Any = Field(None, description="Any JSON value.")
    id: str | None = Field(None, pattern=IDEMPOTENCY_KEY_PATTERN, description="Event id: reposts are duplicates.")


class PostAck(BaseModel):
    """Acknowledgement of a stored event."""

    session_id: str
    event_id: str
    outcome: str = Field(description="'delivered' or 'duplicate'.")


@router.post(
    "/v1/sessions/{session_id}/events",
    status_code=202,
    summary="Post an event to a session",
    responses=error_responses(400, 409, 413),
)
async def post_event(
    session_id: SessionId, body: SessionEventIn, core: CoreDep, idempotency_key: IdempotencyHeader = None
) -> PostAck:
    """Acknowledged once stored. Creates the session on first post."""
    # The body as posted (without defaults) is what the seed path serves for this event.
    posted = body.model_dump(exclude_unset=True)
    ack = await core.sessions.post(session_id, body.type, body.data, body.id or idempotency_key, payload=posted)
    return PostAck(**ack)


@router.get(
    "/v1/sessions/{session_id}/events",
    summary="Read a session's events from an offset (never blocks)",
    responses=error_responses(404),
)
async def read_events(
    session_id: SessionId,
    core: CoreDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """``{"session_id", "values": [{offset, value}], "next_offset", "closed"}``."""
    return await core.sessions.snapshot(session_id, offset, limit)


@router.get(
    "/v1/sessions/{session_id}/live",
    summary="Tail a session live (SSE), resumable by offset",
    response_class=EventSourceResponse,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def tail(
    request: Request,
    session_id: SessionId,
    core: CoreDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Like a stream tail: ``id: <offset>`` / ``event: value``; ``event: end`` once closed."""
    wid = await core.sessions.open(session_id)
    items = await hub_of(request).tail_stream(wid, SESSION_STREAM, resume_position(last_event_id, offset))
    return sse(frames_of(items, "value"), settings)


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
    response_class=EventSourceResponse,
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
