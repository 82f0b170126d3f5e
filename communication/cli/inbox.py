"""``wfc inbox`` and ``wfc answer``: requests for human input (``communication.kit.ask``) from a terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from communication.cli.support import Cli, command, parse_json_arg
from communication.protocol.inbox import InboxList


def register(app: typer.Typer) -> None:
    """Add the inbox commands to ``app``."""

    @command(app, "inbox")
    def inbox(
        cli: Cli,
        status: Annotated[
            str, typer.Option("--status", "-s", help="open, answered, expired, cancelled or all.")
        ] = "open",
        application: Annotated[str | None, typer.Option("--application", "-a", help="Only this application.")] = None,
        assignee: Annotated[str | None, typer.Option("--assignee", help="Only requests assigned to this name.")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most requests listed.")] = 200,
    ) -> None:
        """List requests for human input across every application, latest deadline first."""
        with cli.client() as client:
            found = client.inbox(status=status, application=application, assignee=assignee, limit=limit)
        cli.emit(found, lambda: _table(cli, found))

    @command(app, "answer")
    def answer(
        cli: Cli,
        workflow_id: Annotated[str, typer.Argument(help="Workflow id.", show_default=False)],
        topic: Annotated[str, typer.Argument(help="The request's topic.", show_default=False)],
        value: Annotated[str, typer.Argument(help="The answer as JSON, @file or - (stdin).", show_default=False)],
    ) -> None:
        """Answer a request (validated against its schema; delivered once: exit 6 if it was answered already)."""
        body = parse_json_arg(value, "VALUE")
        with cli.client() as client:
            done = client.answer(workflow_id, topic, body, via="cli")
        cli.emit(done, lambda: cli.out.print(f"answered: {done.workflow_id} {done.topic} (request {done.seq})"))


def _table(cli: Cli, found: InboxList) -> None:
    if not found.requests:
        cli.out.print("no requests")
        return
    table = Table("workflow", "type", "application", "topic", "status", "deadline", "assignees", "prompt")
    for item in found.requests:
        table.add_row(
            item.workflow_id,
            item.workflow_name or "",
            item.application or "",
            item.topic,
            item.status,
            item.deadline.strftime("%Y-%m-%d %H:%M:%S"),
            ", ".join(item.assignees),
            item.prompt,
        )
    cli.out.print(table)
