"""The one logging setup of server and worker processes: one line per record, each warning once, DBOS's schema
migrations condensed into one summary line (unless the log level is ``debug``)."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

from communication.core.settings import Settings

_MIGRATION = re.compile(r"^Applying DBOS .*schema migration \d+$")


class WarnOnce(logging.Filter):
    """Lets each distinct warning (logger + text) through once per process.

    Start-up checks run where the process starts *and* in the app's lifespan (an embedding app has only the
    latter), so without this a configuration warning would print twice.
    """

    def __init__(self) -> None:
        super().__init__("warn-once")
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop a WARNING record already seen; everything else passes."""
        if record.levelno != logging.WARNING:
            return True
        key = (record.name, record.getMessage())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


def configure_logging(settings: Settings) -> None:
    """One structured line per record: time, level, logger, message; each warning once."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, WarnOnce) for f in handler.filters):
            handler.addFilter(WarnOnce())


class _CountMigrations(logging.Filter):
    def __init__(self) -> None:
        super().__init__("count-migrations")
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if _MIGRATION.match(record.getMessage()):
            self.count += 1
            return False
        return True


@contextlib.contextmanager
def condensed_migrations(settings: Settings) -> Iterator[None]:
    """While DBOS launches: drop its one-line-per-migration records, then log one summary line.

    At ``debug`` level nothing is dropped (the individual lines are then wanted).
    """
    if settings.log_level == "debug":
        yield
        return
    dbos_logger = logging.getLogger("dbos")
    counter = _CountMigrations()
    dbos_logger.addFilter(counter)
    try:
        yield
    finally:
        dbos_logger.removeFilter(counter)
        if counter.count:
            logging.getLogger("communication.node.runtime").info(
                "applied %d DBOS schema migrations to the system database", counter.count
            )
