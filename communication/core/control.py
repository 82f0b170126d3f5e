"""Starting and controlling workflows: start (idempotent per id), status, list, result, cancel, resume, fork."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync, WorkflowStatus
from dbos import error as dbos_errors

from communication.adapter import store
from communication.core.metrics import WORKFLOWS_FINISHED, WORKFLOWS_STARTED
from communication.core.registry import WorkflowRegistry
from communication.core.settings import Settings
from communication.protocol.errors import ValidationFailed, WorkflowIdConflict, WorkflowNotFound
from communication.protocol.models import (
    ForkResult,
    StepInfo,
    StepList,
    WorkflowInfo,
    WorkflowList,
    WorkflowResult,
)
from communication.protocol.validation import check_workflow_id

LIST_STATUSES = frozenset(
    {"PENDING", "ENQUEUED", "DELAYED", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}
)


def _ts(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def to_info(status: WorkflowStatus, *, detail: bool) -> WorkflowInfo:
    """Translate DBOS's ``WorkflowStatus`` into our model; ``detail`` adds input, output and error."""
    info = WorkflowInfo(
        workflow_id=status.workflow_id,
        type=status.name,
        status=status.status,
        created_at=_ts(status.created_at),
        updated_at=_ts(status.updated_at),
        executor_id=status.executor_id,
        queue_name=status.queue_name,
        forked_from=status.forked_from,
    )
    if detail:
        args = status.input["args"] if status.input else ()
        info.input = args[0] if len(args) == 1 else list(args) or None
        info.output = status.output
        info.error = _error_text(status.error)
    return info


