"""DBOS's launch logs, condensed: one summary line instead of one line per schema migration (~125 on a new database).

At ``debug`` level nothing is dropped (the individual lines are then wanted).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

from communication.core.settings import Settings

_MIGRATION = re.compile(r"^Applying DBOS .*schema migration \d+$")


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
            logging.getLogger("communication.core.ops.runtime").info(
                "applied %d DBOS schema migrations to the system database", counter.count
            )
