"""/v1/schedules: create, list, describe, pause, resume, trigger, update, delete and backfill schedules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from communication.http.deps import CoreDep, Timeout
from communication.protocol.page_budget import cut
from communication.protocol.requests import ErrorEnvelope
from communication.protocol.schedule_models import (
    DISPATCH_ID_PATTERN,
    SCHEDULE_NAME_PATTERN,
    BackfillRequest,
    PauseRequest,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleInfo,
    ScheduleList,
    ScheduleRunList,
    ScheduleRunResult,
    ScheduleRuns,
    ScheduleUpdate,
)

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])

ScheduleName = Annotated[
    str, Path(pattern=SCHEDULE_NAME_PATTERN, description="Schedule name.", examples=["pipeline-every-minute"])
]


def _errors(*entries: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the given (status, codes) pairs; 422 validation_error is always possible."""
    table = {status: {"model": ErrorEnvelope, "description": codes} for status, codes in entries}
    table.setdefault(422, {"model": ErrorEnvelope, "description": "validation_error"})
    return table  # type: ignore[return-value]


DispatchId = Annotated[
    str,
    Path(
        pattern=DISPATCH_ID_PATTERN,
        description="Run id (DBOS's dispatch id, from trigger, backfill or the run list).",
        examples=["sched-nightly-2025-01-01T03:00:00+00:00"],
    ),
]

_NOT_FOUND = (404, "schedule_not_found")


@router.post(
    "",
    status_code=201,
    summary="Create a schedule (cron or interval) for a workflow type",
    responses=_errors((409, "schedule_exists"), (422, "validation_error, unknown_workflow_type, invalid_cron")),
)
async def create_schedule(body: ScheduleCreate, core: CoreDep, response: Response) -> ScheduleInfo:
    """Runs ``type`` with ``input`` on ``cron`` or every ``interval_minutes``; ``paused`` creates it paused."""
    info = await core.schedules.create(body)
    response.headers["Location"] = f"/v1/schedules/{info.name}"
    return info


@router.get("", summary="List schedules")
async def list_schedules(
    core: CoreDep,
    status: Annotated[str | None, Query(description="ACTIVE or PAUSED.")] = None,
    type: Annotated[str | None, Query(max_length=128, description="Workflow type.")] = None,
    after_name: Annotated[
        str | None, Query(max_length=256, description="Continue after this name (a truncated page's next_name).")
    ] = None,
) -> ScheduleList:
    """Every schedule of this application, by name; the page stops at the byte budget (``COMM_PAGE_MAX_BYTES``, at
    least one schedule): ``truncated`` and ``next_name`` say where to continue."""
    found = await core.schedules.list(status=status, type_name=type)
    rest = [s for s in found.schedules if after_name is None or s.name > after_name]
    kept, truncated = cut(rest, core.settings.page_max_bytes)
    return ScheduleList(schedules=kept, truncated=truncated, next_name=kept[-1].name if truncated else None)


@router.get("/{name}", summary="Describe a schedule: next fire times and recent runs", responses=_errors(_NOT_FOUND))
async def describe_schedule(
    name: ScheduleName,
    core: CoreDep,
    runs: Annotated[int, Query(ge=0, le=100, description="Recent runs to list, newest first.")] = 10,
    upcoming: Annotated[int, Query(ge=0, le=100, description="Upcoming fire times to compute.")] = 5,
) -> ScheduleDetail:
    """The schedule with ``next_fire_times`` (empty while paused) and ``recent_runs``."""
    return await core.schedules.describe(name, runs=runs, upcoming=upcoming)


@router.patch(
    "/{name}",
    summary="Update a schedule's cron or interval, input, time zone or queue",
    responses=_errors(_NOT_FOUND, (422, "validation_error, invalid_cron")),
)
async def update_schedule(name: ScheduleName, body: ScheduleUpdate, core: CoreDep) -> ScheduleInfo:
    """Omitted fields keep their value; a paused schedule stays paused."""
    return await core.schedules.update(name, body)


@router.delete("/{name}", status_code=204, summary="Delete a schedule", responses=_errors(_NOT_FOUND))
async def delete_schedule(name: ScheduleName, core: CoreDep) -> Response:
    """Runs already enqueued or running are not affected."""
    await core.schedules.delete(name)
    return Response(status_code=204)


@router.post("/{name}/pause", summary="Pause a schedule, with a note", responses=_errors(_NOT_FOUND))
async def pause_schedule(name: ScheduleName, core: CoreDep, body: PauseRequest | None = None) -> ScheduleInfo:
    """Stops firing; trigger and backfill still work. Pausing a paused schedule replaces its note."""
    return await core.schedules.pause(name, body.note if body else None)


@router.post("/{name}/resume", summary="Resume a paused schedule", responses=_errors(_NOT_FOUND))
async def resume_schedule(name: ScheduleName, core: CoreDep) -> ScheduleInfo:
    """Fires again from the next cron time; missed fires are not run (backfill them)."""
    return await core.schedules.resume(name)


@router.post("/{name}/trigger", status_code=202, summary="Run a schedule now", responses=_errors(_NOT_FOUND))
async def trigger_schedule(name: ScheduleName, core: CoreDep) -> ScheduleRuns:
    """Enqueues one run at the current time (also while paused); wait for it with ``GET .../runs/{dispatch_id}``."""
    return await core.schedules.trigger(name)


@router.post(
    "/{name}/backfill",
    status_code=202,
    summary="Run every fire of a schedule in a time range",
    responses=_errors(_NOT_FOUND),
)
async def backfill_schedule(name: ScheduleName, body: BackfillRequest, core: CoreDep) -> ScheduleRuns:
    """Enqueues the fires in (start, end); fires that already ran are listed but not run again."""
    return await core.schedules.backfill(name, body)


@router.get("/{name}/runs", summary="List a schedule's runs, newest first", responses=_errors(_NOT_FOUND))
async def list_runs(
    name: ScheduleName,
    core: CoreDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most runs to list.")] = 20,
) -> ScheduleRunList:
    """Runs enqueued by cron fires, triggers and backfills, with their status."""
    return await core.schedules.runs(name, limit)


@router.get(
    "/{name}/runs/{dispatch_id}",
    summary="Wait for a run to finish (bounded long-poll)",
    responses={
        202: {"model": ScheduleRunResult, "description": "Still queued or running when the wait ended."},
        **_errors((404, "schedule_not_found, workflow_not_found (no such run)")),
    },
)
async def get_run(
    name: ScheduleName, dispatch_id: DispatchId, core: CoreDep, timeout: Timeout, response: Response
) -> ScheduleRunResult:
    """200 with the outcome once finished; 202 with ``done: false`` if still queued or running after ``timeout``.

    Use this rather than the run's ``workflow_id`` to wait: that workflow exists only once the run has started.
    """
    run = await core.schedules.run_result(name, dispatch_id, timeout)
    if not run.done:
        response.status_code = 202
    return run
