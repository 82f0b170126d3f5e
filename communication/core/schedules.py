"""Schedules: run a registered workflow type on a cron or a fixed interval, built on DBOS schedules.

How it maps onto DBOS (``DBOS.create_schedule``, ``apply_schedules``, ``pause_schedule`` ...):

- every schedule points DBOS at one generic workflow, ``scheduled_dispatch`` (workflows/scheduled_dispatch.py),
  because DBOS calls scheduled workflows with ``(scheduled_at, context)`` while our types take one JSON object;
  the schedule's DBOS ``context`` holds the type, its validated input and our metadata (interval, pause note);
- DBOS's scheduler runs in every process, and fires are deduplicated by the run id it derives from the fire time,
  so many nodes firing one schedule enqueue one run. Fires are jittered by up to 10 % of the period (≤ 10 s);
- runs go to the schedule's queue: by default the work queue when the server has one, so workers run them;
- an interval is stored as the equivalent clock-aligned cron, so DBOS, backfill and "next fire times" share
  one definition; intervals with no such cron (7 minutes) are refused rather than approximated;
- updates use ``apply_schedules`` (an upsert that keeps the schedule's status and last fire time), so updating
  a paused schedule leaves it paused; the pause note lives in the context and is cleared on resume.

Known limits: ``paused=true`` at creation is a create followed by a pause, and a schedule firing every second could
fire once in between; edits are serialised per process only (two nodes editing one schedule at once: last wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from dbos import DBOS, ScheduleInput, WorkflowSchedule
from dbos import error as dbos_errors

from communication.adapter import store, workflow_rows
from communication.adapter.workflow_rows import WorkflowRow
from communication.core.library_workflows.scheduled_dispatch import (
    SCHEDULED_DISPATCH,
    ScheduleContext,
    run_workflow_id,
    scheduled_dispatch,
)
from communication.core.registry import WorkflowRegistry
from communication.core.settings import Settings
from communication.protocol.errors import (
    InvalidCron,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleTooFrequent,
    TooManySchedules,
    ValidationFailed,
    ValueNotDecodable,
    WorkflowNotFound,
)
from communication.protocol.schedule_models import (
    BackfillRequest,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleInfo,
    ScheduleList,
    ScheduleRun,
    ScheduleRunList,
    ScheduleRunResult,
    ScheduleRuns,
    ScheduleUpdate,
)

_CRON_FIELDS = (5, 6)
# DBOS types scheduled workflows as returning None; ours returns the run's outcome, which DBOS just records.
# DBOS types workflow_fn as its private ScheduledWorkflow protocol; our dispatcher has that exact signature.
_DISPATCH = cast(Any, scheduled_dispatch)


def interval_to_cron(minutes: int) -> str:
    """The clock-aligned cron firing every ``minutes`` minutes.

    Raises:
        InvalidCron: when no cron fires at that exact interval (e.g. 7 or 90 minutes).
    """
    if 1 <= minutes <= 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else ("0 * * * *" if minutes == 60 else f"*/{minutes} * * * *")
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"
    raise InvalidCron(
        f"an interval of {minutes} minutes has no clock-aligned cron; use a divisor of 60, whole hours dividing "
        "a day, or a cron expression",
        interval_minutes=minutes,
    )


def check_cron(expression: str) -> str:
    """``expression`` with normalised spacing if it is a cron DBOS accepts and that fires at least once.

    Raises:
        InvalidCron: wrong number of fields, a field out of range, or a date that never occurs (30 February).
    """
    text = " ".join(expression.split())
    if not text.startswith("@") and len(text.split(" ")) not in _CRON_FIELDS:
        raise InvalidCron(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first",
            cron=expression,
        )
    if not croniter.is_valid(text, second_at_beginning=True):
        raise InvalidCron(f"invalid cron expression {expression!r}", cron=expression)
    try:
        croniter(text, datetime.now(UTC), second_at_beginning=True).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidCron(f"cron expression {expression!r} never fires", cron=expression) from None
    return text


def check_timezone(name: str | None) -> str | None:
    """``name`` if it is an IANA time zone (``None``/``UTC`` mean UTC, stored as ``None``)."""
    if name is None or name in ("UTC", "Etc/UTC"):
        return None
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError; malformed keys raise ValueError
        raise ValidationFailed(f"unknown time zone {name!r}", field="timezone") from None
    return name


def next_fire_times(cron: str, timezone: str | None, count: int, after: datetime | None = None) -> list[datetime]:
    """The next ``count`` fires of ``cron`` in ``timezone`` after ``after`` (default now), as DBOS computes them."""
    tz = ZoneInfo(timezone) if timezone else UTC
    it = croniter(cron, (after or datetime.now(UTC)).astimezone(tz), second_at_beginning=True)
    return [it.get_next(datetime) for _ in range(count)]


#: Fires sampled to find a cron's shortest gap: enough to cover every field's pattern within its next cycle for
#: the crons people write ("0-5 9 * * *", "*/10 * * * * *"); the sample starts now, so it costs microseconds.
_GAP_SAMPLE = 128


def shortest_period_seconds(cron: str) -> float:
    """The shortest time between two consecutive fires of ``cron`` among its next fires (UTC)."""
    fires = next_fire_times(cron, None, _GAP_SAMPLE)
    return min((b - a).total_seconds() for a, b in itertools.pairwise(fires))


def _context(schedule: WorkflowSchedule) -> ScheduleContext | None:
    if schedule["workflow_name"] != SCHEDULED_DISPATCH:
        return None
    try:
        return ScheduleContext.model_validate(schedule["context"])
    except ValueError:
        return None


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def to_info(schedule: WorkflowSchedule) -> ScheduleInfo:
    """Our view of a DBOS schedule."""
    ctx = _context(schedule)
    return ScheduleInfo(
        name=schedule["schedule_name"],
        type=ctx.type if ctx else schedule["workflow_name"],
        input=ctx.input if ctx else None,
        cron=schedule["schedule"],
        interval_minutes=ctx.interval_minutes if ctx else None,
        timezone=schedule["cron_timezone"] or "UTC",
        queue=schedule["queue_name"],
        status=schedule["status"],
        note=ctx.note if ctx else None,
        paused_at=ctx.paused_at if ctx else None,
        last_fired_at=_ts(schedule["last_fired_at"]),
        automatic_backfill=bool(schedule["automatic_backfill"]),
        managed=ctx is not None,
    )


def _run(dispatch_id: str) -> ScheduleRun:
    """A run from the id alone, when just enqueued."""
    return ScheduleRun(dispatch_id=dispatch_id, workflow_id=run_workflow_id(dispatch_id))


async def read_row(workflow_id: str) -> WorkflowRow | None:
    """The workflow's status row read by the adapter, values still encoded."""
    return await asyncio.to_thread(workflow_rows.read_workflow, workflow_id)


