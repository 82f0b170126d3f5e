"""/v1/workflows/{id}/events: all events, or one key with a bounded blocking wait."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from communication.http.access import visible_events
from communication.http.deps import CoreDep, EventKey, SettingsDep, Timeout, WorkflowId
from communication.http.live import (
    SSE_RESPONSE,
    LastEventId,
    event_watch,
    resume_position,
    until_disconnected,
    wants_sse,
)
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.models import EventOut, EventsOut
from communication.protocol.page_budget import cut
from communication.protocol.validation import MAX_POSITION

router = APIRouter(prefix="/v1/workflows/{workflow_id}/events", tags=["events"])


@router.get(
    "",
    summary="Get all events of a workflow (never blocks; SSE watch with Accept: text/event-stream)",
    response_model=EventsOut,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def all_events(
    request: Request,
    workflow_id: WorkflowId,
    core: CoreDep,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
    after_key: Annotated[
        str | None, Query(max_length=256, description="Continue after this key (a truncated page's next_key).")
    ] = None,
) -> EventsOut | FrameStream:
    """Latest value and version of every key, by key; the page stops at the byte budget (``COMM_PAGE_MAX_BYTES``,
    at least one key): ``truncated`` and ``next_key`` say where to continue. With ``Accept: text/event-stream``:
    the live watch."""
    if wants_sse(request):
        return await event_watch(request, settings, workflow_id, resume_position(last_event_id, 1) - 1, None)
    found = visible_events(await core.events.all(workflow_id), request)
    keys = sorted(k for k in found.events if after_key is None or k > after_key)
    kept, truncated = cut([(k, found.events[k]) for k in keys], settings.page_max_bytes)
    return found.model_copy(
        update={
            "events": dict(kept),
            "truncated": truncated,
            "next_key": kept[-1][0] if truncated else None,
        }
    )


@router.get(
    "/{key}",
    summary="Get one event, blocking until it is set (or newer than a version)",
    response_model=EventOut,
    responses=error_responses(404),
)
async def get_event(
    request: Request,
    workflow_id: WorkflowId,
    key: EventKey,
    core: CoreDep,
    timeout: Timeout,
    after_version: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="Wait for a value newer than this version (from a previous answer)."),
    ] = None,
) -> EventOut | Response:
    """Blocks up to ``timeout`` seconds. A finished workflow that never set the key answers 404 at once.

    The wait is cancelled as soon as the client disconnects."""
    return await until_disconnected(request, core.events.get(workflow_id, key, timeout, after_version))
