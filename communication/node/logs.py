"""The one logging setup of server and worker processes: one line per record, each warning once. (DBOS's schema
migrations are condensed while it launches: :mod:`communication.core.ops.launch_logs`.)"""

from __future__ import annotations

import logging
import threading

from communication.core.settings import Settings


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
