"""Durable sessions: producers post events, subscribers read them in order (snapshot or live via the hub).

Posting starts the session's workflow on first use (idempotently) and sends the event as a message keyed by
the producer's event id, so a repeated post is acknowledged as a duplicate and stored once. A post is
acknowledged only after the message row is committed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from communication.core.control import WorkflowControl
from communication.core.messages import MessageService
from communication.core.session_workflow import SESSION_STREAM, SESSION_TOPIC, session_workflow_id
from communication.core.settings import Settings
from communication.core.streams import StreamService
from communication.protocol.errors import SessionClosed, SessionNotFound, WorkflowFinished, WorkflowNotFound
from communication.protocol.models import StreamSnapshot
from communication.protocol.validation import check_idempotency_key, check_key


class SessionService:
    """Sessions over the ``session`` workflow type."""

    def __init__(
        self, settings: Settings, workflows: WorkflowControl, messages: MessageService, streams: StreamService
    ) -> None:
        self._settings = settings
        self._workflows = workflows
        self._messages = messages
        self._streams = streams

    async def open(self, session_id: str) -> str:
        """Start the session's workflow if needed; return its workflow id."""
        check_key(session_id, "session_id")
        wid = session_workflow_id(session_id)
        await self._workflows.start(
            "session", {"idle_timeout_seconds": self._settings.session_idle_timeout_seconds}, wid
        )
        return wid

    async def post(self, session_id: str, event_type: str, data: Any, event_id: str | None) -> dict[str, Any]:
        """Store one event for the session (creating it on first post).

        Returns ``{"session_id", "event_id", "outcome"}``; ``outcome`` is ``duplicate`` for a repeated event id.

        Raises:
            SessionClosed: the session already received ``done``/``timeout`` or timed out idle.
        """
        check_key(event_type, "type")
        if event_id is not None:
            check_idempotency_key(event_id, "id")
        wid = await self.open(session_id)
        event_id = event_id or str(uuid.uuid4())
        event = {"type": event_type, "data": data, "id": event_id, "timestamp": time.time()}
        try:
            sent = await self._messages.send(wid, event, SESSION_TOPIC, idempotency_key=event_id)
        except WorkflowFinished as exc:
            raise SessionClosed(f"session {session_id!r} is closed", session_id=session_id) from exc
        return {"session_id": session_id, "event_id": event_id, "outcome": sent.outcome}

    async def snapshot(self, session_id: str, offset: int, limit: int) -> dict[str, Any]:
        """The session's events from ``offset`` (never blocks).

        Raises:
            WorkflowNotFound: no such session (reported with code ``session_not_found``).
        """
        check_key(session_id, "session_id")
        try:
            page: StreamSnapshot = await self._streams.snapshot(
                session_workflow_id(session_id), SESSION_STREAM, offset, limit
            )
        except WorkflowNotFound as exc:
            raise SessionNotFound(f"session {session_id!r} does not exist", session_id=session_id) from exc
        return {
            "session_id": session_id,
            "values": [v.model_dump() for v in page.values],
            "next_offset": page.next_offset,
            "closed": page.closed,
        }
