"""Starting and controlling workflows: start (idempotent per id), status, list, result, cancel, resume, fork."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS, EnqueueOptions, SetWorkflowID, WorkflowHandleAsync, WorkflowStatus
from dbos import error as dbos_errors

from communication.adapter import store
from communication.core.ops.metrics import WORKFLOWS_FINISHED, WORKFLOWS_STARTED
from communication.core.registry import WorkflowRegistry, WorkflowType
from communication.core.settings import Settings
from communication.protocol.errors import (
    QueueNotFound,
    ValidationFailed,
    ValueNotDecodable,
    WorkflowIdConflict,
    WorkflowNotFound,
)
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


def is_terminal(status: str) -> bool:
    """Whether a workflow status is final: the workflow will never run again unless resumed."""
    return store.is_terminal(status)


def _ts(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def _input_view(raw: Any) -> Any:
    """How a workflow's recorded arguments are shown: the one object of a one-dict type, the keyword arguments
    of a typed type, a list of positional arguments, or ``{"args", "kwargs"}`` when both are present."""
    if not raw:
        return None
    args = list(raw.get("args") or ())
    kwargs = dict(raw.get("kwargs") or {})
    if kwargs and args:
        return {"args": args, "kwargs": kwargs}
    if kwargs:
        return kwargs
    return args[0] if len(args) == 1 else args or None


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
        info.input = _input_view(status.input)
        info.output = status.output
        info.error = _error_text(status.error)
    return info


#: Longest a resume waits for the resumed run to leave DBOS's queue.
RESUME_WAIT_SECONDS = 10.0


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

    async def start(
        self,
        type_name: str,
        raw_input: Any,
        workflow_id: str | None = None,
        *,
        args: list[Any] | None = None,
        queue: str | None = None,
    ) -> tuple[WorkflowInfo, bool]:
        """Start a workflow; starting an existing id returns it and runs nothing.

        A registered type is validated and started here (or enqueued: on ``queue``, the type's own queue, or the
        work queue). A name this server does not have, given with ``queue``, is enqueued by name on that DBOS
        queue for another application's workers (``raw_input`` → keyword arguments, ``args`` → positional).

        Returns:
            ``(info, created)``; ``created`` is false when the id already existed.

        Raises:
            UnknownWorkflowType (no such type and no queue), ValidationFailed, QueueNotFound,
            WorkflowIdConflict (the id belongs to another type).
        """
        wtype = self._registry.find(type_name)
        if wtype is None and queue is None:
            self._registry.get(type_name)  # raises UnknownWorkflowType with the known names
        if wtype is not None:
            if args:
                raise ValidationFailed(
                    f"workflow type {type_name!r} takes its input as an object ('input'), not 'args'", field="args"
                )
            params = wtype.validate_input(raw_input)
        wid = check_workflow_id(workflow_id) if workflow_id else str(uuid.uuid4())
        async with self._lock_for(wid):
            # A fresh uuid cannot exist: only a caller-chosen id needs the existence (and type) check.
            existing = await DBOS.get_workflow_status_async(wid) if workflow_id else None
            if existing is not None:
                if existing.name != type_name:
                    raise WorkflowIdConflict(
                        f"workflow id {wid!r} is already used by a workflow of type {existing.name!r}",
                        workflow_id=wid,
                        existing_type=existing.name,
                    )
                return to_info(existing, detail=False), False
            try:
                if wtype is None:
                    assert queue is not None
                    await self._enqueue_by_name(type_name, queue, wid, args or [], raw_input or {})
                else:
                    await self._start_registered(wtype, params, wid, queue)
            except dbos_errors.DBOSConflictingWorkflowError as exc:
                raise WorkflowIdConflict(str(exc), workflow_id=wid) from exc
        WORKFLOWS_STARTED.labels(type=type_name).inc()
        # The status as started, without reading it back (one round trip fewer per start): DBOS has just
        # recorded exactly this. A later GET shows how far it got.
        queue_name = queue if wtype is None else (queue or wtype.queue or self._settings.work_queue or None)
        now = datetime.now(tz=UTC)
        info = WorkflowInfo(
            workflow_id=wid,
            type=type_name,
            status="ENQUEUED" if queue_name else "PENDING",
            created_at=now,
            updated_at=now,
            executor_id=None if queue_name else DBOS.executor_id,
            queue_name=queue_name,
        )
        return info, True

    async def _start_registered(self, wtype: WorkflowType, params: dict[str, Any], wid: str, queue: str | None) -> None:
        call_args, call_kwargs = wtype.call_args(params)
        target = queue or wtype.queue or self._settings.work_queue
        with SetWorkflowID(wid):
            if target:
                # Workers (or whichever process listens to the queue) run it; this node only records the start.
                if target != self._settings.work_queue and await DBOS.retrieve_queue_async(target) is None:
                    raise QueueNotFound(f"no DBOS queue named {target!r} is registered", queue=target)
                await DBOS.enqueue_workflow_async(target, wtype.function, *call_args, **call_kwargs)
            else:
                await DBOS.start_workflow_async(wtype.function, *call_args, **call_kwargs)

    async def _enqueue_by_name(
        self, name: str, queue_name: str, wid: str, args: list[Any], kwargs: dict[str, Any]
    ) -> None:
        """Enqueue a workflow this process does not have, by its DBOS name, for the queue owner's workers.

        The row is stamped with the queue's owning application (so that application's workers see it) and no
        application version (its workers on the latest version dequeue it). No serialization is forced: DBOS runs
        a workflow enqueued with portable arguments in portable mode, which would make a workflow that returns or
        publishes its own classes fail; with DBOS's default format the workflow's own declaration applies
        (``serialization_type=PORTABLE`` on its ``@DBOS.workflow`` is what makes its values readable everywhere).
        """
        found = await DBOS.retrieve_queue_async(queue_name)
        if found is None:
            raise QueueNotFound(
                f"no DBOS queue named {queue_name!r} is registered in this system database "
                "(the application that runs the workflow registers it)",
                queue=queue_name,
            )
        options: EnqueueOptions = {
            "queue_name": queue_name,
            "workflow_name": name,
            "workflow_id": wid,
        }
        if found.application_name:
            options["application_name"] = found.application_name
        await DBOS.enqueue_workflow_with_options_async(options, *args, **kwargs)

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
        application: str | None = None,
    ) -> WorkflowList:
        """Workflows, newest first, filtered by status, type, creation time and owning DBOS application.

        ``application=None`` lists every application's workflows: a gateway serves the workflows of applications
        other than its own (DBOS would otherwise scope the list to this process's application name).
        """
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
            application_name=application if application is not None else [],  # [] matches every application
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
        if st.status == "SUCCESS" and isinstance(st.output, str):
            await self._check_output_decodes(workflow_id)
        return WorkflowResult(
            workflow_id=workflow_id,
            status=st.status,
            done=done,
            output=st.output if done else None,
            error=_error_text(st.error) if done else None,
        )

    async def _check_output_decodes(self, workflow_id: str) -> None:
        """Raise :class:`ValueNotDecodable` if the workflow's output cannot be decoded here.

        Why: DBOS's status read swaps an output it cannot decode (another application's pickled class) for its
        serialized text, which a client would take for the value. Reading the result through a handle decodes it
        strictly; only string outputs can be such a stand-in, so only they pay for this second read.
        """
        handle: WorkflowHandleAsync[Any] = await DBOS.retrieve_workflow_async(workflow_id, existing_workflow=False)
        try:
            await handle.get_result()
        except Exception as exc:
            raise ValueNotDecodable(
                f"the output of workflow {workflow_id!r} cannot be decoded by this server ({type(exc).__name__}: "
                f"{exc}); make the writing application use portable JSON serialization "
                "(serialization_type=WorkflowSerializationFormat.PORTABLE on its workflows)",
                workflow_id=workflow_id,
                key="output",
                kind="output",
                reason=type(exc).__name__,
            ) from exc

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
        """Resume a cancelled or failed workflow from its last completed step.

        Answers once the resumed run has left DBOS's queue (or after :data:`RESUME_WAIT_SECONDS`): a message sent
        right after the answer then reaches the resumed run, never only the cancelled execution that may still be
        parked in ``recv`` in this process.
        """
        await self.status(workflow_id, detail=False)
        await DBOS.resume_workflow_async(workflow_id)
        deadline = time.monotonic() + RESUME_WAIT_SECONDS
        while True:
            info = await self.status(workflow_id, detail=False)
            if info.status != "ENQUEUED" or time.monotonic() >= deadline:
                return info
            # Bounded poll: DBOS's queue thread dequeues on its own interval and signals nothing we could await.
            await asyncio.sleep(0.05)

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
