"""``wfc codegen ts``: TypeScript types of every workflow type a server registers, for the ``dbos-comm`` JS client.

The command knows only HTTP: it reads ``GET /v1/workflow-types`` (each type's input and output JSON schema) and
converts them with :func:`communication.client.codegen.typescript`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from communication.cli.support import Cli, command
from communication.client.codegen import typescript

codegen_app = typer.Typer(help="Generate code from the server's published workflow types.", no_args_is_help=True)


@command(codegen_app, "ts")
def ts(
    cli: Cli,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).", dir_okay=False)
    ] = None,
) -> None:
    """TypeScript types of every registered type's input and output, and the WorkflowTypes map
    (``new Client<WorkflowTypes>(...)`` in dbos-comm)."""
    with cli.client() as client:
        found = client.workflow_types()
    text = typescript(t.model_dump(mode="json") for t in found)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    cli.note(f"wrote {len(found)} workflow types to {out}")


def register(app: typer.Typer) -> None:
    """Add ``codegen`` to ``app``."""
    app.add_typer(codegen_app, name="codegen")
