"""Live delivery over Server-Sent Events: stream tails and event watches (contract: docs/live-contract.md).

Frames: ``id:`` is the durable position (stream offset, or event version), ``event:`` is ``value`` /
``event`` / ``end`` / ``overflow``; heartbeats are comments. A reconnect with ``Last-Event-ID`` continues exactly
after that position. The same tails are served on the snapshot URLs when the client sends
``Accept: text/event-stream``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from communication.core.hub import End, Hub, Item
from communication.core.settings import Settings
from communication.http.deps import CoreDep, SettingsDep, StreamKey, WorkflowId
from communication.http.frames import encode_json, sse_live
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import ValidationFailed
from communication.protocol.validation import check_key

router = APIRouter(prefix="/v1/workflows/{workflow_id}", tags=["live"])

LastEventId = Annotated[
    str | None, Header(alias="Last-Event-ID", description="Resume after this position (sent by EventSource).")
]
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An SSE stream (see QUICK_REFERENCE.md)."}
}


def wants_sse(request: Request) -> bool:
    """Whether the client asked for ``text/event-stream``."""
    return "text/event-stream" in request.headers.get("accept", "")


def resume_position(last_event_id: str | None, default: int) -> int:
    """The first position to send: after ``Last-Event-ID`` when present, else ``default``."""
    if last_event_id is None or last_event_id.strip() == "":
        return default
    try:
        last = int(last_event_id)
    except ValueError:
        raise ValidationFailed("Last-Event-ID must be an integer position", field="Last-Event-ID") from None
    if last < -1:
        raise ValidationFailed("Last-Event-ID must be >= -1", field="Last-Event-ID")
    return last + 1


def json_text(value: Any) -> str:
    """Compact JSON for a ``data:`` line."""
    return encode_json(value)


def frames_of(
    items: AsyncIterator[Item | End], value_event: str, keys: frozenset[str] | None = None
) -> AsyncIterator[bytes]:
    """SSE frames for hub items: ``id`` = position, ``event`` = ``value_event``; then ``end`` / ``overflow``.

    Encoded by the one frame mapper (``communication.http.frames``): once per value per feed.
    """
    return sse_live(items, value_event, keys)


def sse(frames: AsyncIterator[bytes], settings: Settings) -> FrameStream:
    """Wrap pre-encoded frames in a response with heartbeats and a send timeout for clients that stopped reading."""
    return FrameStream(frames, heartbeat=settings.sse_heartbeat_seconds, send_timeout=settings.sse_send_timeout_seconds)


def hub_of(request: Request) -> Hub:
    """The app's fan-out hub."""
    hub: Hub = request.app.state.hub
    return hub


async def stream_tail(request: Request, settings: Settings, workflow_id: str, key: str, start: int) -> FrameStream:
    """SSE tail of one stream from ``start`` (shared by the live route and the snapshot URL)."""
    items = await hub_of(request).tail_stream(workflow_id, key, start)
    return sse(frames_of(items, "value"), settings)


async def event_watch(
    request: Request, settings: Settings, workflow_id: str, after_version: int, keys: str | None
) -> FrameStream:
    """SSE watch of a workflow's events (shared by the live route and the events URL)."""
    wanted = None
    if keys:
        wanted = frozenset(check_key(k.strip(), "keys") for k in keys.split(",") if k.strip())
    items = await hub_of(request).watch_events(workflow_id, after_version)
    return sse(frames_of(items, "event", wanted), settings)


@router.get(
    "/streams/{key}/live",
    summary="Tail a stream live (SSE), resumable by offset",
    response_class=EventSourceResponse,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def tail(
    request: Request,
    workflow_id: WorkflowId,
    key: StreamKey,
    settings: SettingsDep,
    _core: CoreDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First offset to send.")] = 0,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Frames ``id: <offset>`` / ``event: value``; then ``event: end`` when closed or the workflow finished."""
    return await stream_tail(request, settings, workflow_id, key, resume_position(last_event_id, offset))


@router.get(
    "/events/live",
    summary="Watch a workflow's events live (SSE), resumable by version",
    response_class=EventSourceResponse,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def watch(
    request: Request,
    workflow_id: WorkflowId,
    settings: SettingsDep,
    _core: CoreDep,
    after_version: Annotated[int, Query(ge=0, description="Only values newer than this version.")] = 0,
    keys: Annotated[str | None, Query(max_length=4000, description="Comma-separated keys to include.")] = None,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Current values first, then every change: ``id: <version>`` / ``event: event``; ``event: end`` at the end."""
    start = resume_position(last_event_id, after_version + 1)
    return await event_watch(request, settings, workflow_id, start - 1, keys)
