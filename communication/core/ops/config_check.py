"""Start-up validation of the configuration, with messages that name the setting and say what is wrong.

pydantic checks each field on its own (types, ranges, patterns); this module checks what needs the file system or
several fields at once: the database URL's TLS parameters (``sslmode`` value, certificate and key files exist and
are readable, client certificate and key come together), worker mode needing a queue, a port for worker metrics.
Both ``python server.py`` and the worker call :func:`load_settings` then :func:`check_settings` before anything
starts, and exit with status 2 and one line per problem.

Secrets never reach logs: :func:`mask_url` hides the password (and password-like query parameters) of a URL.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, ValidationError

from communication.core.settings import Settings

log = logging.getLogger("communication.config")

#: libpq's accepted ``sslmode`` values.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: URL query parameters naming files that must exist and be readable.
SSL_FILE_PARAMS = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
#: Query parameters whose values are secrets.
SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile"})
MASK = "***"

Mode = Literal["server", "worker"]


@dataclass(frozen=True)
class Problem:
    """One configuration problem: which setting (its environment variable) and what is wrong."""

    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class ConfigError(ValueError):
    """The configuration is unusable; ``problems`` lists every reason (not just the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (the database URL has two accepted names)."""
    if field == "database_url":
        return "DBOS_SYSTEM_DATABASE_URL (or COMM_DATABASE_URL)"
    return f"COMM_{field.upper()}"


def _field_of(loc: str) -> str:
    """The settings field an error location names (pydantic reports aliased fields by their alias)."""
    if loc in Settings.model_fields:
        return loc
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if loc in choices:
            return name
    return loc


def mask_url(url: str | None) -> str:
    """``url`` with its password and password-like query parameters replaced by ``***``; safe to log.

    Unparseable input is masked entirely rather than risked in a log line.
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if has_password else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            masked = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
            query = urlencode(masked, safe="/*:", quote_via=quote)
        if (netloc, query) == (parts.netloc, parts.query):
            return url  # nothing secret; keep it byte for byte (urlunsplit would turn sqlite:/// into sqlite:/)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return MASK


def load_settings(overrides: dict[str, Any] | None = None, env_file: Path | None = None) -> Settings:
    """Read :class:`Settings` (``overrides`` > environment > ``env_file``, default ``.env``), as a :class:`ConfigError`.

    Raises:
        ConfigError: one :class:`Problem` per invalid field, named by its environment variable. Input values are
            not echoed (they may be secrets).
    """
    try:
        if env_file is not None:
            return Settings(_env_file=env_file, **(overrides or {}))
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = err.get("loc") or ("?",)
            problems.append(Problem(env_name(_field_of(str(loc[0]))), str(err.get("msg", "invalid value"))))
        raise ConfigError(problems) from None


def _check_file(setting: str, param: str, value: str, problems: list[Problem]) -> None:
    if param == "sslrootcert" and value == "system":
        return  # libpq 16+: use the system's trusted roots
    path = Path(value).expanduser()
    if not path.is_file():
        problems.append(Problem(setting, f"{param} file {str(path)!r} does not exist"))
    elif not os.access(path, os.R_OK):
        problems.append(Problem(setting, f"{param} file {str(path)!r} is not readable by this process"))


def check_database_url(url: str | None, setting: str = env_name("database_url")) -> list[Problem]:
    """Problems with a system database URL's TLS parameters (none for SQLite without TLS parameters)."""
    if not url:
        return []
    problems: list[Problem] = []
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if url.startswith("sqlite"):
        tls = sorted(k for k in params if k.startswith("ssl"))
        if tls:
            problems.append(Problem(setting, f"TLS parameters {tls} make no sense for an SQLite database"))
        return problems
    if not parts.hostname and "host" not in params:
        problems.append(Problem(setting, "the Postgres URL names no host (postgresql://user@host:5432/dbname)"))
    if not parts.path.strip("/"):
        problems.append(Problem(setting, "the Postgres URL names no database (…/dbname at the end)"))
    mode = params.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        problems.append(Problem(setting, f"sslmode {mode!r} is not one of {', '.join(SSL_MODES)}"))
    for param in SSL_FILE_PARAMS:
        if param in params:
            _check_file(setting, param, params[param], problems)
    if ("sslcert" in params) != ("sslkey" in params):
        problems.append(Problem(setting, "sslcert and sslkey must be given together (client certificate and key)"))
    if mode in ("verify-ca", "verify-full") and "sslrootcert" not in params:
        # libpq then falls back to ~/.postgresql/root.crt; say so rather than fail at the first connection.
        log.warning("%s: sslmode=%s without sslrootcert uses ~/.postgresql/root.crt", setting, mode)
    return problems


def check_workflow_modules(settings: Settings) -> list[Problem]:
    """Import every configured workflow module (registering its types); one problem per module that fails.

    Importing here, before anything starts, turns a typo in ``COMM_WORKFLOWS`` / ``--workflows`` or a module that
    raises into one line and exit status 2 instead of a traceback from inside the server's start-up. Importing a
    module twice is a no-op, so the later import by :mod:`communication.node.runtime` costs nothing.
    """
    problems = []
    for name in settings.workflows:
        try:
            importlib.import_module(name)
        except Exception as exc:
            log.debug("importing workflow module %r failed", name, exc_info=exc)
            problems.append(
                Problem(
                    "COMM_WORKFLOWS (--workflows)",
                    f"cannot import workflow module {name!r}: {type(exc).__name__}: {exc}",
                )
            )
    return problems


def check_settings(settings: Settings, mode: Mode = "server") -> None:
    """Validate ``settings`` for a server or a worker process, logging warnings for risky but legal choices.

    Raises:
        ConfigError: listing every problem found.
    """
    problems = check_database_url(settings.database_url)
    if mode == "worker" and not settings.work_queue:
        problems.append(Problem(env_name("work_queue"), "must be set in worker mode (the queue this worker executes)"))
    if settings.execute_queue_in_http and not settings.work_queue:
        problems.append(Problem(env_name("execute_queue_in_http"), "needs COMM_WORK_QUEUE to be set"))
    problems.extend(check_workflow_modules(settings))
    artifact_dir = settings.pipeline_artifact_dir
    if artifact_dir is not None and artifact_dir.exists() and not artifact_dir.is_dir():
        problems.append(Problem(env_name("pipeline_artifact_dir"), f"{str(artifact_dir)!r} is not a directory"))
    if problems:
        raise ConfigError(problems)
    if not settings.is_sqlite() and not settings.executor_id:
        log.warning(
            "%s is unset: every process sharing one Postgres database needs a distinct executor id, or a restarting "
            "process would recover workflows another live process is running",
            env_name("executor_id"),
        )
    if settings.is_sqlite() and settings.work_queue and mode == "server" and not settings.execute_queue_in_http:
        log.warning("workflow starts are enqueued on %r; start a worker on the same SQLite file", settings.work_queue)
