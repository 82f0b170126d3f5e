"""``wfc schedules``: seed 003's schedule manager journey from the command line (create with ``--interval MINUTES``
or ``--cron``, list, describe, pause with a note, unpause, trigger, update, delete, backfill).

Every command takes ``--json``; errors exit as every ``wfc`` command does (3 not found, 6 conflict, 2 usage).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from communication.cli.render import compact
from communication.cli.support import Cli, command, parse_json_arg
from communication.protocol.schedule_models import ScheduleDetail, ScheduleInfo, ScheduleList, ScheduleRuns

schedules_app = typer.Typer(
    help="Create and manage schedules (cron or every N minutes) that start workflows.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="Schedule name.", show_default=False)]
Cron = Annotated[str | None, typer.Option("--cron", help="Cron expression, e.g. '*/5 * * * *' or '@hourly'.")]
Interval = Annotated[
    int | None, typer.Option("--interval", min=1, max=1440, metavar="MINUTES", help="Run every MINUTES minutes.")
]
InputJson = Annotated[str | None, typer.Option("--input", "-i", help="Input object as JSON, @file or -.")]
Timezone = Annotated[str | None, typer.Option("--timezone", help="IANA time zone of the cron (default UTC).")]
Queue = Annotated[str | None, typer.Option("--queue", help="DBOS queue for the runs.")]


def _input(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    data = parse_json_arg(text, "--input")
    if not isinstance(data, dict):
        raise typer.BadParameter("the input must be a JSON object", param_hint="--input")
    return data


def _one_of(cron: str | None, interval: int | None, required: bool) -> None:
    if cron is not None and interval is not None:
        raise typer.BadParameter("give --cron or --interval, not both")
    if required and cron is None and interval is None:
        raise typer.BadParameter("give --cron EXPR or --interval MINUTES")


def _show(out: Console, info: ScheduleInfo, title: str = "") -> None:
    every = f"every {info.interval_minutes} min" if info.interval_minutes else f"cron {info.cron!r}"
    head = f"{title}: " if title else ""
    out.print(f"{head}[bold]{info.name}[/] {info.status} - {info.type} {every} ({info.timezone})")
    if info.note:
        out.print(f"  note: {info.note}")
    if info.input:
        out.print(f"  input: {compact(info.input)}")


def _show_detail(out: Console, detail: ScheduleDetail) -> None:
    _show(out, detail)
    for at in detail.next_fire_times:
        out.print(f"  next: {at.isoformat()}")
    for run in detail.recent_runs:
        out.print(f"  run {run.dispatch_id}: {run.status or '?'}")


def _show_list(out: Console, found: ScheduleList) -> None:
    table = Table("name", "status", "type", "when", "note")
    for s in found.schedules:
        table.add_row(
            s.name, s.status, s.type, f"every {s.interval_minutes} min" if s.interval_minutes else s.cron, s.note or ""
        )
    out.print(table)


def _show_runs(out: Console, runs: ScheduleRuns) -> None:
    for run in runs.runs:
        out.print(f"{run.dispatch_id} -> {run.workflow_id} {run.status or 'ENQUEUED'}")


@command(schedules_app)
def create(
    cli: Cli,
    name: Name,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="Workflow type each run starts.")],
    cron: Cron = None,
    interval: Interval = None,
    input_json: InputJson = None,
    timezone: Timezone = None,
    queue: Queue = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
) -> None:
    """Create a schedule: TYPE with --input, every --interval MINUTES or on --cron."""
    _one_of(cron, interval, required=True)
    with cli.client() as client:
        info = client.create_schedule(
            name,
            type_name,
            input=_input(input_json),
            cron=cron,
            interval_minutes=interval,
            timezone=timezone,
            queue=queue,
            paused=paused,
        )
    cli.emit(info, lambda: _show(cli.out, info, "created"))


@command(schedules_app, "list")
def list_(
    cli: Cli,
    status: Annotated[str | None, typer.Option("--status", "-s", help="ACTIVE or PAUSED.")] = None,
    type_name: Annotated[str | None, typer.Option("--type", "-t", help="Workflow type.")] = None,
) -> None:
    """List schedules."""
    with cli.client() as client:
        found = client.list_schedules(status=status, type_name=type_name)
    cli.emit(found, lambda: _show_list(cli.out, found))


@command(schedules_app)
def describe(
    cli: Cli, name: Name, runs: Annotated[int, typer.Option("--runs", min=0, max=100, help="Recent runs.")] = 10
) -> None:
    """Show a schedule with its next fire times and recent runs."""
    with cli.client() as client:
        detail = client.describe_schedule(name, runs=runs)
    cli.emit(detail, lambda: _show_detail(cli.out, detail))


@command(schedules_app)
def pause(
    cli: Cli, name: Name, note: Annotated[str | None, typer.Option("--note", help="Why (shown until unpaused).")] = None
) -> None:
    """Pause a schedule (trigger and backfill still work)."""
    with cli.client() as client:
        info = client.pause_schedule(name, note)
    cli.emit(info, lambda: _show(cli.out, info, "paused"))


@command(schedules_app)
def unpause(cli: Cli, name: Name) -> None:
    """Resume a paused schedule (missed fires are not run; backfill them)."""
    with cli.client() as client:
        info = client.resume_schedule(name)
    cli.emit(info, lambda: _show(cli.out, info, "unpaused"))


@command(schedules_app)
def trigger(cli: Cli, name: Name) -> None:
    """Run a schedule once now."""
    with cli.client() as client:
        runs = client.trigger_schedule(name)
    cli.emit(runs, lambda: _show_runs(cli.out, runs))


@command(schedules_app)
def update(
    cli: Cli,
    name: Name,
    cron: Cron = None,
    interval: Interval = None,
    input_json: InputJson = None,
    timezone: Timezone = None,
    queue: Queue = None,
) -> None:
    """Change a schedule's timing, input, time zone or queue; what is not given is kept."""
    _one_of(cron, interval, required=False)
    with cli.client() as client:
        info = client.update_schedule(
            name, cron=cron, interval_minutes=interval, input=_input(input_json), timezone=timezone, queue=queue
        )
    cli.emit(info, lambda: _show(cli.out, info, "updated"))


@command(schedules_app)
def delete(cli: Cli, name: Name) -> None:
    """Delete a schedule (runs already enqueued are not affected)."""
    with cli.client() as client:
        client.delete_schedule(name)
    cli.emit({"deleted": name}, lambda: cli.out.print(f"deleted {name}"))


@command(schedules_app)
def backfill(
    cli: Cli,
    name: Name,
    start: Annotated[datetime, typer.Option("--start", help="Range start, exclusive (ISO 8601, UTC if no offset).")],
    end: Annotated[datetime, typer.Option("--end", help="Range end, exclusive.")],
) -> None:
    """Run every fire of a schedule between --start and --end (fires that already ran are not run again)."""
    with cli.client() as client:
        runs = client.backfill_schedule(name, start, end)
    cli.emit(runs, lambda: _show_runs(cli.out, runs))


def register(app: typer.Typer) -> None:
    """Add ``schedules`` to ``app``."""
    app.add_typer(schedules_app, name="schedules")
