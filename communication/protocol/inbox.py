"""The wire contract of human input: a workflow's durable request (``communication.kit.ask``), the inbox that lists
requests across applications, and the answer envelope a waiting ``ask`` recognises.

A request lives in the asking workflow's event ``request.<topic>`` (portable JSON, so every process and every
application on the database reads it); its ``status`` is ``open`` until the workflow records ``answered`` or
``expired``. The inbox derives ``cancelled`` (the workflow ended while the request was open) from the workflow's
status. An answer travels as the message ``{"request": seq, "answer": <value>, "via": channel}`` on the topic,
sent exactly once under the idempotency key :func:`answer_key`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.names import REQUEST_EVENT_PREFIX

#: Stored statuses of a request (what the asking workflow records).
RequestState = Literal["open", "answered", "expired"]
#: Statuses the inbox reports (``cancelled``: the workflow ended while the request was open).
InboxStatus = Literal["open", "answered", "expired", "cancelled"]
#: Channels an answer came through.
AnswerChannel = Literal["api", "link", "dashboard", "cli", "client"]


def request_event_key(topic: str) -> str:
    """The event key under which a workflow records its request on ``topic``."""
    return REQUEST_EVENT_PREFIX + topic


def answer_key(workflow_id: str, topic: str, seq: int) -> str:
    """The idempotency key of the one answer to request ``seq`` on ``topic`` of ``workflow_id``."""
    return f"answer:{workflow_id}:{topic}:{seq}"


class StoredRequest(BaseModel):
    """The request as the workflow records it (the value of event ``request.<topic>``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    topic: str
    seq: int = Field(description="Distinguishes successive requests on one topic of one workflow.")
    prompt: str = ""
    answer_schema: dict[str, Any] = Field(alias="schema", description="JSON schema of a valid answer.")
    created_at: datetime
    deadline: datetime
    assignees: list[str] = Field(default_factory=list)
    status: RequestState = "open"
    link: dict[str, Any] | None = Field(None, description="The signed single-use link (CallbackLink as JSON).")
    closed_at: datetime | None = None


class InboxLinks(BaseModel):
    """Where to act on a request."""

    answer: str = Field(description="POST the answer here (JSON, validated against the schema).")
    workflow: str = Field(description="The workflow's status in the API.")
    dashboard: str = Field(description="The workflow's view in the dashboard.")
    signed: str | None = Field(None, description="The signed single-use link (no API key needed), if minted.")


class InboxItem(BaseModel):
    """One request for human input, as the inbox lists it."""

    workflow_id: str
    workflow_name: str | None = Field(None, description="The workflow's type (DBOS function name).")
    workflow_status: str
    application: str | None = Field(None, description="The DBOS application that runs the workflow.")
    topic: str
    seq: int
    prompt: str
    answer_schema: dict[str, Any] = Field(alias="schema", description="JSON schema of a valid answer.")
    created_at: datetime
    deadline: datetime
    assignees: list[str]
    status: InboxStatus
    closed_at: datetime | None = None
    links: InboxLinks

    model_config = ConfigDict(populate_by_name=True)


class InboxList(BaseModel):
    """Requests matching the inbox's filters, latest deadline first."""

    requests: list[InboxItem]


class AnswerResult(BaseModel):
    """An answer delivered to the waiting workflow (exactly once)."""

    workflow_id: str
    topic: str
    seq: int
    outcome: Literal["delivered"] = "delivered"
