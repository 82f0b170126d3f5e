"""Reading workflow events: all of them, or one key with a bounded blocking wait.

DBOS's ``get_event`` returns ``None`` both for "timed out" and for a value that *is* ``None``, and waits the
full timeout for a finished workflow that never set the key. We avoid both traps by reading the durable
event history (which also gives each key a version) and waiting only on DBOS's change signal (the hub's feed),
settling from the database after the wait.
"""

from __future__ import annotations

import asyncio

from communication.adapter import store
from communication.core.live.hub import End, Hub
from communication.core.settings import Settings
from communication.protocol.errors import EventNotFound, WorkflowNotFound
from communication.protocol.models import EventOut, EventsOut, EventValueOut


def _event_out(workflow_id: str, key: str, found: store.EventValue) -> EventOut:
    """One key's answer; raises ValueNotDecodable for a value of only this key that cannot be decoded."""
    if found.error is not None:
        raise found.error
    return EventOut(workflow_id=workflow_id, key=key, value=found.value, version=found.version)


class EventService:
    """Event reads over DBOS's system database; blocking reads wait on the process's fan-out hub."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self._settings = settings
        self._hub = hub

    async def all(self, workflow_id: str) -> EventsOut:
        """Every event's latest value and version. Never blocks. Raises WorkflowNotFound."""
        status, events = await asyncio.to_thread(store.read_events, workflow_id)
        if status is None:
            raise WorkflowNotFound(workflow_id)
        return EventsOut(
            workflow_id=workflow_id,
            status=status,
            events={
                k: EventValueOut(value=v.value, version=v.version, error=None if v.error is None else v.error.to_dict())
                for k, v in events.items()
            },
        )

    async def get(self, workflow_id: str, key: str, timeout: float, after_version: int | None = None) -> EventOut:
        """The value of ``key``, waiting up to ``timeout`` seconds for it to be set.

        With ``after_version``, wait for a value newer than that version instead (a progress bar waits for
        the next value rather than polling). The wait rides on the hub's event feed for the workflow, so it wakes
        on the write's commit in this process, on LISTEN/NOTIFY from others, and ends as soon as the workflow
        finishes; many waiters on one workflow share one database reader.

        Raises:
            WorkflowNotFound: no such workflow.
            TooManySubscriptions, SubscriptionCapacity: the wait would exceed a live-subscription cap.
            ValueNotDecodable: this key's value cannot be decoded (another key's undecodable value never fails it).
            EventNotFound: not set in time (``details.reason == 'timeout'``), or the workflow has finished
                without setting it (``'workflow_finished'``, answered at once).
        """
        floor = -1 if after_version is None else after_version
        status, events = await asyncio.to_thread(store.read_events, workflow_id)
        if status is None:
            raise WorkflowNotFound(workflow_id)
        found = events.get(key)
        if found is not None and found.version > floor:
            return _event_out(workflow_id, key, found)
        if not store.is_terminal(status) and timeout > 0:
            newest = max((v.version for v in events.values()), default=0)
            watch = self._hub.follow_events(workflow_id, newest)  # existence and current values just read
            try:
                async with asyncio.timeout(timeout):
                    async for item in watch:
                        if isinstance(item, End):
                            break  # the workflow finished (or the server is stopping): settle below
                        change = item.value
                        if change["key"] == key and change["version"] > floor and "error" in change:
                            break  # this value cannot be decoded: the read below raises its error
                        if change["key"] == key and change["version"] > floor:
                            return EventOut(
                                workflow_id=workflow_id, key=key, value=change["value"], version=change["version"]
                            )
            except TimeoutError:
                pass
            finally:
                await watch.aclose()
            status, events = await asyncio.to_thread(store.read_events, workflow_id)
            found = events.get(key)
            if found is not None and found.version > floor:
                return _event_out(workflow_id, key, found)
        if status is not None and store.is_terminal(status):
            raise EventNotFound(
                f"workflow {workflow_id!r} finished ({status}) without setting {key!r}"
                + ("" if after_version is None else f" after version {after_version}"),
                workflow_id=workflow_id,
                key=key,
                reason="workflow_finished",
                workflow_status=status,
            )
        raise EventNotFound(
            f"event {key!r} of workflow {workflow_id!r} was not set within {timeout:g} s",
            workflow_id=workflow_id,
            key=key,
            reason="timeout",
            workflow_status=status,
        )
