"""Is the system database reachable? One probe, used by ``/readyz`` and by a worker's health port."""

from __future__ import annotations

import asyncio
import logging

from communication.adapter import lifecycle

log = logging.getLogger("communication.core.ops.health")


def database_reachable() -> bool:
    """``True`` when DBOS is launched and its system database answers ``SELECT 1``."""
    try:
        lifecycle.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; say why at debug level
        log.debug("database not reachable: %s", exc)
        return False
    return True


async def database_reachable_async(timeout: float = 2.0) -> bool:
    """:func:`database_reachable` off the event loop, bounded by ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(database_reachable), timeout)
    except TimeoutError:
        return False
