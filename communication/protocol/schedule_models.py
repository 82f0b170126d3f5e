"""Request and response models of schedules (the HTTP bodies of ``/v1/schedules``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.validation import BoundedDatetime

#: Ids of runs (DBOS's dispatch workflows): ``sched-<name>-<ISO time>`` or ``sched-<name>-trigger-<ISO time>``.
DISPATCH_ID_PATTERN = r"^sched-[A-Za-z0-9._:+-]{1,200}$"
#: Schedule names: 1-64 chars, letters, digits and ``._-``, starting with a letter or digit. Short enough that the
#: run ids DBOS derives from them (``sched-<name>-trigger-<ISO time>``) stay within the workflow id limit.
SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

_CRON_DESCRIPTION = (
    "Cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 fields with seconds first "
    "('30 */5 * * * *'), or an alias such as '@hourly'; fires at least COMM_SCHEDULE_MIN_PERIOD_SECONDS apart. "
    "Give either cron or interval_minutes."
)
_INTERVAL_DESCRIPTION = (
    "Run every N minutes instead of a cron: N divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) or is whole "
    "hours dividing a day (120, 180, 240, 360, 480, 720, 1440). Fires are aligned to the clock."
)


class ScheduleCreate(BaseModel):
    """Create a schedule that runs a registered workflow type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "pipeline-every-minute", "type": "pipeline", "input": {"name": "daily"}, "interval_minutes": 1}
            ]
        },
    )

    name: str = Field(pattern=SCHEDULE_NAME_PATTERN, description="Unique schedule name.")
    type: str = Field(max_length=128, description="Registered workflow type (GET /v1/workflow-types).")
    input: dict[str, Any] = Field(default_factory=dict, description="Input of every run, validated by the type.")
    cron: str | None = Field(None, max_length=256, description=_CRON_DESCRIPTION)
    interval_minutes: int | None = Field(None, ge=1, le=1440, description=_INTERVAL_DESCRIPTION)
    timezone: str | None = Field(None, max_length=64, description="IANA time zone of the cron (default UTC).")
    queue: str | None = Field(
        None,
        max_length=64,
        description="DBOS queue for the runs (must be registered). Omitted: the server's work queue if it has one, "
        "else DBOS's internal queue (any process). null: DBOS's internal queue.",
    )
    paused: bool = Field(False, description="Create the schedule paused.")
    automatic_backfill: bool = Field(
        False, description="When the scheduler starts, also run the fires missed since the schedule last fired."
    )


class ScheduleUpdate(BaseModel):
    """Change a schedule; omitted fields keep their value. Status and last fire time are kept."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"cron": "0 */2 * * *"}]})

    cron: str | None = Field(None, max_length=256, description=_CRON_DESCRIPTION)
    interval_minutes: int | None = Field(None, ge=1, le=1440, description=_INTERVAL_DESCRIPTION)
    input: dict[str, Any] | None = Field(None, description="New input of every run (replaces the old one).")
    timezone: str | None = Field(None, max_length=64, description="IANA time zone of the cron.")
    queue: str | None = Field(None, max_length=64, description="DBOS queue for the runs; null: the internal queue.")


class PauseRequest(BaseModel):
    """Pause a schedule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "source down until Monday"}]})

    note: str | None = Field(None, max_length=1000, description="Why; shown by list and describe until resumed.")


class BackfillRequest(BaseModel):
    """Enqueue every fire of a schedule in a time range."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T01:00:00Z"}]},
    )

    start: BoundedDatetime = Field(
        description="Start of the range, exclusive (ISO 8601; no offset means UTC; 1970-01-01 to 3000-01-01)."
    )
    end: BoundedDatetime = Field(description="End of the range, exclusive.")


class ScheduleInfo(BaseModel):
    """A schedule."""

    name: str
    type: str = Field(description="Workflow type each run starts.")
    input: dict[str, Any] | None = Field(description="Input of every run (null for schedules made outside this API).")
    cron: str = Field(description="Cron expression DBOS evaluates (derived from interval_minutes when set).")
    interval_minutes: int | None = None
    timezone: str = Field(description="IANA time zone of the cron.")
    queue: str | None = Field(description="Queue the runs are enqueued on; null: DBOS's internal queue.")
    status: Literal["ACTIVE", "PAUSED"] | str
    note: str | None = Field(None, description="Pause note.")
    paused_at: datetime | None = None
    last_fired_at: datetime | None = Field(None, description="The last cron fire time the scheduler enqueued.")
    automatic_backfill: bool = False
    managed: bool = Field(True, description="Created through this API (false: made with DBOS directly; read-only).")


class ScheduleRun(BaseModel):
    """One run of a schedule: DBOS's dispatch workflow and the workflow it starts."""

    dispatch_id: str = Field(description="DBOS's id of the scheduled dispatch (sched-<name>-<time>).")
    workflow_id: str = Field(description="Id of the started workflow: read its result, events and streams.")
    scheduled_at: datetime | None = None
    status: str | None = Field(
        None, description="Status of the run (the dispatch finishes with its workflow); null when just enqueued."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None


class ScheduleRunResult(ScheduleRun):
    """A run and, once it has finished, its outcome."""

    done: bool = Field(description="The run has finished (SUCCESS, ERROR, CANCELLED, ...).")
    output: Any = Field(None, description="Once SUCCESS: {workflow_id, type, scheduled_at, output} of the run.")


class ScheduleDetail(ScheduleInfo):
    """A schedule with its upcoming fire times and its most recent runs."""

    next_fire_times: list[datetime] = Field(description="Upcoming fires (empty while paused).")
    recent_runs: list[ScheduleRun] = Field(description="Newest first.")


class ScheduleRunList(BaseModel):
    """Runs of a schedule, newest first."""

    schedule: str
    runs: list[ScheduleRun]


class ScheduleList(BaseModel):
    """Schedules, by name."""

    schedules: list[ScheduleInfo]
    truncated: bool = Field(
        False, description="The page stopped at the byte budget (COMM_PAGE_MAX_BYTES); continue with after_name."
    )
    next_name: str | None = Field(None, description="With truncated: pass it as after_name for the next page.")


class ScheduleRuns(BaseModel):
    """Runs enqueued by a trigger or backfill (already existing fires are listed too and not run again)."""

    schedule: str
    runs: list[ScheduleRun]
