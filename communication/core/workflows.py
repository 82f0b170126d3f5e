"""Starting and controlling workflows: start (idempotent per id), status, list, result, cancel, resume, fork."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS, EnqueueOptions, SetWorkflowID, WorkflowHandleAsync, WorkflowStatus
from dbos import error as dbos_errors

from communication.adapter import lifecycle, store, workflow_rows
from communication.adapter.workflow_rows import WorkflowRow
from communication.core.ops.metrics import WORKFLOWS_FINISHED, WORKFLOWS_STARTED
from communication.core.registry import WorkflowRegistry, WorkflowType
from communication.core.settings import Settings
from communication.protocol.errors import (
    QueueNotFound,
    UnknownWorkflowType,
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


def to_info(status: WorkflowStatus) -> WorkflowInfo:
    """Translate a DBOS ``WorkflowStatus`` listed without its values (``load_input/load_output=False``).

    Recorded values are never taken from DBOS's status: it unpickles them without restriction
    (:func:`row_info` decodes them safely).
    """
    return WorkflowInfo(
        workflow_id=status.workflow_id,
        type=status.name,
        status=status.status,
        created_at=_ts(status.created_at),
        updated_at=_ts(status.updated_at),
        executor_id=status.executor_id,
        queue_name=status.queue_name,
        forked_from=status.forked_from,
    )


def row_info(row: WorkflowRow, *, detail: bool) -> WorkflowInfo:
    """Our model of a status row read by the adapter; ``detail`` adds input, output and error.

    A value this server cannot decode (another application's pickled class) shows as ``null`` here; the result
    read (``/result``) answers ``value_not_decodable`` for it.
    """
    info = WorkflowInfo(
        workflow_id=row.workflow_id,
        type=row.name or "",
        status=row.status,
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        executor_id=row.executor_id,
        queue_name=row.queue_name,
        forked_from=row.forked_from,
    )
    if detail:
        with contextlib.suppress(ValueNotDecodable):
            info.input = _input_view(row.input())
        with contextlib.suppress(ValueNotDecodable):
            info.output = row.output()
        with contextlib.suppress(ValueNotDecodable):
            info.error = row.error()
    return info


async def read_row(workflow_id: str) -> WorkflowRow | None:
    """The workflow's status row, or ``None`` (never decodes a value on the way)."""
    return await asyncio.to_thread(workflow_rows.read_workflow, workflow_id)


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
        work queue). A name this server does not have, given with ``queue`` and allow-listed for it
        (``gateway_workflows``), is enqueued by name on that DBOS queue for another application's workers
        (``raw_input`` → keyword arguments, ``args`` → positional), with ``gateway_start_timeout_sec`` as its
        DBOS workflow timeout.

        Returns:
            ``(info, created)``; ``created`` is false when the id already existed.

        Raises:
            UnknownWorkflowType (no such type and no queue; a name not in ``gateway_workflows`` for that queue; one
            of this process's own DBOS functions), ValidationFailed (also: a registered type on another application's
            queue), QueueNotFound, WorkflowIdConflict (the id belongs to another type).
        """
        wtype = self._registry.find(type_name)
        if wtype is None and queue is None:
            self._registry.get(type_name)  # raises UnknownWorkflowType with the known names
        if (
            wtype is None
            and queue is not None
            and (not self._settings.gateway_allows(queue, type_name) or lifecycle.is_local_dbos_function(type_name))
        ):
            # Only declared workflows of other applications start by name: never this server's internal workflows
            # or steps, never a name nobody runs (it would wait on the queue for ever).
            raise UnknownWorkflowType(
                f"workflow type {type_name!r} is not registered here and not allowed to start by name on queue "
                f"{queue!r} (COMM_GATEWAY_WORKFLOWS lists 'queue:name' entries)",
                type=type_name,
                queue=queue,
                known=[t.name for t in self._registry.all()],
            )
        if wtype is not None:
            if args:
                raise ValidationFailed(
                    f"workflow type {type_name!r} takes its input as an object ('input'), not 'args'", field="args"
                )
            params = wtype.validate_input(raw_input)
        wid = check_workflow_id(workflow_id) if workflow_id else str(uuid.uuid4())
        async with self._lock_for(wid):
            # A fresh uuid cannot exist: only a caller-chosen id needs the existence (and type) check.
            existing = await read_row(wid) if workflow_id else None
            if existing is not None:
                if existing.name != type_name:
                    raise WorkflowIdConflict(
                        f"workflow id {wid!r} is already used by a workflow of type {existing.name!r}",
                        workflow_id=wid,
                        existing_type=existing.name,
                    )
                # Nothing runs: the answer is the existing workflow as it is now, with its input and, once it has
                # finished, its output or error.
                return row_info(existing, detail=True), False
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
        # The input as a later status read shows it: what was validated and passed, not the raw body.
        if wtype is None:
            info.input = _input_view({"args": args or [], "kwargs": raw_input or {}})
        else:
            call_args, call_kwargs = wtype.call_args(params)
            info.input = _input_view({"args": list(call_args), "kwargs": dict(call_kwargs)})
        return info, True

    async def _start_registered(self, wtype: WorkflowType, params: dict[str, Any], wid: str, queue: str | None) -> None:
        call_args, call_kwargs = wtype.call_args(params)
        target = queue or wtype.queue or self._settings.work_queue
        with SetWorkflowID(wid):
            if target:
                # Workers (or whichever process listens to the queue) run it; this node only records the start.
                if target != self._settings.work_queue:
                    await self._check_own_queue(target)
                await DBOS.enqueue_workflow_async(target, wtype.function, *call_args, **call_kwargs)
            else:
                await DBOS.start_workflow_async(wtype.function, *call_args, **call_kwargs)

    async def _check_own_queue(self, target: str) -> None:
        """Raise unless ``target`` is a queue of this application: a registered type enqueued on another
        application's queue would be dequeued by nobody (that application's workers do not see this application's
        rows, and this application does not listen to that queue).

        Raises:
            QueueNotFound: no such queue. ValidationFailed (``details.reason = "foreign_queue"``).
        """
        found = await DBOS.retrieve_queue_async(target)
        if found is None:
            raise QueueNotFound(f"no DBOS queue named {target!r} is registered", queue=target)
        if found.application_name and found.application_name != self._settings.app_name:
            raise ValidationFailed(
                f"queue {target!r} belongs to application {found.application_name!r}: a workflow type of this "
                "server runs only on this server's queues",
                field="queue",
                reason="foreign_queue",
                queue=target,
                application=found.application_name,
            )

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
        owner = found.application_name
        if not owner or owner == self._settings.app_name or queue_name.startswith("_dbos"):
            # This server's own (or DBOS's internal) queue: its functions start only as registered types.
            raise UnknownWorkflowType(
                f"workflow {name!r} cannot be started by name on queue {queue_name!r}: it is not another "
                "application's queue",
                type=name,
                queue=queue_name,
            )
        options: EnqueueOptions = {
            "queue_name": queue_name,
            "workflow_name": name,
            "workflow_id": wid,
            # Bounded: once dequeued, DBOS cancels it after this long, so no start holds a queue slot for ever.
            "workflow_timeout": self._settings.gateway_start_timeout_sec,
        }
        options["application_name"] = owner
        await DBOS.enqueue_workflow_with_options_async(options, *args, **kwargs)

    async def status(self, workflow_id: str, *, detail: bool = True) -> WorkflowInfo:
        """The workflow's status. Raises WorkflowNotFound."""
        row = await read_row(workflow_id)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row_info(row, detail=detail)

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
        return WorkflowList(workflows=[to_info(r) for r in rows], limit=limit, offset=offset)

    async def result(self, workflow_id: str, timeout: float) -> WorkflowResult:
        """Wait up to ``timeout`` seconds for the workflow to finish and return its outcome.

        The wait polls the status row rather than DBOS's ``get_result`` (which unpickles the output without
        restriction); the output and error are decoded by the adapter's safe decoder.

        Raises:
            WorkflowNotFound; ValueNotDecodable: the output or error cannot be decoded here.
        """
        row = await read_row(workflow_id)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        if not store.is_terminal(row.status) and timeout > 0:
            poll = 0.05 if not self._settings.is_sqlite() else self._settings.sqlite_polling_interval_sec
            deadline = time.monotonic() + timeout
            while not store.is_terminal(row.status) and time.monotonic() < deadline:
                # Bounded poll, as DBOS's own get_result does (it polls the same row).
                await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
                row = await read_row(workflow_id) or row
        done = store.is_terminal(row.status)
        return WorkflowResult(
            workflow_id=workflow_id,
            status=row.status,
            done=done,
            output=row.output() if done else None,
            error=row.error() if done else None,
        )

    async def cancel(self, workflow_id: str) -> WorkflowInfo:
        """Cancel the workflow (no-op if already finished)."""
        before = await self.status(workflow_id, detail=False)
        await DBOS.cancel_workflow_async(workflow_id)
        after = await self.status(workflow_id, detail=False)
        if not store.is_terminal(before.status) and after.status == "CANCELLED":
            # Counted here: the running execution may stop without observing its cancellation.
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
        rows = await asyncio.to_thread(workflow_rows.read_steps, workflow_id)
        steps = []
        for r in rows:
            started, completed = r.started_at_epoch_ms, r.completed_at_epoch_ms
            steps.append(
                StepInfo(
                    step_id=r.function_id,
                    name=r.function_name,
                    output=r.output,
                    error=r.error,
                    child_workflow_id=r.child_workflow_id,
                    started_at=_ts(started),
                    completed_at=_ts(completed),
                    duration_ms=(completed - started) if started is not None and completed is not None else None,
                )
            )
        return StepList(workflow_id=workflow_id, steps=steps)
