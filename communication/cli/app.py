"""``wfc``: the command-line client of the workflow communication server (typer + rich).

Install with ``pip install -e .``; ``wfc --help`` lists the commands. Every command takes ``--json`` (JSON on
stdout; JSON Lines for live commands), ``--verbose``, ``--url`` (``$COMM_URL``) and ``--api-key``
(``$COMM_API_KEY``). Exit codes are :class:`communication.cli.support.ExitCode` (QUICK_REFERENCE.md):
0 ok, 1 error, 2 usage, 3 not found, 4 timeout / not done, 5 server unreachable, 6 conflict, 7 unauthorized,
8 workflow failed, 130 interrupted.

Workflow commands live here; live commands (``events``, ``stream``, ``session``) in :mod:`communication.cli.live`;
``serve`` in :mod:`communication.cli.serve`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from communication.cli import codegen as cli_codegen
from communication.cli import inbox as cli_inbox
from communication.cli import live as cli_live
from communication.cli import render as cli_render
from communication.cli import schedules as cli_schedules
from communication.cli import serve as cli_serve
from communication.cli.support import (
    FAILED_STATUSES,
    Cli,
    ExitCode,
    GlobalOptions,
    command,
    parse_json_arg,
)
from communication.client.base import API_KEY_ENV, DEFAULT_TOPIC, URL_ENV
from communication.protocol.models import WorkflowResult
from communication.protocol.replies import REQUEST_TOPIC

app = typer.Typer(
    name="wfc",
    help="Talk to durable DBOS workflows: start and control them, read and watch events, send messages, "
    "tail streams, post to sessions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WorkflowId = Annotated[str, typer.Argument(help="Workflow id.", show_default=False)]
Timeout = Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait.")]


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option("--url", "-u", envvar=URL_ENV, help="Server base URL.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar=API_KEY_ENV, help="API key.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log requests; error details.")] = False,
    http_timeout: Annotated[
        float, typer.Option("--http-timeout", min=0.1, help="Seconds to connect and for ordinary answers.")
    ] = 10.0,
) -> None:
    """Options here apply to every command (each command also accepts --json, --verbose, --url, --api-key)."""
    ctx.obj = GlobalOptions(url=url, api_key=api_key, json=json_output, verbose=verbose, http_timeout=http_timeout)


def _finish(cli: Cli, outcome: WorkflowResult) -> None:
    """Print an outcome and exit 4 if not done, 8 if the workflow failed."""
    cli.emit(outcome, lambda: cli_render.result(cli.out, outcome))
    if not outcome.done:
        raise typer.Exit(ExitCode.TIMEOUT)
    if outcome.status in FAILED_STATUSES:
        raise typer.Exit(ExitCode.WORKFLOW_FAILED)


@command(app, "types")
def types_(cli: Cli) -> None:
    """List the workflow types the server can start, with their input fields."""
    with cli.client() as client:
        found = client.workflow_types()
    cli.emit(found, lambda: cli_render.types(cli.out, found))


@command(app)
def start(
    cli: Cli,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="Workflow type (see `wfc types`).")],
    input_json: Annotated[
        str | None, typer.Option("--input", "-i", help="Input object (keyword arguments) as JSON, @file or -.")
    ] = None,
    args_json: Annotated[
        str | None, typer.Option("--args", "-a", help="Positional arguments as a JSON array, @file or - (gateway).")
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option("--queue", "-q", help="Start another application's workflow by its DBOS name on this queue."),
    ] = None,
    workflow_id: Annotated[str | None, typer.Option("--id", "--workflow-id", "-w", help="Choose the id.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result (exit 4 if not done in time).")] = False,
    timeout: Timeout = 60.0,
) -> None:
    """Start a workflow: a registered type, or with ``--queue`` another application's workflow by its DBOS name
    (gateway). Starting an existing id starts nothing and shows that workflow."""
    data = parse_json_arg(input_json, "--input") if input_json is not None else None
    if data is not None and not isinstance(data, dict):
        raise typer.BadParameter("the input must be a JSON object", param_hint="--input")
    positional = parse_json_arg(args_json, "--args") if args_json is not None else None
    if positional is not None and not isinstance(positional, list):
        raise typer.BadParameter("the arguments must be a JSON array", param_hint="--args")
    if data is None and positional is None:
        data = {}
    with cli.client() as client:
        started = client.start(type_name, data, workflow_id=workflow_id, queue=queue, args=positional)
        if not wait:
            title = "started" if started.created else "already exists (nothing started)"
            cli.emit(started, lambda: cli_render.workflow(cli.out, started, title))
            return
        if not cli.json:
            cli.note(f"{'started' if started.created else 'existing'} {started.workflow_id}; waiting for the result")
        outcome = client.result(started.workflow_id, timeout=timeout)
    _finish(cli, outcome)


@command(app)
def status(cli: Cli, workflow_id: WorkflowId) -> None:
    """Show a workflow's status, input, output or error."""
    with cli.client() as client:
        info = client.status(workflow_id)
    cli.emit(info, lambda: cli_render.workflow(cli.out, info))


