"""Request bodies of the v1 API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN, KEY_PATTERN, MAX_STORED_INT, WORKFLOW_ID_PATTERN

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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses (422 for validation is always added)."""
    descriptions = {
        400: "Malformed JSON (malformed_json)",
        404: "Not found (workflow_not_found, event_not_found, queue_not_found)",
        409: "Conflict (workflow_id_conflict, workflow_finished)",
        410: "No longer takes an answer (request_closed)",
        413: "Body too large (payload_too_large)",
        422: "Invalid parameter or body (validation_error, unknown_workflow_type, value_not_decodable)",
        429: "Too many live subscribers (too_many_subscriptions)",
        503: "Not ready (not_ready)",
    }
    return {s: {"model": ErrorEnvelope, "description": descriptions[s]} for s in (*statuses, 422)}
