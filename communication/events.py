"""Reading workflow events: all of them, or one key with a bounded blocking wait.

DBOS's ``get_event`` returns ``None`` both for "timed out" and for a value that *is* ``None``, and waits the
full timeout for a finished workflow that never set the key. We avoid both traps by reading the durable
event history (which also gives each key a version) and waiting only on DBOS's change signal, re-checking
the workflow's status after every wake-up.
"""

from __future__ import annotations

import asyncio
import time

from communication import store
from communication.errors import EventNotFound, WorkflowNotFound
from communication.models import EventOut, EventsOut, EventValueOut
from communication.settings import Settings


class EventService:
    """Event reads over DBOS's system database."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _recheck_interval(self) -> float:
        # SQLite has no push signal from other processes: re-read at the polling interval. On Postgres the
        # NOTIFY wakes us; the re-check is only a safety net for a dropped notification.
        return self._settings.sqlite_polling_interval_sec if self._settings.is_sqlite() else 0.5

    async def all(self, workflow_id: str) -> EventsOut:
        """Every event's latest value and version. Never blocks. Raises WorkflowNotFound."""
        status, events = await asyncio.to_thread(store.read_events, workflow_id)
        if status is None:
            raise WorkflowNotFound(workflow_id)
        return EventsOut(
            workflow_id=workflow_id,
            status=status,
            events={k: EventValueOut(value=v.value, version=v.version) for k, v in events.items()},
        )

    async def get(self, workflow_id: str, key: str, timeout: float, after_version: int | None = None) -> EventOut:
        """The value of ``key``, waiting up to ``timeout`` seconds for it to be set.

        With ``after_version``, wait for a value newer than that version instead (a progress bar waits for
        the next value rather than polling).

        Raises:
            WorkflowNotFound: no such workflow.
            EventNotFound: not set in time (``details.reason == 'timeout'``), or the workflow has finished
                without setting it (``'workflow_finished'``, answered at once).
        """
        deadline = time.monotonic() + timeout
        floor = -1 if after_version is None else after_version
        with store.event_signal(workflow_id, key) as signal:
            while True:
                signal.clear()  # before the read, so a write after it leaves the signal set
                status, events = await asyncio.to_thread(store.read_events, workflow_id)
                if status is None:
                    raise WorkflowNotFound(workflow_id)
                found = events.get(key)
                if found is not None and found.version > floor:
                    return EventOut(workflow_id=workflow_id, key=key, value=found.value, version=found.version)
                if store.is_terminal(status):
                    raise EventNotFound(
                        f"workflow {workflow_id!r} finished ({status}) without setting {key!r}"
                        + ("" if after_version is None else f" after version {after_version}"),
                        workflow_id=workflow_id,
                        key=key,
                        reason="workflow_finished",
                        workflow_status=status,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EventNotFound(
                        f"event {key!r} of workflow {workflow_id!r} was not set within {timeout:g} s",
                        workflow_id=workflow_id,
                        key=key,
                        reason="timeout",
                        workflow_status=status,
                    )
                await signal.wait_async(min(remaining, self._recheck_interval()))