def _run_from_row(dispatch_id: str, row: WorkflowRow) -> ScheduleRun:
    """A run from its dispatch's status row, values decoded safely (an undecodable one reads as absent)."""
    run = ScheduleRun(dispatch_id=dispatch_id, workflow_id=run_workflow_id(dispatch_id), status=row.status)
    with contextlib.suppress(ValueNotDecodable):
        args = (row.input() or {}).get("args") or ()
        run.scheduled_at = args[0] if args and isinstance(args[0], datetime) else None
    run.created_at = datetime.fromtimestamp(row.created_at / 1000, tz=UTC) if row.created_at else None
    run.updated_at = datetime.fromtimestamp(row.updated_at / 1000, tz=UTC) if row.updated_at else None
    with contextlib.suppress(ValueNotDecodable):
        run.error = row.error()
    return run


class ScheduleService:
    """Create, inspect and operate schedules (see the module docstring)."""

    def __init__(self, settings: Settings, registry: WorkflowRegistry) -> None:
        self._settings = settings
        self._registry = registry
        # Read-modify-write of one schedule (update, pause, resume) is serialised per name within this process.
        self._locks = [asyncio.Lock() for _ in range(16)]
        self._create_lock = asyncio.Lock()
        self._poll = settings.sqlite_polling_interval_sec if settings.is_sqlite() else 0.05

    def _lock(self, name: str) -> asyncio.Lock:
        digest = hashlib.blake2s(name.encode(), digest_size=2).digest()
        return self._locks[int.from_bytes(digest, "big") % len(self._locks)]

    async def _get(self, name: str) -> WorkflowSchedule:
        schedule = await DBOS.get_schedule_async(name)
        if schedule is None:
            raise ScheduleNotFound(name)
        return schedule

    async def _check_queue(self, queue: str | None) -> None:
        if queue is not None and await DBOS.retrieve_queue_async(queue) is None:
            raise ValidationFailed(f"queue {queue!r} is not registered", field="queue")

    def _timing(self, cron: str | None, interval: int | None) -> tuple[str, int | None]:
        if (cron is None) == (interval is None):
            raise ValidationFailed("give exactly one of cron and interval_minutes", fields=["cron", "interval_minutes"])
        if interval is not None:
            text = interval_to_cron(interval)
        else:
            assert cron is not None
            text = check_cron(cron)
        # Every schedule's fires become workflow runs: a floor on the period bounds the load one schedule can make.
        minimum = self._settings.schedule_min_period_seconds
        period = shortest_period_seconds(text)
        if period < minimum:
            raise ScheduleTooFrequent(
                f"the schedule would fire every {period:g} s; the shortest period allowed is {minimum} s "
                "(COMM_SCHEDULE_MIN_PERIOD_SECONDS)",
                period_seconds=period,
                min_period_seconds=minimum,
            )
        return text, interval

    async def _apply(self, schedule: WorkflowSchedule, ctx: ScheduleContext, **changes: Any) -> ScheduleInfo:
        """Upsert the schedule with ``changes`` (DBOS keeps its status and last fire time)."""
        entry: ScheduleInput = {
            "schedule_name": schedule["schedule_name"],
            "workflow_fn": _DISPATCH,
            "schedule": changes.get("cron", schedule["schedule"]),
            "context": ctx.model_dump(mode="json"),
            "automatic_backfill": bool(schedule["automatic_backfill"]),
            "cron_timezone": changes.get("timezone", schedule["cron_timezone"]),
            "queue_name": changes.get("queue", schedule["queue_name"]),
        }
        await DBOS.apply_schedules_async([entry])
        return to_info(await self._get(schedule["schedule_name"]))

    def _managed(self, schedule: WorkflowSchedule) -> ScheduleContext:
        ctx = _context(schedule)
        if ctx is None:
            raise ValidationFailed(
                f"schedule {schedule['schedule_name']!r} was not created through this API and cannot be edited here",
                schedule=schedule["schedule_name"],
            )
        return ctx

    async def create(self, spec: ScheduleCreate) -> ScheduleInfo:
        """Create a schedule.

        Raises:
            UnknownWorkflowType, ValidationFailed (input, timezone, queue, cron and interval both/neither),
            InvalidCron, ScheduleTooFrequent, ScheduleExists, TooManySchedules.
        """
        wtype = self._registry.get(spec.type)
        params = wtype.validate_input(spec.input)
        cron, interval = self._timing(spec.cron, spec.interval_minutes)
        timezone = check_timezone(spec.timezone)
        queue = spec.queue if "queue" in spec.model_fields_set else self._settings.work_queue
        await self._check_queue(queue)
        async with self._create_lock:  # the quota check and the create, serialised within this process
            if await DBOS.get_schedule_async(spec.name) is not None:
                raise ScheduleExists(spec.name)
            # A quota checked before the create: concurrent creates on several nodes may pass it by a few.
            if len(await DBOS.list_schedules_async()) >= self._settings.schedule_max:
                raise TooManySchedules(
                    f"the application already has {self._settings.schedule_max} schedules (COMM_SCHEDULE_MAX); "
                    "delete one first",
                    max=self._settings.schedule_max,
                )
            ctx = ScheduleContext(type=wtype.name, input=params, interval_minutes=interval)
            try:
                await DBOS.create_schedule_async(
                    schedule_name=spec.name,
                    workflow_fn=_DISPATCH,
                    schedule=cron,
                    context=ctx.model_dump(mode="json"),
                    automatic_backfill=spec.automatic_backfill,
                    cron_timezone=timezone,
                    queue_name=queue,
                )
            except dbos_errors.DBOSException:
                if await DBOS.get_schedule_async(spec.name) is not None:
                    raise ScheduleExists(spec.name) from None  # lost a race with another creator
                raise
        if spec.paused:
            return await self.pause(spec.name, None)
        return to_info(await self._get(spec.name))

    async def list(self, *, status: str | None = None, type_name: str | None = None) -> ScheduleList:
        """Schedules of this application, by name, filtered by status (ACTIVE, PAUSED) and workflow type."""
        if status is not None and status not in ("ACTIVE", "PAUSED"):
            raise ValidationFailed("unknown status filter", field="status", allowed=["ACTIVE", "PAUSED"])
        rows = await DBOS.list_schedules_async(status=status)
        infos = sorted((to_info(r) for r in rows), key=lambda i: i.name)
        return ScheduleList(schedules=[i for i in infos if type_name is None or i.type == type_name])

    async def describe(self, name: str, *, runs: int = 10, upcoming: int = 5) -> ScheduleDetail:
        """The schedule, its next ``upcoming`` fire times (none while paused) and its ``runs`` newest runs."""
        schedule = await self._get(name)
        info = to_info(schedule)
        fires = next_fire_times(info.cron, schedule["cron_timezone"], upcoming) if info.status == "ACTIVE" else []
        recent = (await self.runs(name, runs)).runs if runs > 0 else []  # DBOS reads limit 0 as "no limit"
        return ScheduleDetail(**info.model_dump(), next_fire_times=fires, recent_runs=recent)

    async def runs(self, name: str, limit: int = 20) -> ScheduleRunList:
        """The schedule's ``limit`` newest runs."""
        await self._get(name)
        rows = await DBOS.list_workflows_async(
            schedule_name=name, sort_desc=True, limit=limit, load_input=False, load_output=False
        )
        # Values are decoded by the adapter (DBOS's listing would unpickle them without restriction; unclaimed
        # rows of other applications can match the filter).
        runs = []
        for r in rows:
            row = await read_row(r.workflow_id)
            runs.append(_run(r.workflow_id) if row is None else _run_from_row(r.workflow_id, row))
        return ScheduleRunList(schedule=name, runs=runs)

    async def run_result(self, name: str, dispatch_id: str, timeout: float) -> ScheduleRunResult:
        """Wait up to ``timeout`` seconds for a run to finish (it may still be queued) and return it.

        A run's workflow (``workflow_id``) only exists once the run has started; this waits on the run itself.

        Raises:
            ScheduleNotFound; WorkflowNotFound: no run with this id belongs to the schedule.
        """
        await self._get(name)
        # The status row read and decoded by the adapter: a run id is the caller's, and DBOS's status read would
        # unpickle whatever workflow it names without restriction.
        row = await read_row(dispatch_id)
        if row is None or row.schedule_name != name:
            raise WorkflowNotFound(dispatch_id)
        deadline = time.monotonic() + timeout
        while not store.is_terminal(row.status) and time.monotonic() < deadline:
            # Bounded poll of the run's row, as DBOS's own get_result polls it.
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
            row = await read_row(dispatch_id) or row
        done = store.is_terminal(row.status)
        run = _run_from_row(dispatch_id, row)
        return ScheduleRunResult(
            **run.model_dump(), done=done, output=row.output() if done and row.status == "SUCCESS" else None
        )

    async def pause(self, name: str, note: str | None) -> ScheduleInfo:
        """Stop firing (trigger and backfill still work); ``note`` says why until resumed."""
        async with self._lock(name):
            schedule = await self._get(name)
            await asyncio.to_thread(DBOS.pause_schedule, name)
            ctx = _context(schedule)
            if ctx is None:
                return to_info(await self._get(name))
            ctx.note, ctx.paused_at = note, datetime.now(UTC)
            return await self._apply(schedule, ctx)

    async def resume(self, name: str) -> ScheduleInfo:
        """Fire again from the next cron time (missed fires are not run; backfill them if needed)."""
        async with self._lock(name):
            schedule = await self._get(name)
            await asyncio.to_thread(DBOS.resume_schedule, name)
            ctx = _context(schedule)
            if ctx is None or (ctx.note is None and ctx.paused_at is None):
                return to_info(await self._get(name))
            ctx.note, ctx.paused_at = None, None
            return await self._apply(schedule, ctx)

    async def update(self, name: str, changes: ScheduleUpdate) -> ScheduleInfo:
        """Change cron or interval, input, time zone or queue; status and last fire time are kept.

        Raises:
            ScheduleNotFound, InvalidCron, ScheduleTooFrequent, ValidationFailed.
        """
        given = changes.model_fields_set
        async with self._lock(name):
            schedule = await self._get(name)
            ctx = self._managed(schedule)
            updates: dict[str, Any] = {}
            if "cron" in given or "interval_minutes" in given:
                updates["cron"], ctx.interval_minutes = self._timing(changes.cron, changes.interval_minutes)
            if "input" in given:
                ctx.input = self._registry.get(ctx.type).validate_input(changes.input)
            if "timezone" in given:
                updates["timezone"] = check_timezone(changes.timezone)
            if "queue" in given:
                await self._check_queue(changes.queue)
                updates["queue"] = changes.queue
            return await self._apply(schedule, ctx, **updates)

    async def delete(self, name: str) -> None:
        """Delete the schedule; runs already enqueued or running continue."""
        await self._get(name)
        await DBOS.delete_schedule_async(name)

    async def trigger(self, name: str) -> ScheduleRuns:
        """Enqueue one run now, also while paused."""
        await self._get(name)
        try:
            handle = await asyncio.to_thread(DBOS.trigger_schedule, name)
        except dbos_errors.DBOSException:
            await self._get(name)  # deleted meanwhile → ScheduleNotFound
            raise
        return ScheduleRuns(schedule=name, runs=[_run(handle.get_workflow_id())])

    async def backfill(self, name: str, request: BackfillRequest) -> ScheduleRuns:
        """Enqueue every fire in ``(start, end)``; fires that already ran are listed but not run again.

        Raises:
            ScheduleNotFound; ValidationFailed when end ≤ start or the range holds more than
            ``Settings.schedule_backfill_max`` fires.
        """
        start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (request.start, request.end))
        if end <= start:
            raise ValidationFailed("end must be after start", field="end")
        schedule = await self._get(name)
        limit = self._settings.schedule_backfill_max
        fires = next_fire_times(schedule["schedule"], schedule["cron_timezone"], limit + 1, after=start)
        if fires[-1] < end:
            raise ValidationFailed(
                f"the range holds more than {limit} fires; backfill a shorter range", field="end", limit=limit
            )
        handles = await asyncio.to_thread(DBOS.backfill_schedule, name, start, end)
        return ScheduleRuns(schedule=name, runs=[_run(h.get_workflow_id()) for h in handles])
