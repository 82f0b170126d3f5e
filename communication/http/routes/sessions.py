"""Durable sessions for external producers: the v1 resource (the seed's paths: :mod:`communication.compat.sessions`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from communication.core.library_workflows.session_workflow import SESSION_ID_PATTERN, SESSION_STREAM
from communication.http.deps import CoreDep, SettingsDep
from communication.http.live import SSE_RESPONSE, LastEventId, frames_of, hub_of, resume_position, sse
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.requests import PostAck, SessionEventIn
from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN

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
    response_class=FrameStream,
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
