"""``wfc serve``: run the server (or a worker) from the command line.

Host and port given here are passed on as ``COMM_HOST`` / ``COMM_PORT``, so every other setting comes from the
environment exactly as for ``python server.py``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

from communication.cli.support import ExitCode

if TYPE_CHECKING:
    from fastapi import FastAPI

WORKER_MODULE = "communication.node.worker"


def app_factory() -> FastAPI:
    """Build the app from the environment; ``uvicorn --reload`` imports this in its reloading subprocess."""
    from communication.core.settings import Settings
    from communication.http.app import create_app
    from communication.node.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    return create_app(settings)


def _worker_module() -> ModuleType | None:
    try:
        return importlib.import_module(WORKER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != WORKER_MODULE:
            raise  # the worker exists but one of its imports is missing: show that, not "not available"
        return None


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind [env COMM_HOST, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", min=0, max=65535, help="[env COMM_PORT, 8000]")] = None,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when source files change (development).")] = False,
    worker: Annotated[
        bool, typer.Option("--worker", help="Run a worker that executes queued workflows and serves no API.")
    ] = False,
) -> None:
    """Run the HTTP server (SQLite under ./data unless DBOS_SYSTEM_DATABASE_URL is set), or a worker."""
    if host is not None:
        os.environ["COMM_HOST"] = host
    if port is not None:
        os.environ["COMM_PORT"] = str(port)
    if worker:
        module = _worker_module()
        if module is None or not callable(getattr(module, "main", None)):
            typer.echo(f"error: worker mode is not available ({WORKER_MODULE} is missing)", err=True)
            raise typer.Exit(ExitCode.ERROR)
        raise typer.Exit(module.main([]))
    if reload:
        import uvicorn

        uvicorn.run(
            f"{__name__}:app_factory",
            factory=True,
            host=os.environ.get("COMM_HOST", "127.0.0.1"),
            port=int(os.environ.get("COMM_PORT", "8000")),
            reload=True,
            reload_dirs=[str(Path(__file__).resolve().parent.parent)],
        )
        return
    import server

    raise typer.Exit(server.main([]) or 0)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
