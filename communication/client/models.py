"""Response models the client adds to :mod:`communication.protocol.models` (which it reuses for everything else).

These describe answers whose server side lives elsewhere (workflow types, live frames, sessions, replies); they
follow docs/live-contract.md field for field and accept extra fields, so a newer server does not break them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.models import WorkflowInfo


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class StartedWorkflow(WorkflowInfo):
    """The answer to a start: the workflow's status and whether this call created it."""

    created: bool = Field(description="False when the workflow id already existed (nothing was started).")


class WorkflowTypeInfo(_Open):
    """One registered workflow type, with the JSON schema of its input."""

    type: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] = Field(default_factory=dict, description="The result's schema; {} = any JSON.")


class LiveEnd(_Open):
    """The terminal frame of a live tail or watch.

    ``reason`` is ``closed`` (the workflow closed the stream) or ``workflow_finished``; ``next_offset`` is where
    a later read would continue (stream and session tails only).
    """

    reason: str
    next_offset: int | None = None
    workflow_status: str | None = None


class FeedFrame(_Open):
    """One frame of a workflow feed (``GET /v1/workflows/{id}/feed``; QUICK_REFERENCE.md "Feed").

    ``kind`` is ``status`` (``status``), ``event`` (``key``, ``version``, ``value``), ``stream`` (``key``,
    ``offset``, ``value``) or ``end`` (``status``, ``output`` or ``error``); an event or stream value the server
    cannot decode has ``error`` (``{"code": "value_not_decodable", ...}``) instead of ``value``. ``id`` is the
    opaque cursor after this frame: ``feed(..., cursor=frame.id)`` continues right after it.
    """

    id: str
    kind: str
    key: str | None = None
    version: int | None = None
    offset: int | None = None
    value: Any = None
    status: str | None = None
    output: Any = None
    error: Any = None


class SessionEvent(_Open):
    """One event of a durable session."""

    type: str
    data: Any = None
    id: str | None = None
    timestamp: float | str | None = None


class SessionItem(BaseModel):
    """A session event at its durable offset."""

    offset: int
    value: SessionEvent


class SessionSnapshot(_Open):
    """Session events from an offset; continue from ``next_offset``."""

    session_id: str
    values: list[SessionItem]
    next_offset: int
    closed: bool = False


class SessionPostResult(_Open):
    """The answer to a session post: stored now (``delivered``) or already stored under this id (``duplicate``)."""

    session_id: str
    event_id: str
    outcome: Literal["delivered", "duplicate"]


class Reply(BaseModel):
    """A workflow's answer to a :meth:`~communication.client.Client.send_and_wait` request."""

    workflow_id: str
    request_id: str
    value: Any
    outcome: Literal["delivered", "duplicate"] = Field(
        description="Whether the request was stored by this call or had already been delivered (a retry)."
    )
