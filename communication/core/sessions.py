"""Durable sessions: producers post events, subscribers read them in order (snapshot or live via the hub).

A post is ONE durable write: the event is appended straight to the session workflow's stream, idempotent by the
producer's event id, in one transaction (``communication.adapter.session_store``); subscribers' feeds are woken
by DBOS's own post-commit stream signal, and in this process at once (``written``). The session's workflow is
started on the first post (idempotently) and only keeps its lifetime (idle timeout); it relays nothing. A post is
acknowledged only once committed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from communication.adapter import session_store
from communication.core.library_workflows.session_workflow import (
    CLOSING_TYPES,
    RESERVED_EVENT_IDS,
    SESSION_STREAM,
    SESSION_TOPIC,
    SESSION_TYPE,
    check_session_id,
    session_workflow_id,
)
from communication.core.messages import MessageService
from communication.core.settings import Settings
from communication.core.streams import StreamService
from communication.core.workflows import WorkflowControl
from communication.protocol.errors import (
    NotASession,
    SessionClosed,
    SessionNotFound,
    ValidationFailed,
    WorkflowNotFound,
)
from communication.protocol.models import StreamSnapshot
from communication.protocol.validation import check_idempotency_key, check_key


class SessionService:
    """Sessions over the ``session`` workflow type."""

    def __init__(
        self,
        settings: Settings,
        workflows: WorkflowControl,
        messages: MessageService,
        streams: StreamService,
        written: Callable[[str, str], None] | None = None,
    ) -> None:
        """Args:
        written: told ``(workflow id, stream key)`` right after a post committed (the hub wakes that stream's
            feed at once instead of waiting for the write's notification or the next change poll).
        """
        self._written = written
        self._settings = settings
        self._workflows = workflows
        self._messages = messages
        self._streams = streams

    async def open(self, session_id: str) -> str:
        """Start the session's workflow if needed; return its workflow id."""
        check_session_id(session_id)
        wid = session_workflow_id(session_id)
        await self._workflows.start(
            SESSION_TYPE, {"idle_timeout_seconds": self._settings.session_idle_timeout_seconds}, wid
        )
        return wid

    async def post(
        self, session_id: str, event_type: str, data: Any, event_id: str | None, payload: Any = None
    ) -> dict[str, Any]:
        """Store one event for the session (creating it on first post).

        Args:
            payload: the body exactly as a seed-path producer posted it; stored with the event so ``GET
                /stream/{sid}`` serves it unchanged (``None``: a v1 post, served as its type, data and id).

        Returns ``{"session_id", "event_id", "outcome"}``; ``outcome`` is ``duplicate`` for a repeated event id.

        Raises:
            SessionClosed: the session already received ``done``/``timeout`` or timed out idle.
            NotASession: ``session:{session_id}`` is a workflow of another type.
            ValidationFailed: an invalid id or type, or an event id the server reserves for its own events.
        """
        check_key(event_type, "type")
        check_session_id(session_id)
        if event_id is not None:
            check_idempotency_key(event_id, "id")
            if event_id in RESERVED_EVENT_IDS:
                raise ValidationFailed(f"event id {event_id!r} is reserved for the server's own events", field="id")
        wid = session_workflow_id(session_id)
        event_id = event_id or str(uuid.uuid4())
        event: dict[str, Any] = {"type": event_type, "data": data, "id": event_id, "timestamp": time.time()}
        if payload is not None:
            event["posted"] = posted_recipe(payload, data)
        close = event_type in CLOSING_TYPES
        # The common case is one transaction: the session exists. Its workflow is started only when the append
        # finds no workflow (first post), then the append is retried.
        for _ in range(2):
            out = await asyncio.to_thread(
                session_store.append_event,
                wid,
                SESSION_STREAM,
                event,
                event_id,
                close=close,
                wake_topic=SESSION_TOPIC,
                workflow_name=SESSION_TYPE,
            )
            if out.result != "not_found":
                break
            await self.open(session_id)
        if out.result == "delivered" and self._written is not None:
            self._written(wid, SESSION_STREAM)
        if out.result == "other_type":
            raise NotASession(
                f"{wid!r} is a workflow of another type, not a session", session_id=session_id, workflow_id=wid
            )
        if out.result in ("closed", "not_found"):
            raise SessionClosed(f"session {session_id!r} is closed", session_id=session_id)
        return {"session_id": session_id, "event_id": event_id, "outcome": out.result}

    async def snapshot(self, session_id: str, offset: int, limit: int) -> dict[str, Any]:
        """The session's events from ``offset`` (never blocks).

        Raises:
            WorkflowNotFound: no such session (reported with code ``session_not_found``).
        """
        check_session_id(session_id)
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
            "truncated": page.truncated,
        }


def posted_recipe(payload: Any, data: Any) -> Any:
    """How ``GET /stream/{sid}`` rebuilds the body a producer posted, without storing ``data`` a second time.

    ``"data"``: the body was the data itself (a seed post without a ``data`` member). ``{"template": body}``: the
    body with its ``data`` member (if any) set to null; the reader puts the event's ``data`` back in its place,
    keeping the posted member order. ``{"whole": body}``: the body as posted (no producer path creates this today).
    """
    if payload is data or payload == data:
        return "data"
    if isinstance(payload, dict):
        inner = payload.get("data")
        if inner is data or inner == data:
            return {"template": {k: (None if k == "data" else v) for k, v in payload.items()}}
    return {"whole": payload}
