"""``scheduled_dispatch``: the one DBOS workflow every schedule fires, starting a registered type as its child.

Why an adapter: DBOS calls a scheduled workflow with two arguments, ``(scheduled_at: datetime, context)``, while
every registered type takes one JSON object. So each schedule points DBOS at this workflow and stores in its
``context`` which type to run with which input (:class:`ScheduleContext`). A run then:

1. is enqueued by DBOS (cron fire, trigger or backfill) with id ``sched-<name>-<ISO time>``, carrying the
   schedule's name in ``workflow_status.schedule_name`` (that is how a schedule lists its runs);
2. validates the stored input against the type's *current* model (a type changed since the schedule was created
   fails the run with a clear error rather than feeding it stale input);
3. starts the type as a child workflow with id :func:`run_workflow_id` (the dispatch id made safe for the HTTP
   API: DBOS's ids contain ``+`` from the UTC offset) and waits for it, so the run's status is the child's outcome.

The child is started in-process: the dispatch already runs wherever its queue put it (a worker when the schedule
names the work queue). On recovery DBOS finds the child by its deterministic id and does not start it twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync
from pydantic import BaseModel, Field

from communication.core.registry import registry

SCHEDULED_DISPATCH = "scheduled_dispatch"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


class ScheduleContext(BaseModel):
    """What a schedule stores in DBOS's ``context``: the run's type and input, plus our own metadata."""

    type: str
    input: dict[str, Any] = Field(default_factory=dict)
    interval_minutes: int | None = Field(None, description="Set when the schedule was created as an interval.")
    note: str | None = Field(None, description="Why the schedule was paused.")
    paused_at: datetime | None = None


def run_workflow_id(dispatch_id: str) -> str:
    """The id of the workflow a dispatch starts: deterministic, and valid for ``/v1/workflows/{id}``."""
    return _UNSAFE.sub("_", dispatch_id) + ".run"


@DBOS.workflow(name=SCHEDULED_DISPATCH)
async def scheduled_dispatch(scheduled_at: datetime, context: Any) -> dict[str, Any]:
    """Start the schedule's workflow type with its input and return its outcome (see the module docstring).

    Raises:
        UnknownWorkflowType, ValidationFailed: the schedule names a type or input that is no longer valid.
        Whatever the child raises: the run fails with it.
    """
    ctx = ScheduleContext.model_validate(context)
    wtype = registry.get(ctx.type)
    params = wtype.validate_input(ctx.input)
    dispatch_id = DBOS.workflow_id
    assert dispatch_id is not None  # always set inside a workflow
    child_id = run_workflow_id(dispatch_id)
    args, kwargs = wtype.call_args(params)
    with SetWorkflowID(child_id):
        handle: WorkflowHandleAsync[Any] = await DBOS.start_workflow_async(wtype.function, *args, **kwargs)
    output = await handle.get_result()
    return {"workflow_id": child_id, "type": wtype.name, "scheduled_at": scheduled_at.isoformat(), "output": output}