class WorkflowControl:
    """Workflow lifecycle operations over DBOS."""

    def __init__(self, settings: Settings, registry: WorkflowRegistry) -> None:
        self._settings = settings
        self._registry = registry
        # Striped locks make "check, then start" atomic per id inside this process without an unbounded map.
        self._start_locks = [asyncio.Lock() for _ in range(64)]

    def _lock_for(self, workflow_id: str) -> asyncio.Lock:
        digest = hashlib.blake2s(workflow_id.encode(), digest_size=2).digest()
        return self._start_locks[int.from_bytes(digest, "big") % len(self._start_locks)]

    async def start(self, type_name: str, raw_input: Any, workflow_id: str | None = None) -> tuple[WorkflowInfo, bool]:
        """Start a workflow of a registered type; starting an existing id returns it and runs nothing.

        Returns:
            ``(info, created)``; ``created`` is false when the id already existed.

        Raises:
            UnknownWorkflowType, ValidationFailed, WorkflowIdConflict (the id belongs to another type).
        """
        wtype = self._registry.get(type_name)
        params = wtype.validate_input(raw_input)
        wid = check_workflow_id(workflow_id) if workflow_id else str(uuid.uuid4())
        async with self._lock_for(wid):
            # A fresh uuid cannot exist: only a caller-chosen id needs the existence (and type) check.
            existing = await DBOS.get_workflow_status_async(wid) if workflow_id else None
            if existing is not None:
                if existing.name != wtype.name:
                    raise WorkflowIdConflict(
                        f"workflow id {wid!r} is already used by a workflow of type {existing.name!r}",
                        workflow_id=wid,
                        existing_type=existing.name,
                    )
                return to_info(existing, detail=False), False
            try:
                with SetWorkflowID(wid):
                    if self._settings.work_queue:
                        # Workers execute the work queue; this node only records the start (issue 6).
                        queue = self._settings.work_queue
                        await DBOS.enqueue_workflow_async(queue, wtype.function, params)  # type: ignore[arg-type]
                    else:
                        await DBOS.start_workflow_async(wtype.function, params)  # type: ignore[arg-type]
            except dbos_errors.DBOSConflictingWorkflowError as exc:
                raise WorkflowIdConflict(str(exc), workflow_id=wid) from exc
        WORKFLOWS_STARTED.labels(type=wtype.name).inc()
        # The status as started, without reading it back (one round trip fewer per start): DBOS has just
        # recorded exactly this. A later GET shows how far it got.
        queue_name = self._settings.work_queue or None
        now = datetime.now(tz=UTC)
        info = WorkflowInfo(
            workflow_id=wid,
            type=wtype.name,
            status="ENQUEUED" if queue_name else "PENDING",
            created_at=now,
            updated_at=now,
            executor_id=None if queue_name else DBOS.executor_id,
            queue_name=queue_name,
        )
        return info, True

    async def status(self, workflow_id: str, *, detail: bool = True) -> WorkflowInfo:
        """The workflow's status. Raises WorkflowNotFound."""
        st = await DBOS.get_workflow_status_async(workflow_id)
        if st is None:
            raise WorkflowNotFound(workflow_id)
        return to_info(st, detail=detail)

    async def list(
        self,
        *,
        status: str | None = None,
        type_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> WorkflowList:
        """Workflows, newest first, filtered by status, type and creation time."""
        if status is not None and status not in LIST_STATUSES:
            raise ValidationFailed("unknown status filter", field="status", allowed=sorted(LIST_STATUSES))
        rows = await DBOS.list_workflows_async(
            status=status,
            name=type_name,
            start_time=created_after.isoformat() if created_after else None,
            end_time=created_before.isoformat() if created_before else None,
            limit=limit,
            offset=offset,
            sort_desc=True,
            load_input=False,
            load_output=False,
        )
        return WorkflowList(workflows=[to_info(r, detail=False) for r in rows], limit=limit, offset=offset)

    async def result(self, workflow_id: str, timeout: float) -> WorkflowResult:
        """Wait up to ``timeout`` seconds for the workflow to finish and return its outcome."""
        st = await DBOS.get_workflow_status_async(workflow_id)
        if st is None:
            raise WorkflowNotFound(workflow_id)
        if not store.is_terminal(st.status) and timeout > 0:
            handle: WorkflowHandleAsync[Any] = await DBOS.retrieve_workflow_async(workflow_id, existing_workflow=False)
            poll = 0.05 if not self._settings.is_sqlite() else self._settings.sqlite_polling_interval_sec
            try:
                await asyncio.wait_for(handle.get_result(polling_interval_sec=poll), timeout)
            except TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - the workflow's own failure; reported from its status below
                pass
            st = await DBOS.get_workflow_status_async(workflow_id)
            assert st is not None
        done = store.is_terminal(st.status)
        return WorkflowResult(
            workflow_id=workflow_id,
            status=st.status,
            done=done,
            output=st.output if done else None,
            error=_error_text(st.error) if done else None,
        )

    async def cancel(self, workflow_id: str) -> WorkflowInfo:
        """Cancel the workflow (no-op if already finished)."""
        before = await self.status(workflow_id, detail=False)
        await DBOS.cancel_workflow_async(workflow_id)
        after = await self.status(workflow_id, detail=False)
        if not store.is_terminal(before.status) and after.status == "CANCELLED":
            # Counted here: the running execution may stop without observing its cancellation (issue 6 metrics).
            WORKFLOWS_FINISHED.labels(type=after.type, status="CANCELLED").inc()
        return after

    async def resume(self, workflow_id: str) -> WorkflowInfo:
        """Resume a cancelled or failed workflow from its last completed step."""
        await self.status(workflow_id, detail=False)
        await DBOS.resume_workflow_async(workflow_id)
        return await self.status(workflow_id, detail=False)

    async def fork(self, workflow_id: str, start_step: int) -> ForkResult:
        """Start a new workflow that replays ``workflow_id``'s recorded steps before ``start_step``."""
        await self.status(workflow_id, detail=False)
        try:
            handle: WorkflowHandleAsync[Any] = await DBOS.fork_workflow_async(workflow_id, start_step)
        except dbos_errors.DBOSNonExistentWorkflowError as exc:
            raise WorkflowNotFound(workflow_id) from exc
        return ForkResult(workflow_id=handle.get_workflow_id(), forked_from=workflow_id, start_step=start_step)

    async def steps(self, workflow_id: str) -> StepList:
        """The workflow's recorded steps, with timing."""
        await self.status(workflow_id, detail=False)
        rows = await DBOS.list_workflow_steps_async(workflow_id)
        steps = []
        for r in rows:
            started, completed = r.get("started_at_epoch_ms"), r.get("completed_at_epoch_ms")
            steps.append(
                StepInfo(
                    step_id=r["function_id"],
                    name=r["function_name"],
                    output=r.get("output"),
                    error=_error_text(r.get("error")),
                    child_workflow_id=r.get("child_workflow_id"),
                    started_at=_ts(started),
                    completed_at=_ts(completed),
                    duration_ms=(completed - started) if started is not None and completed is not None else None,
                )
            )
        return StepList(workflow_id=workflow_id, steps=steps)
