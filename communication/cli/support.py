"""Plumbing of the ``wfc`` command line: options every command takes, exit codes, JSON arguments, output.

Every command accepts ``--json``, ``--verbose``, ``--url`` and ``--api-key`` (also before the command name, and
from ``$COMM_URL`` / ``$COMM_API_KEY``). :func:`command` adds them, builds the :class:`Cli` the command receives
as its first argument, and turns client exceptions into a message on stderr and a documented exit code.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from pydantic import BaseModel
from rich.console import Console

from communication.client import Client
from communication.client.base import API_KEY_ENV, URL_ENV
from communication.client.errors import (
    ApiError,
    ClientError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ReconnectsExhausted,
    Timeout,
    TransportError,
    Unauthorized,
)


class ExitCode(IntEnum):
    """Exit codes of ``wfc`` (documented in QUICK_REFERENCE.md)."""

    OK = 0
    ERROR = 1  # anything else: a server error, an unexpected answer
    USAGE = 2  # bad arguments, invalid JSON, or the server rejected the request as invalid (4xx validation)
    NOT_FOUND = 3  # no such workflow / event / session / endpoint
    TIMEOUT = 4  # a wait ended first: result not done, event not set, no reply
    UNREACHABLE = 5  # cannot connect to the server, or the connection kept failing
    CONFLICT = 6  # id used by another type, workflow finished, session closed
    UNAUTHORIZED = 7  # missing or wrong API key (401/403)
    WORKFLOW_FAILED = 8  # the workflow finished in ERROR, CANCELLED or MAX_RECOVERY_ATTEMPTS_EXCEEDED
    INTERRUPTED = 130  # Ctrl-C


def exit_code_for(error: ClientError) -> ExitCode:
    """The exit code for a client exception (order matters: an EventTimeout is a Timeout before a NotFound)."""
    if isinstance(error, Timeout):
        return ExitCode.TIMEOUT
    if isinstance(error, Unauthorized | Forbidden):
        return ExitCode.UNAUTHORIZED
    if isinstance(error, NotFound):
        return ExitCode.NOT_FOUND
    if isinstance(error, Conflict):
        return ExitCode.CONFLICT
    if isinstance(error, InvalidRequest):
        return ExitCode.USAGE
    if isinstance(error, TransportError | ReconnectsExhausted):
        return ExitCode.UNREACHABLE
    return ExitCode.ERROR


FAILED_STATUSES = frozenset({"ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


@dataclass
class GlobalOptions:
    """Options given before the command name (``wfc --url X status ID``)."""

    url: str | None = None
    api_key: str | None = None
    json: bool = False
    verbose: bool = False
    http_timeout: float = 10.0


@dataclass
class Cli:
    """What a command works with: the merged options, a client, and the two consoles."""

    url: str | None
    api_key: str | None
    json: bool
    verbose: bool
    http_timeout: float
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    def client(self) -> Client:
        """A client for the configured server (use as a context manager)."""
        return Client(self.url, self.api_key, timeout=self.http_timeout)

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """Print ``data`` as one JSON document with ``--json``, else call ``human`` (default: pretty JSON)."""
        if self.json or human is None:
            self.print_json(data)
        else:
            human()

    def print_json(self, data: Any) -> None:
        """One JSON document on one line of stdout (JSON Lines for live commands)."""
        sys.stdout.write(json.dumps(to_jsonable(data), default=str) + "\n")
        sys.stdout.flush()

    def note(self, message: str) -> None:
        """A human remark on stderr (never mixed into stdout, which scripts parse)."""
        self.err.print(message, style="dim", highlight=False)

    def fail(self, message: str, code: ExitCode, details: dict[str, Any] | None = None) -> typer.Exit:
        """Report an error on stderr and return the ``typer.Exit`` to raise."""
        if self.json:
            body = {"error": {"message": message, "exit_code": int(code), **(details or {})}}
            sys.stderr.write(json.dumps(body, default=str) + "\n")
        else:
            self.err.print(f"[bold red]error:[/] {message}", highlight=False)
            if self.verbose and details:
                self.err.print_json(json.dumps(details, default=str))
        return typer.Exit(int(code))


def to_jsonable(data: Any) -> Any:
    """Models and lists of models as plain JSON values."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [to_jsonable(d) for d in data]
    if isinstance(data, dict):
        return {k: to_jsonable(v) for k, v in data.items()}
    return data


def parse_json_arg(text: str, what: str) -> Any:
    """A JSON argument: literal JSON, ``@path`` to read a file, or ``-`` to read stdin.

    Raises:
        typer.BadParameter: not valid JSON (exit code 2).
    """
    if text == "-":
        source = sys.stdin.read()
    elif text.startswith("@"):
        try:
            source = Path(text[1:]).read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {text[1:]!r}: {exc.strerror}", param_hint=what) from exc
    else:
        source = text
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at position {exc.pos}): {source[:60]!r}"
        raise typer.BadParameter(problem, param_hint=what) from exc


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output (JSON Lines when live).")]
VerboseFlag = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests and reconnects; error details.")]
UrlOption = Annotated[str | None, typer.Option("--url", "-u", help=f"Server base URL [env {URL_ENV}].")]
ApiKeyOption = Annotated[str | None, typer.Option("--api-key", help=f"API key [env {API_KEY_ENV}].")]

_COMMON = [
    # typer passes the click context to a parameter annotated typer.Context: the global options live in it.
    inspect.Parameter("typer_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonFlag),
    inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=VerboseFlag),
    inspect.Parameter("url", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=UrlOption),
    inspect.Parameter("api_key", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ApiKeyOption),
]


def configure_logging(verbose: bool) -> None:
    """Reconnect notices (warnings) always reach stderr; ``--verbose`` adds every HTTP request."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., None]], Any]:
    """Register ``fn(cli, ...)`` as a command of ``app`` with the common options added.

    The function's first parameter receives the :class:`Cli`; its other parameters are the command's own
    arguments and options, declared the usual typer way.
    """

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(fn, eval_str=True)
        own = list(signature.parameters.values())[1:]  # drop `cli`

        @functools.wraps(fn)
        def run(
            *args: Any,
            typer_context: typer.Context,
            json_output: bool,
            verbose: bool,
            url: str | None,
            api_key: str | None,
            **kw: Any,
        ) -> None:
            glob: GlobalOptions = typer_context.find_root().obj or GlobalOptions()
            cli = Cli(
                url=url or glob.url,
                api_key=api_key or glob.api_key,
                json=json_output or glob.json,
                verbose=verbose or glob.verbose,
                http_timeout=glob.http_timeout,
            )
            configure_logging(cli.verbose)
            try:
                fn(cli, *args, **kw)
            except ApiError as exc:
                details = {"code": exc.code, "status": exc.status, "details": exc.details}
                raise cli.fail(exc.message, exit_code_for(exc), details) from None
            except ClientError as exc:
                raise cli.fail(str(exc), exit_code_for(exc), {"type": type(exc).__name__}) from None
            except KeyboardInterrupt:
                raise cli.fail("interrupted", ExitCode.INTERRUPTED) from None

        hints = get_type_hints(fn, include_extras=True)
        run.__signature__ = signature.replace(parameters=[*own, *_COMMON])  # type: ignore[attr-defined]
        run.__annotations__ = {
            **{p.name: hints[p.name] for p in own if p.name in hints},
            **{p.name: p.annotation for p in _COMMON},
        }
        app.command(name, **kwargs)(run)
        return fn

    return register
