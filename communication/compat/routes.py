"""The seed's endpoints, paths and response shapes unchanged. They call the same core as /v1; no logic here.

Decisions (documented in QUICK_REFERENCE.md): seed starts answer 200 whether or not the id existed (the seed
did); workflows started here pause ``demo_step_delay_seconds`` between steps so progress is observable; the
event key ``all`` is reserved by the seed's ``/all`` route (read such a key through /v1).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response

from communication.core.library_workflows.session_workflow import check_not_session_namespace
from communication.http.deps import CoreDep, EventKey, SettingsDep, Timeout, WorkflowId
from communication.http.live import until_disconnected
from communication.http.schemas import error_responses
from communication.protocol.names import NOTIFICATION_TOPIC, PROGRESS_STREAM
from communication.protocol.page_budget import json_size
from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN

router = APIRouter(tags=["seed-compatible"])

NSteps = Annotated[int, Path(ge=1, le=1000, description="Number of steps.", examples=[3])]
_STREAM_READ_CAP = 100_000


def _links(workflow_id: str) -> dict[str, str]:
    return {
        "status_url": f"/v1/workflows/{workflow_id}",
        "events_url": f"/workflow-events/{workflow_id}/all",
        "stream_url": f"/workflow-stream/{workflow_id}",
        "result_url": f"/v1/workflows/{workflow_id}/result",
    }


async def _start(core: CoreDep, type_name: str, workflow_id: str, params: dict[str, Any], label: str) -> dict[str, Any]:
    check_not_session_namespace(type_name, workflow_id)
    info, created = await core.workflows.start(type_name, params, workflow_id)
    message = f"{label} workflow started" if created else f"{label} workflow already exists"
    return {"workflow_id": info.workflow_id, "message": message, "created": created, **_links(info.workflow_id)}


@router.post(
    "/start-workflow-events/{workflow_id}/{n_steps}",
    summary="Start an events workflow (seed)",
    responses=error_responses(409),
)
async def start_events(
    workflow_id: WorkflowId, n_steps: NSteps, core: CoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Start the ``events`` workflow with ``n_steps``."""
    params = {"n_steps": n_steps, "step_delay_seconds": settings.demo_step_delay_seconds}
    return await _start(core, "events", workflow_id, params, "Events")


@router.get(
    "/workflow-events/{workflow_id}/all", summary="Get all events (seed; never blocks)", responses=error_responses(404)
)
async def all_events(workflow_id: WorkflowId, core: CoreDep) -> dict[str, Any]:
    """``{"workflow_id", "events": {key: value}}``."""
    out = await core.events.all(workflow_id)
    return {"workflow_id": workflow_id, "events": {k: v.value for k, v in out.events.items()}}


@router.get(
    "/workflow-events/{workflow_id}/{event_key}",
    summary="Get one event, blocking (seed)",
    response_model=dict[str, Any],
    responses=error_responses(404),
)
async def get_event(
    request: Request, workflow_id: WorkflowId, event_key: EventKey, core: CoreDep, timeout: Timeout
) -> dict[str, Any] | Response:
    """Blocks until the event exists or ``timeout``; 404 if not set by then. Cancelled if the client leaves."""
    out = await until_disconnected(request, core.events.get(workflow_id, event_key, timeout))
    if isinstance(out, Response):
        return out
    return {"workflow_id": workflow_id, "event_key": event_key, "value": out.value}


@router.post(
    "/start-workflow-messaging/{workflow_id}/{n_steps}",
    summary="Start an approval workflow (seed)",
    responses=error_responses(409),
)
async def start_messaging(
    workflow_id: WorkflowId,
    n_steps: NSteps,
    core: CoreDep,
    timeout_seconds: Annotated[float, Query(gt=0, le=7 * 24 * 3600, description="Approval wait.")] = 300.0,
) -> dict[str, Any]:
    """Start the ``messaging`` workflow; it waits for a message on topic ``notification``."""
    params = {"n_steps": n_steps, "timeout_seconds": timeout_seconds}
    return await _start(core, "messaging", workflow_id, params, "Messaging")


@router.post(
    "/send-message/{workflow_id}",
    summary="Send a message on topic 'notification' (seed)",
    responses=error_responses(400, 404, 409, 413),
)
async def send_message(
    workflow_id: WorkflowId,
    core: CoreDep,
    payload: Annotated[Any, Body(examples=[{"approved": True, "message": "Approved by admin"}])],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)] = None,
) -> dict[str, Any]:
    """Never blocks; the JSON body is the message."""
    result = await core.messages.send(workflow_id, payload, NOTIFICATION_TOPIC, idempotency_key)
    text = "Message sent" if result.outcome == "delivered" else "Duplicate message ignored"
    return {"workflow_id": workflow_id, "message": text, "payload": payload, "outcome": result.outcome}


@router.post(
    "/start-workflow-streaming/{workflow_id}/{n_steps}",
    summary="Start a streaming workflow (seed)",
    responses=error_responses(409),
)
async def start_streaming(
    workflow_id: WorkflowId, n_steps: NSteps, core: CoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Start the ``streaming`` workflow; it writes 2n+2 values to ``progress_stream``."""
    params = {"n_steps": n_steps, "step_delay_seconds": settings.demo_step_delay_seconds}
    return await _start(core, "streaming", workflow_id, params, "Streaming")


@router.get(
    "/workflow-stream/{workflow_id}",
    summary="Read the stream written so far (seed; never blocks)",
    responses=error_responses(404),
)
async def read_stream(workflow_id: WorkflowId, core: CoreDep) -> dict[str, Any]:
    """``{"workflow_id", "stream_values", "total_messages"}`` for ``progress_stream``."""
    values: list[Any] = []
    offset = 0
    closed = truncated = False
    budget = core.settings.page_max_bytes  # one budget for the whole answer, not one per page read
    while len(values) < _STREAM_READ_CAP:
        page = await core.streams.snapshot(workflow_id, PROGRESS_STREAM, offset, 1000, max_bytes=budget)
        values.extend(item.value for item in page.values)
        offset, closed = page.next_offset, page.closed
        budget -= sum(json_size(item.value) for item in page.values)
        if page.truncated or (budget <= 0 and len(page.values) == 1000):
            truncated = True
            break
        if len(page.values) < 1000:
            break
    return {
        "workflow_id": workflow_id,
        "stream_values": values,
        "total_messages": len(values),
        "closed": closed,
        "truncated": truncated,
    }
