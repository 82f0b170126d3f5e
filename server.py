"""The durable workflow communication server's entry: ``python server.py`` (or ``--worker``).

Run ``python server.py`` (embedded SQLite under ./data) or set ``DBOS_SYSTEM_DATABASE_URL=postgresql://...``.
The application itself is :func:`communication.create_app`; this file only reads the configuration and serves.
"""

from __future__ import annotations

import logging
import sys

from communication.core.config_check import ConfigError, check_settings, load_settings, mask_url
from communication.http.app import create_app
from communication.node.logs import configure_logging
from communication.node.serving import serve

log = logging.getLogger("server")

__all__ = ["create_app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Read settings from the environment and serve; ``--worker`` runs a worker instead (no HTTP).

    Returns the exit status: 0 after a graceful shutdown, 2 for an invalid configuration (one line per problem).
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        from communication.node import worker

        return worker.main(args[1:])
    try:
        settings = load_settings()
        configure_logging(settings)
        check_settings(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    log.info(
        "serving on http://%s:%d (dashboard at /ui/, API docs at /docs), database %s",
        settings.host,
        settings.port,
        mask_url(settings.resolved_database_url()),
    )
    serve(create_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
