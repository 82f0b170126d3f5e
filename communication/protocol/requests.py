"""Request and response bodies of the v1 API that are not resources of their own (see :mod:`.models`): starts,
messages, forks, the error envelope, read tokens, approval links, session posts, admin recovery.

Every body the HTTP layer accepts or answers is a model in this package; routes import them from here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.validation import (
    IDEMPOTENCY_KEY_PATTERN,
    KEY_PATTERN,
    MAX_PROMPT_CHARS,
    MAX_STORED_INT,
    WORKFLOW_ID_PATTERN,
)

#: A DBOS queue name as this API accepts it.
QUEUE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class StartWorkflowRequest(BaseModel):
    """Start a workflow: a registered type, or (with ``queue``) any DBOS workflow by name on that queue."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"type": "events", "input": {"n_steps": 3}, "workflow_id": "wf-events-1"},
                {"type": "summarize", "input": {"text": "hi", "times": 3}},
                {"type": "agent_run", "queue": "agents", "input": {"prompt": "hello"}, "workflow_id": "run-1"},
            ]
        },
    )

    type: str = Field(
        description="Registered workflow type (see GET /v1/workflow-types), or, with 'queue', the DBOS workflow "
        "name of another application's workflow.",
        max_length=256,
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="Input object, validated by the type's schema. Typed types (workflow_type) and workflows "
        "started by name receive its members as keyword arguments.",
    )
    args: list[Any] | None = Field(
        None,
        max_length=256,
        description="Positional arguments; only for workflows started by name on a queue.",
    )
    queue: str | None = Field(
        None,
        pattern=QUEUE_NAME_PATTERN,
        description="DBOS queue to enqueue on. Required to start a workflow this server has no type for (it is "
        "enqueued by name; the queue's own application runs it). 404 queue_not_found if no such queue exists.",
    )
    workflow_id: str | None = Field(
        None,
        pattern=WORKFLOW_ID_PATTERN,
        description="Caller-chosen id. Starting an existing id returns that workflow (200) and runs nothing.",
    )


class SendMessageRequest(BaseModel):
    """A message for a workflow."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "topic": "notification",
                    "message": {"approved": True, "message": "Approved by admin"},
                    "idempotency_key": "approval-42",
                }
            ]
        },
    )

    topic: str = Field("notification", pattern=KEY_PATTERN, description="Topic the workflow receives on.")
    message: Any = Field(description="Any JSON value.")
    idempotency_key: str | None = Field(
        None,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes the send exactly-once per workflow. The Idempotency-Key header works too.",
    )


class ForkRequest(BaseModel):
    """Fork a workflow from a step."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"start_step": 2}]})

    start_step: int = Field(
        ge=1, le=MAX_STORED_INT, description="First step to re-execute; earlier steps are replayed."
    )


class ErrorDetail(BaseModel):
    """The ``error`` member of every error response."""

    code: str = Field(examples=["workflow_not_found"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    """Every non-2xx JSON response."""

    error: ErrorDetail


class ReadTokenRequest(BaseModel):
    """Options for a new read token."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ttl_seconds": 600}]})

    ttl_seconds: float | None = Field(
        None, ge=1, le=86400, description="Lifetime; default read_token_ttl_seconds (900)."
    )


class RecoverRequest(BaseModel):
    """Executors whose pending workflows another process should take over."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"executor_ids": ["node-b"]}]})

    executor_ids: list[str] = Field(
        min_length=1, max_length=100, description="DBOS executor ids of processes that will never come back."
    )


class RecoverResult(BaseModel):
    """The workflows put back on their queues."""

    executor_ids: list[str]
    recovered: list[str] = Field(description="Ids of the re-enqueued workflows; any live process may run them.")


class CreateLinkRequest(BaseModel):
    """What a new callback link asks for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"topic": "notification", "prompt": "Refund order 42?", "ttl_seconds": 3600}]},
    )

    topic: str = Field("notification", pattern=KEY_PATTERN, description="Topic the decision is delivered on.")
    prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="What the approver is asked (shown on the page).")
    ttl_seconds: float | None = Field(
        None, ge=1, le=30 * 86400, description="Lifetime; default callback_link_ttl_seconds (86400)."
    )


class SessionEventIn(BaseModel):
    """One event from a producer."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"type": "progress", "data": {"pct": 40}, "id": "evt-7"}]}
    )

    type: str = Field("message", pattern=KEY_PATTERN, description="'done' or 'timeout' closes the session.")
    data: Any = Field(None, description="Any JSON value.")
    id: str | None = Field(None, pattern=IDEMPOTENCY_KEY_PATTERN, description="Event id: reposts are duplicates.")


class PostAck(BaseModel):
    """Acknowledgement of a stored event."""

    session_id: str
    event_id: str
    outcome: str = Field(description="'delivered' or 'duplicate'.")
