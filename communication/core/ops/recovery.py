"""Recovering the workflows of an executor that will never come back.

DBOS records in every workflow's row the executor id of the process running it (``Settings.executor_id``;
``local`` when unset). A process that starts recovers the PENDING workflows of *its own* executor id (and
application version): it puts them back on their queue, from where exactly one process dequeues and resumes each
from its last completed step. So the normal fix for a crashed process is to start it again with the same id.

When a node is gone for good, any live process can take over its workflows with :func:`recover_executors`
(``POST /v1/admin/recover`` or ``python -m communication.node.worker --recover <id>``). The workflows are re-enqueued
(a workflow that had no queue goes to DBOS's internal queue, which every process executes) and run wherever a
process dequeues them. Only name executors that are really dead: a live one would then run the same workflows as
whoever dequeues them (DBOS's checkpoints keep completed steps from repeating, but the running ones would race).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from dbos import DBOS

from communication.adapter import lifecycle
from communication.protocol.errors import ValidationFailed

log = logging.getLogger("communication.core.ops.recovery")

#: Checks run before any recovery; the process entry point registers the executor-lock check here, which ends the
#: process if the lock was lost (a process that lost its lock must not re-enqueue anything).
_guards: list[Callable[[], None]] = []


def add_recovery_guard(guard: Callable[[], None]) -> None:
    """Run ``guard`` before every recovery (it raises or ends the process to prevent it)."""
    if guard not in _guards:
        _guards.append(guard)


def recover_executors(executor_ids: list[str]) -> list[str]:
    """Re-enqueue the PENDING workflows of ``executor_ids`` (of this application version); return their ids.

    Raises:
        ValidationFailed: no id given, or one of them is this process's own executor id.
    """
    ids = sorted({e for e in executor_ids if e})
    if not ids:
        raise ValidationFailed("name at least one executor id to recover", field="executor_ids")
    own = DBOS.executor_id
    if own in ids:
        raise ValidationFailed(
            f"{own!r} is this process's own executor id; it recovers its workflows at start",
            field="executor_ids",
        )
    for guard in list(_guards):
        guard()
    recovered = lifecycle.recover_pending_workflows(ids)
    log.warning("recovered %d workflows of executors %s: %s", len(recovered), ids, recovered)
    return recovered


async def recover_executors_async(executor_ids: list[str]) -> list[str]:
    """:func:`recover_executors` off the event loop."""
    return await asyncio.to_thread(recover_executors, executor_ids)
