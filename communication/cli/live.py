"""Live ``wfc`` commands: ``events`` (read, wait, watch with a progress bar), ``stream`` (snapshot or live tail
that survives disconnects and server restarts) and ``session post|tail``.

Live output: one line per value for people; with ``--json``, one JSON object per line (JSON Lines) on stdout.
Remarks (reconnects, the end of a tail) go to stderr.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from communication.cli import render as cli_render
from communication.cli.support import Cli, ExitCode, command, parse_json_arg
from communication.client import Client
from communication.client.models import LiveEnd, SessionItem
from communication.protocol.models import EventOut, StreamItem

WorkflowId = Annotated[str, typer.Argument(help="Workflow id.", show_default=False)]
FromOffset = Annotated[int, typer.Option("--from", min=0, help="First offset.")]

session_app = typer.Typer(help="Durable session streams fed by external producers.", no_args_is_help=True)


def _is_progress(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100


class _ProgressView:
    """Shows a key's values: a progress bar while they are numbers in 0-100, lines otherwise."""

    def __init__(self, cli: Cli, label: str) -> None:
        self._cli = cli
        self._label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def show(self, ev: EventOut) -> None:
        if self._cli.json:
            self._cli.print_json(ev)
            return
        if not _is_progress(ev.value):
            self.stop()
            cli_render.event(self._cli.out, ev)
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self._cli.out,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=100)
        assert self._task is not None
        self._progress.update(self._task, completed=float(ev.value))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _show_item(cli: Cli, item: StreamItem | SessionItem) -> None:
    if cli.json:
        cli.print_json(item)
    else:
        cli_render.stream_item(cli.out, item)


def _report_end(cli: Cli, end: LiveEnd | None, what: str) -> None:
    if end is None:
        return
    where = "" if end.next_offset is None else f", next offset {end.next_offset}"
    status = f" (workflow {end.workflow_status})" if end.workflow_status else ""
    cli.note(f"{what} ended: {end.reason}{status}{where}")


@command(session_app, "post")
def session_post(
    cli: Cli,
    session_id: Annotated[str, typer.Argument(help="Session id.", show_default=False)],
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="Event type; done or timeout close it.")],
    data: Annotated[str, typer.Argument(help="Event data as JSON, @file or -.")] = "null",
    event_id: Annotated[str | None, typer.Option("--id", help="Event id: a repeat is stored once.")] = None,
) -> None:
    """Post an event to a session (created by its first event)."""
    body = parse_json_arg(data, "DATA")
    with cli.client() as client:
        posted = client.post_session_event(session_id, type_name, body, event_id=event_id)
    cli.emit(posted, lambda: cli.out.print(f"{posted.outcome}: {posted.session_id} event {posted.event_id}"))


@command(session_app, "tail")
def session_tail(
    cli: Cli,
    session_id: Annotated[str, typer.Argument(help="Session id.", show_default=False)],
    offset: FromOffset = 0,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="Print what is stored now and exit.")] = False,
) -> None:
    """Print a session's events live until it is closed (resumes across disconnects)."""
    with cli.client() as client:
        if snapshot:
            page = client.session_events(session_id, offset=offset, limit=1000)
            if cli.json:
                cli.print_json(page)
            else:
                for item in page.values:
                    cli_render.stream_item(cli.out, item)
            return
        with client.tail_session(session_id, offset=offset) as tail:
            for item in tail:
                _show_item(cli, item)
            _report_end(cli, tail.end, f"session {session_id}")


def events(
    cli: Cli,
    workflow_id: WorkflowId,
    key: Annotated[str | None, typer.Argument(help="One event key (default: all).")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow changes live until the workflow ends.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait for KEY.")] = 30.0,
    after_version: Annotated[
        int | None, typer.Option("--after-version", min=0, help="Only a value newer than this version.")
    ] = None,
) -> None:
    """Read events. With KEY, wait (bounded) for it; with --watch, follow live (a progress bar for 0-100 values)."""
    with cli.client() as client:
        if watch:
            _watch(cli, client, workflow_id, key, after_version)
        elif key is None:
            found = client.events(workflow_id)
            cli.emit(found, lambda: cli_render.events(cli.out, found))
        else:
            ev = client.get_event(workflow_id, key, timeout=timeout, after_version=after_version)
            cli.emit(ev, lambda: cli_render.event(cli.out, ev))


def _watch(cli: Cli, client: Client, workflow_id: str, key: str | None, after_version: int | None) -> None:
    view = _ProgressView(cli, key or "progress")
    keys = [key] if key else None
    try:
        with client.watch_events(workflow_id, keys=keys, after_version=after_version) as watcher:
            for ev in watcher:
                if key is None and not cli.json:
                    cli_render.event(cli.out, ev)
                else:
                    view.show(ev)
            view.stop()
            _report_end(cli, watcher.end, f"watch of {workflow_id}")
    finally:
        view.stop()


def stream(
    cli: Cli,
    workflow_id: WorkflowId,
    key: Annotated[str | None, typer.Argument(help="Stream key (default: list the streams).")] = None,
    offset: FromOffset = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Tail live until the stream ends.")] = False,
) -> None:
    """List streams, print a stream from --from, or tail it live with --follow (resumes across disconnects)."""
    with cli.client() as client:
        if key is None:
            listing = client.streams(workflow_id)
            if not follow:
                cli.emit(listing, lambda: cli_render.streams(cli.out, listing))
                return
            if len(listing.streams) != 1:
                keys = ", ".join(s.key for s in listing.streams) or "none yet"
                cli.err.print(f"give the stream KEY to follow (streams: {keys})")
                raise typer.Exit(ExitCode.USAGE)
            key = listing.streams[0].key
        if follow:
            with client.tail_stream(workflow_id, key, offset=offset) as tail:
                for item in tail:
                    _show_item(cli, item)
                _report_end(cli, tail.end, f"stream {key!r}")
            return
        _print_snapshot(cli, client, workflow_id, key, offset)


def _print_snapshot(cli: Cli, client: Client, workflow_id: str, key: str, offset: int) -> None:
    items = []
    while True:
        page = client.read_stream(workflow_id, key, offset=offset, limit=1000)
        items.extend(page.values)
        offset = page.next_offset
        if len(page.values) < 1000:
            break
    document = {
        "workflow_id": workflow_id,
        "key": key,
        "values": items,
        "next_offset": page.next_offset,
        "closed": page.closed,
        "complete": page.complete,
        "workflow_status": page.workflow_status,
    }

    def human() -> None:
        for item in items:
            cli_render.stream_item(cli.out, item)
        state = "closed" if page.closed else ("complete" if page.complete else "open")
        cli.note(f"{len(items)} values; stream {state}; next offset {page.next_offset}")

    cli.emit(document, human)


def register(app: typer.Typer) -> None:
    """Add the live commands to ``app``."""
    command(app)(events)
    command(app)(stream)
    app.add_typer(session_app, name="session")
