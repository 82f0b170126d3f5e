"""Durable session streams for external producers (not DBOS workflows).

A session is a workflow whose stream ``events`` producers append to *directly*: each post is one durable write
(``communication.adapter.session_store.append_event``: idempotent by event id, ordered, closing on ``done`` /
``timeout``), with no relay through this workflow's ``recv``. The workflow only keeps the session's lifetime:
it sleeps until the idle deadline (a durable ``recv`` timeout, woken early by the message a closing post
sends), then closes the stream with a ``timeout`` event if nothing was posted meanwhile - the check and the
close are one transaction, so a post racing with the timeout either lands first or is refused.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.adapter import session_store
from communication.core.registry import registry
from communication.protocol.errors import ValidationFailed
from communication.protocol.names import STATUS_EVENT

SESSION_TOPIC = "session_event"  # only closing posts send on it: they wake the workflow so it finishes now
SESSION_STREAM = "events"
CLOSING_TYPES = frozenset({"done", "timeout"})
IDLE_TIMEOUT_EVENT_ID = "session-idle-timeout"
#: Event ids the server writes itself; a producer posting one would pre-empt (or fake) the server's event.
RESERVED_EVENT_IDS = frozenset({IDLE_TIMEOUT_EVENT_ID})
#: The type (and DBOS workflow name) of a session's workflow.
SESSION_TYPE = "session"
SESSION_PREFIX = "session:"
#: Session ids: the key pattern, short enough that ``session:`` + the id is a valid workflow id (at most 128
#: characters, first character a letter or digit).
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,119}$"
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)


def session_workflow_id(session_id: str) -> str:
    """The workflow id that backs a session (sessions and workflows share one id space)."""
    return f"{SESSION_PREFIX}{session_id}"


def check_session_id(session_id: str) -> str:
    """``session_id`` if it is a valid session id. Raises ValidationFailed (field ``session_id``)."""
    if not _SESSION_ID_RE.fullmatch(session_id):
        raise ValidationFailed("invalid session id", field="session_id", pattern=SESSION_ID_PATTERN)
    return session_id


def check_not_session_namespace(type_name: str, workflow_id: str | None) -> None:
    """Refuse a workflow of another type in the ``session:`` id namespace (sessions' workflows live there, and a
    session post writes into whatever workflow holds ``session:{sid}``). Raises ValidationFailed (422)."""
    if workflow_id is not None and workflow_id.startswith(SESSION_PREFIX) and type_name != SESSION_TYPE:
        raise ValidationFailed(
            f"workflow ids starting with {SESSION_PREFIX!r} are reserved for sessions",
            field="workflow_id",
            reason="reserved_namespace",
        )


class SessionInput(BaseModel):
    """Input of the ``session`` workflow."""

    idle_timeout_seconds: float = Field(300.0, gt=0, le=7 * 24 * 3600, description="Close after this long idle.")


# Retried: its reads go to the database directly (not through DBOS's own retrying calls), and a failure here during
# a database outage must not end the session (an ERROR workflow would refuse every later post as closed).
# 0.5 s growing by a factor 1.2 per attempt: about an hour of outage in 40 attempts, a short outage costs a few seconds.
@DBOS.step(name="session_idle_check", retries_allowed=True, interval_seconds=0.5, backoff_rate=1.2, max_attempts=40)
async def idle_check(workflow_id: str, idle_timeout: float) -> dict[str, Any]:
    """Close the session with a ``timeout`` event if it has been idle for ``idle_timeout`` seconds.

    Returns ``{"closed", "remaining", "events", "closed_by"}``. At-least-once safe: the timeout event has a fixed
    event id, so a retried step appends it once.
    """
    while True:
        state = await asyncio.to_thread(session_store.session_state, workflow_id, SESSION_STREAM)
        if state is None or state.closed:
            events = state.events if state else 0
            return {"closed": True, "remaining": 0.0, "events": events, "closed_by": state and state.closed_by}
        now = time.time()
        remaining = state.last_activity + idle_timeout - now
        if remaining > 0:
            return {"closed": False, "remaining": remaining, "events": state.events, "closed_by": None}
        event = {
            "type": "timeout",
            "data": {"reason": "idle", "idle_seconds": idle_timeout},
            "id": None,
            "timestamp": now,
        }
        out = await asyncio.to_thread(
            session_store.append_event,
            workflow_id,
            SESSION_STREAM,
            event,
            IDLE_TIMEOUT_EVENT_ID,
            close=True,
            wake_topic=SESSION_TOPIC,
            idle_before=now - idle_timeout,
        )
        if out.result in ("delivered", "duplicate"):
            return {"closed": True, "remaining": 0.0, "events": state.events + 1, "closed_by": "timeout"}
        # "active": a post landed meanwhile; "closed": a closing post won - re-read either way.


@registry.register(
    SESSION_TYPE,
    SessionInput,
    "Durable session stream: events posted by external producers, in order, exactly once; 'done' closes it.",
)
async def session_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Keep the session open until ``done`` / ``timeout`` is posted or it has been idle too long."""
    p = SessionInput.model_validate(params)
    await DBOS.set_event_async(STATUS_EVENT, "open")
    wid = DBOS.workflow_id
    assert wid is not None
    while True:
        state = await idle_check(wid, p.idle_timeout_seconds)
        if state["closed"]:
            break
        # Durable wait: survives restarts; a closing post's message ends it early.
        await DBOS.recv_async(SESSION_TOPIC, timeout_seconds=state["remaining"])
    await DBOS.set_event_async(STATUS_EVENT, "closed")
    return {"events": state["events"], "closed_by": state["closed_by"]}