@command(app, "list")
def list_(
    cli: Cli,
    status: Annotated[str | None, typer.Option("--status", "-s", help="PENDING, SUCCESS, ERROR, ...")] = None,
    type_name: Annotated[str | None, typer.Option("--type", "-t", help="Workflow type.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
) -> None:
    """List workflows, newest first."""
    with cli.client() as client:
        page = client.list_workflows(status=status, type_name=type_name, limit=limit, offset=offset)
    cli.emit(page, lambda: cli_render.workflows(cli.out, page))


@command(app)
def result(cli: Cli, workflow_id: WorkflowId, timeout: Timeout = 30.0) -> None:
    """Wait for a workflow's result. Exit 4 if still running after --timeout, 8 if it failed."""
    with cli.client() as client:
        outcome = client.result(workflow_id, timeout=timeout)
    _finish(cli, outcome)


@command(app)
def cancel(cli: Cli, workflow_id: WorkflowId) -> None:
    """Cancel a workflow (a finished one is left as it is)."""
    with cli.client() as client:
        info = client.cancel(workflow_id)
    cli.emit(info, lambda: cli_render.workflow(cli.out, info))


@command(app)
def resume(cli: Cli, workflow_id: WorkflowId) -> None:
    """Resume a cancelled or failed workflow from its last completed step."""
    with cli.client() as client:
        info = client.resume(workflow_id)
    cli.emit(info, lambda: cli_render.workflow(cli.out, info))


@command(app)
def fork(
    cli: Cli,
    workflow_id: WorkflowId,
    step: Annotated[int, typer.Option("--step", min=1, help="First step to re-execute.")],
) -> None:
    """Start a new workflow that replays the steps before --step and re-executes from it."""
    with cli.client() as client:
        forked = client.fork(workflow_id, step)
    cli.emit(forked, lambda: cli.out.print(f"forked {forked.forked_from} from step {step} → {forked.workflow_id}"))


@command(app)
def steps(cli: Cli, workflow_id: WorkflowId) -> None:
    """List a workflow's recorded steps."""
    with cli.client() as client:
        found = client.steps(workflow_id)
    cli.emit(found, lambda: cli_render.steps(cli.out, found))


@command(app)
def send(
    cli: Cli,
    workflow_id: WorkflowId,
    message: Annotated[str, typer.Argument(help="The message as JSON, @file or - (stdin).", show_default=False)],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic the workflow receives on.")] = DEFAULT_TOPIC,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", "-k", help="Deliver at most once per workflow.")
    ] = None,
) -> None:
    """Send a message to a workflow; says whether it was delivered or a duplicate."""
    body = parse_json_arg(message, "MESSAGE")
    with cli.client() as client:
        sent = client.send(workflow_id, body, topic=topic, idempotency_key=idempotency_key)
    cli.emit(sent, lambda: cli.out.print(f"{sent.outcome}: topic {sent.topic!r} → {sent.workflow_id}"))


@command(app)
def request(
    cli: Cli,
    workflow_id: WorkflowId,
    payload: Annotated[str, typer.Argument(help="The request payload as JSON, @file or -.", show_default=False)],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic of requests.")] = REQUEST_TOPIC,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Reuse an id to retry safely.")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Send a request and wait for the workflow's reply (request/reply; exit 4 if no reply in time)."""
    body = parse_json_arg(payload, "PAYLOAD")
    with cli.client() as client:
        answer = client.send_and_wait(workflow_id, body, topic=topic, timeout=timeout, request_id=request_id)
    cli.emit(answer, lambda: cli.out.print_json(data=answer.value, default=str))


cli_live.register(app)
cli_serve.register(app)
cli_schedules.register(app)
cli_codegen.register(app)
cli_inbox.register(app)


def main() -> None:
    """Console-script entry point (``wfc``)."""
    app()


if __name__ == "__main__":
    main()
