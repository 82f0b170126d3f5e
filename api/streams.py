"""/v1/workflows/{id}/streams: list streams, read a snapshot from an offset (never blocks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CoreDep, StreamKey, WorkflowId
from api.schemas import error_responses
from communication.models import StreamList, StreamSnapshot

router = APIRouter(prefix="/v1/workflows/{workflow_id}/streams", tags=["streams"])


@router.get("", summary="List a workflow's streams", responses=error_responses(404))
async def list_streams(workflow_id: WorkflowId, core: CoreDep) -> StreamList:
    """Every stream key with its length and closed flag."""
    return await core.streams.list(workflow_id)


@router.get("/{key}", summary="Read a stream snapshot from an offset", responses=error_responses(404))
async def read_stream(
    workflow_id: WorkflowId,
    key: StreamKey,
    core: CoreDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First offset to return.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most values to return.")] = 100,
) -> StreamSnapshot:
    """Values with their offsets, ``next_offset`` to continue from, ``closed`` and ``complete``."""
    return await core.streams.snapshot(workflow_id, key, offset, limit)
