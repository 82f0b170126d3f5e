"""/v1/workflows: start, list, status, result, cancel, resume, fork, steps; /v1/workflow-types."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from communication.core.library_workflows.session_workflow import check_not_session_namespace
from communication.http.deps import CoreDep, Timeout, WorkflowId
from communication.http.schemas import error_responses
from communication.protocol.models import ForkResult, StepList, WorkflowInfo, WorkflowList, WorkflowResult
from communication.protocol.page_budget import cut
from communication.protocol.requests import ForkRequest, StartWorkflowRequest
from communication.protocol.validation import BoundedDatetime

router = APIRouter(prefix="/v1", tags=["workflows"])

_TIME = "ISO 8601 time between 1970-01-01 and 3000-01-01 (UTC when no offset is given)."


@router.get("/workflow-types", summary="List registered workflow types with their input JSON schemas")
async def list_types(core: CoreDep) -> list[dict[str, Any]]:
    """Every type that ``POST /v1/workflows`` accepts, with the JSON schemas of its input and result."""
    return [
        {
            "type": t.name,
            "description": t.description,
            "input_schema": t.input_schema(),
            "output_schema": t.output_schema(),
            "call_style": t.call_style,
            "queue": t.queue,
            "tags": list(t.tags),
        }
        for t in core.registry.all()
    ]


@router.post(
    "/workflows",
    status_code=201,
    summary="Start a workflow (idempotent per workflow id)",
    responses={
        200: {"model": WorkflowInfo, "description": "The id already existed; nothing was started."},
        **error_responses(400, 404, 409, 413),
    },
)
async def start_workflow(body: StartWorkflowRequest, core: CoreDep, response: Response) -> WorkflowInfo:
    """Start ``type`` with ``input``. 201 when started; 200 when ``workflow_id`` already existed.

    A ``type`` this server has no registration for is enqueued by DBOS workflow name when ``queue`` is given
    (gateway mode: another application's workers run it); without ``queue`` it is 422 unknown_workflow_type.
    """
    check_not_session_namespace(body.type, body.workflow_id)
    info, created = await core.workflows.start(
        body.type, body.input, body.workflow_id, args=body.args, queue=body.queue
    )
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/workflows/{info.workflow_id}"
    return info


@router.get("/workflows", summary="List workflows, newest first")
async def list_workflows(
    core: CoreDep,
    status: Annotated[str | None, Query(description="PENDING, ENQUEUED, SUCCESS, ERROR, CANCELLED, ...")] = None,
    type: Annotated[str | None, Query(max_length=128, description="Workflow type.")] = None,
    created_after: Annotated[BoundedDatetime | None, Query(description=_TIME)] = None,
    created_before: Annotated[BoundedDatetime | None, Query(description=_TIME)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    application: Annotated[
        str | None,
        Query(max_length=256, description="Owning DBOS application name. Default: every application's workflows."),
    ] = None,
) -> WorkflowList:
    """Filter by status, type, creation time and owning application; page with limit/offset.

    The page also stops at the byte budget (``COMM_PAGE_MAX_BYTES``): ``truncated`` and ``next_offset`` say so.
    """
    page = await core.workflows.list(
        status=status,
        type_name=type,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
        application=application,
    )
    kept, truncated = cut(page.workflows, core.settings.page_max_bytes)
    return page.model_copy(update={"workflows": kept, "truncated": truncated, "next_offset": page.offset + len(kept)})


@router.get("/workflows/{workflow_id}", summary="Get a workflow's status", responses=error_responses(404))
async def get_workflow(workflow_id: WorkflowId, core: CoreDep) -> WorkflowInfo:
    """Status, input, and output or error once finished."""
    return await core.workflows.status(workflow_id)


@router.get(
    "/workflows/{workflow_id}/result",
    summary="Wait for a workflow's result (bounded long-poll)",
    responses={
        202: {"model": WorkflowResult, "description": "Still running when the wait ended."},
        **error_responses(404),
    },
)
async def get_result(workflow_id: WorkflowId, core: CoreDep, timeout: Timeout, response: Response) -> WorkflowResult:
    """200 with the outcome once finished; 202 with ``done: false`` if still running after ``timeout``."""
    result = await core.workflows.result(workflow_id, timeout)
    if not result.done:
        response.status_code = 202
    return result


@router.post("/workflows/{workflow_id}/cancel", summary="Cancel a workflow", responses=error_responses(404))
async def cancel_workflow(workflow_id: WorkflowId, core: CoreDep) -> WorkflowInfo:
    """Cancel; a finished workflow is left as it is."""
    return await core.workflows.cancel(workflow_id)


@router.post("/workflows/{workflow_id}/resume", summary="Resume a workflow", responses=error_responses(404))
async def resume_workflow(workflow_id: WorkflowId, core: CoreDep) -> WorkflowInfo:
    """Resume a cancelled or failed workflow from its last completed step."""
    return await core.workflows.resume(workflow_id)


@router.post(
    "/workflows/{workflow_id}/fork",
    status_code=201,
    summary="Fork a workflow from a step",
    responses=error_responses(404),
)
async def fork_workflow(workflow_id: WorkflowId, body: ForkRequest, core: CoreDep) -> ForkResult:
    """Start a new workflow replaying steps before ``start_step`` and re-executing from it."""
    return await core.workflows.fork(workflow_id, body.start_step)


@router.get(
    "/workflows/{workflow_id}/steps", summary="List a workflow's recorded steps", responses=error_responses(404)
)
async def list_steps(
    workflow_id: WorkflowId,
    core: CoreDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Index of the first step to return.")] = 0,
) -> StepList:
    """Steps with outputs, errors and timing, from ``offset``; the page stops at the byte budget
    (``COMM_PAGE_MAX_BYTES``, at least one step): ``truncated`` and ``next_offset`` say where to continue."""
    found = await core.workflows.steps(workflow_id)
    kept, truncated = cut(found.steps[offset:], core.settings.page_max_bytes)
    return found.model_copy(update={"steps": kept, "truncated": truncated, "next_offset": offset + len(kept)})
