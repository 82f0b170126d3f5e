"""Human output of ``wfc``: rich tables and lines. (``--json`` output bypasses this module.)"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from communication.client.models import SessionItem, WorkflowTypeInfo
from communication.protocol.models import (
    EventOut,
    EventsOut,
    StepList,
    StreamItem,
    StreamList,
    WorkflowInfo,
    WorkflowList,
    WorkflowResult,
)

_STATUS_STYLE = {
    "SUCCESS": "green",
    "ERROR": "red",
    "CANCELLED": "yellow",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "red",
    "PENDING": "cyan",
    "ENQUEUED": "blue",
}


def compact(value: Any, limit: int = 200) -> str:
    """A JSON value on one line, shortened to ``limit`` characters."""
    text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_text(status: str) -> str:
    """The status with its colour."""
    style = _STATUS_STYLE.get(status, "white")
    return f"[{style}]{status}[/]"


def workflow(out: Console, info: WorkflowInfo, title: str | None = None) -> None:
    """One workflow as a two-column table."""
    table = Table(show_header=False, title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("workflow id", info.workflow_id)
    table.add_row("type", info.type)
    table.add_row("status", status_text(info.status))
    for label, value in (
        ("created", info.created_at),
        ("updated", info.updated_at),
        ("executor", info.executor_id),
        ("queue", info.queue_name),
        ("forked from", info.forked_from),
    ):
        if value is not None:
            table.add_row(label, str(value))
    for label, raw in (("input", info.input), ("output", info.output)):
        if raw is not None:
            table.add_row(label, compact(raw, 400))
    if info.error:
        table.add_row("error", f"[red]{info.error}[/]")
    out.print(table)


def workflows(out: Console, page: WorkflowList) -> None:
    """A page of workflows."""
    table = Table("workflow id", "type", "status", "created", "updated")
    for w in page.workflows:
        table.add_row(w.workflow_id, w.type, status_text(w.status), str(w.created_at or ""), str(w.updated_at or ""))
    out.print(table)
    if not page.workflows:
        out.print("[dim]no workflows[/]")


def result(out: Console, outcome: WorkflowResult) -> None:
    """A workflow's outcome (or that it is still running)."""
    if not outcome.done:
        out.print(f"{outcome.workflow_id}: still {status_text(outcome.status)} (not done when the wait ended)")
        return
    out.print(f"{outcome.workflow_id}: {status_text(outcome.status)}")
    if outcome.error:
        out.print(f"[red]{outcome.error}[/]")
    else:
        out.print_json(json.dumps(outcome.output, default=str))


def events(out: Console, data: EventsOut) -> None:
    """Every event of a workflow."""
    table = Table("key", "value", "version", title=f"{data.workflow_id} ({data.status})", title_justify="left")
    for key, ev in data.events.items():
        table.add_row(key, compact(ev.value), str(ev.version))
    out.print(table)
    if not data.events:
        out.print("[dim]no events yet[/]")


def event(out: Console, ev: EventOut) -> None:
    """One event value, as a line."""
    out.print(f"[bold]{ev.key}[/] = {compact(ev.value, 1000)}  [dim](version {ev.version})[/]", highlight=False)


def streams(out: Console, data: StreamList) -> None:
    """Every stream of a workflow."""
    table = Table("key", "values", "closed", title=f"{data.workflow_id} ({data.status})", title_justify="left")
    for s in data.streams:
        table.add_row(s.key, str(s.length), "yes" if s.closed else "no")
    out.print(table)
    if not data.streams:
        out.print("[dim]no streams yet[/]")


def stream_item(out: Console, item: StreamItem | SessionItem) -> None:
    """One stream or session value, as a line."""
    value = item.value.model_dump(mode="json") if isinstance(item, SessionItem) else item.value
    out.print(f"[dim]{item.offset:>6}[/]  {compact(value, 2000)}", highlight=False)


def steps(out: Console, data: StepList) -> None:
    """A workflow's recorded steps."""
    table = Table("step", "name", "duration", "output / error")
    for s in data.steps:
        shown = f"[red]{s.error}[/]" if s.error else compact(s.output, 80)
        table.add_row(str(s.step_id), s.name, "" if s.duration_ms is None else f"{s.duration_ms} ms", shown)
    out.print(table)


def types(out: Console, data: list[WorkflowTypeInfo]) -> None:
    """Registered workflow types with their input fields."""
    table = Table("type", "description", "input fields")
    for t in data:
        props = t.input_schema.get("properties", {})
        fields = ", ".join(f"{name}={spec.get('default', '?')}" for name, spec in props.items())
        table.add_row(t.type, t.description, fields)
    out.print(table)
