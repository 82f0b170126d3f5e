"""/v1/workflows/{id}/streams: list streams, read a snapshot from an offset (never blocks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from communication.http.deps import CoreDep, SettingsDep, StreamKey, WorkflowId
from communication.http.live import SSE_RESPONSE, LastEventId, resume_position, stream_tail, wants_sse
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.models import StreamList, StreamSnapshot

router = APIRouter(prefix="/v1/workflows/{workflow_id}/streams", tags=["streams"])


@router.get("", summary="List a workflow's streams", responses=error_responses(404))
async def list_streams(workflow_id: WorkflowId, core: CoreDep) -> StreamList:
    """Every stream key with its length and closed flag."""
    return await core.streams.list(workflow_id)


@router.get(
    "/{key}",
    summary="Read a stream snapshot from an offset (SSE tail with Accept: text/event-stream)",
    response_model=StreamSnapshot,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def read_stream(
    request: Request,
    workflow_id: WorkflowId,
    key: StreamKey,
    core: CoreDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First offset to return.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most values to return.")] = 100,
    last_event_id: LastEventId = None,
) -> StreamSnapshot | FrameStream:
    """Values with their offsets, ``next_offset`` to continue from, ``closed`` and ``complete``.

    With ``Accept: text/event-stream`` the same URL is the live tail (see ``/live``).
    """
    if wants_sse(request):
        return await stream_tail(request, settings, workflow_id, key, resume_position(last_event_id, offset))
    return await core.streams.snapshot(workflow_id, key, offset, limit)
