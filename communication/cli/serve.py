"""``wfc serve``: run the server (or a worker) from the command line, with exactly the options of
``python server.py`` (one parser: :mod:`communication.node.entry`; ``wfc serve --help`` lists them)."""

from __future__ import annotations

import typer


def serve(ctx: typer.Context) -> None:
    """Run the HTTP server or, with --worker, a worker: the options of `python server.py` (--help lists them)."""
    from communication.node import entry

    raise typer.Exit(entry.main(list(ctx.args), prog="wfc serve"))


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``; its arguments go unparsed to the server's own parser (so ``--help`` is its)."""
    app.command(
        "serve",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    )(serve)
