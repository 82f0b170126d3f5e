"""The one logging setup of server and worker processes."""

from __future__ import annotations

import logging

from communication.core.settings import Settings


def configure_logging(settings: Settings) -> None:
    """One structured line per record: time, level, logger, message."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
