"""The command line of ``python server.py`` and ``wfc serve`` (one parser for both): serve HTTP or run a worker.

Configuration order, highest first: command-line flags > environment variables > the ``.env`` file in the
working directory (``--env-file`` names another) > defaults. Exit statuses (documented in README):

- 0: stopped gracefully (SIGINT/SIGTERM), or ``--help``;
- 1: another start-up failure (DBOS itself failed to launch; the log says why);
- 2: usage error (unknown flag) or invalid configuration, one line per problem;
- 3: the system database cannot be reached (one line, no traceback);
- 4: another live process holds this executor id on this database (one line naming it);
- 5: the executor lock was lost while running (its Postgres session ended, its lock file went): one line, and the
  process ends at once so that no workflow runs twice.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from communication.compat.settings import load_compat_settings
from communication.core.ops.config_check import ConfigError, check_settings, load_settings
from communication.core.settings import Settings
from communication.node import executor_lock
from communication.node.logs import configure_logging

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("communication.node.entry")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_EXECUTOR_IN_USE = 4
EXIT_LOCK_LOST = executor_lock.EXIT_LOCK_LOST

#: The reloading child of ``--reload`` is a fresh process: flags reach it as environment variables, and the
#: ``--env-file`` through this one.
_ENV_FILE_VAR = "COMM_ENV_FILE"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def build_parser(prog: str = "python server.py") -> argparse.ArgumentParser:
    """The one parser of the server's command line (``python server.py`` and ``wfc serve``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the DBOS workflow communication API (or, with --worker, execute queued workflows). "
        "Order: flags > environment (COMM_*, DBOS_SYSTEM_DATABASE_URL) > .env > defaults.",
        epilog="Exit status: 0 stopped, 1 start-up failure, 2 usage or configuration error, 3 database unreachable, "
        "4 executor id in use by another live process, 5 executor lock lost while running.",
    )
    parser.add_argument("--host", help="interface to bind [COMM_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, help="HTTP port, 0 for a free one [COMM_PORT, default 8000]")
    parser.add_argument(
        "--reload", action="store_true", help="restart when source files change (development; HTTP only)"
    )
    parser.add_argument("--log-level", choices=_LOG_LEVELS, help="[COMM_LOG_LEVEL, default info]")
    parser.add_argument(
        "--workflows",
        metavar="MODULES",
        help="comma-separated Python modules that register workflow types [COMM_WORKFLOWS, default workflows]",
    )
    parser.add_argument("--env-file", metavar="PATH", type=Path, help="read settings from this file instead of ./.env")
    parser.add_argument(
        "--worker", action="store_true", help="run a worker: execute the work queue (COMM_WORK_QUEUE), no HTTP"
    )
    parser.add_argument(
        "--recover",
        metavar="EXECUTOR_ID",
        action="append",
        default=[],
        help="with --worker: after starting, recover the pending workflows of this dead executor (repeatable)",
    )
    return parser


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags set (only those given)."""
    found = {"host": args.host, "port": args.port, "log_level": args.log_level, "workflows": args.workflows}
    return {name: value for name, value in found.items() if value is not None}


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def prepare(settings: Settings, *, worker: bool) -> int | None:
    """Validate, import the workflow modules and take the executor lock; an exit status on failure, else None.

    Runs before DBOS exists, so a refused start has recovered nothing; every failure is one line on stderr.
    """
    # Workflow modules are found in the working directory too (as uvicorn does), so `wfc serve` -- whose script
    # directory is the virtualenv's bin -- imports a project's `workflows` exactly as `python server.py` does.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        # Also imports every configured workflow module: a typo or a module that raises is one line, exit 2.
        check_settings(settings, mode="worker" if worker else "server")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    try:
        executor_lock.acquire(settings)
    except executor_lock.DatabaseUnreachable as exc:
        return _fail(str(exc), EXIT_DATABASE)
    except executor_lock.ExecutorIdInUse as exc:
        return _fail(str(exc), EXIT_EXECUTOR_IN_USE)
    _guard_lock()
    return None


def _guard_lock() -> None:
    """From now on the lock is checked every second and before any recovery; losing it ends the process (exit 5)."""
    from communication.core.ops.recovery import add_recovery_guard

    add_recovery_guard(executor_lock.verify_or_exit)
    executor_lock.watch()


def app_factory() -> FastAPI:
    """Build the app from the environment (``--reload``'s child process imports this); holds the executor lock."""
    from communication.app.factory import create_app
    from communication.node.serving import install_log_redaction

    env_file = os.environ.get(_ENV_FILE_VAR)
    try:
        settings = load_settings(env_file=Path(env_file) if env_file else None)
        compat = load_compat_settings(env_file=Path(env_file) if env_file else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    configure_logging(settings)
    install_log_redaction()  # this child's uvicorn has configured its loggers before importing the app
    status = prepare(settings, worker=False)
    if status is not None:
        raise SystemExit(status)
    executor_lock.verify_or_exit()  # DBOS recovers at launch: only with the lock still ours
    return create_app(settings, compat=compat)


def _serve_reloading(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    for name, value in overrides_of(args).items():
        os.environ[f"COMM_{name.upper()}"] = str(value)
    if args.env_file is not None:
        os.environ[_ENV_FILE_VAR] = str(args.env_file.resolve())
    root = Path(__file__).resolve().parent.parent.parent
    uvicorn.run(
        f"{__name__}:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        reload=True,
        reload_dirs=[str(root)],
    )
    return EXIT_OK


def main(argv: list[str] | None = None, prog: str = "python server.py") -> int:
    """Parse the command line, build :class:`Settings`, then serve HTTP or run a worker; returns the exit status.

    Raises:
        SystemExit: ``--help`` (0) and usage errors (2), from argparse.
    """
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    if args.recover and not args.worker:
        return _fail("--recover needs --worker (the HTTP server recovers through POST /v1/admin/recover)", 2)
    if args.reload and args.worker:
        return _fail("--reload serves HTTP; it cannot be combined with --worker", EXIT_CONFIG)
    try:
        settings = load_settings(overrides_of(args), env_file=args.env_file)
        compat = load_compat_settings(env_file=args.env_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    if args.reload:
        return _serve_reloading(args, settings)  # the child process takes the lock (app_factory)
    status = prepare(settings, worker=args.worker)
    if status is not None:
        return status
    executor_lock.verify_or_exit()  # DBOS recovers at launch: only with the lock still ours
    try:
        if args.worker:
            from communication.node.worker_process import Worker

            return Worker(settings).run(recover=args.recover)
        from communication.app.factory import create_app
        from communication.node.serving import serve

        return EXIT_OK if serve(create_app(settings, compat=compat), settings) else EXIT_FAILED
    finally:
        executor_lock.release(settings)
