"""Request bodies of the v1 API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN, KEY_PATTERN, MAX_STORED_INT, WORKFLOW_ID_PATTERN


class StartWorkflowRequest(BaseModel):
    """Start a workflow of a registered type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "events", "input": {"n_steps": 3}, "workflow_id": "wf-events-1"}]},
    )

    type: str = Field(description="Registered workflow type (see GET /v1/workflow-types).", max_length=128)
    input: dict[str, Any] = Field(default_factory=dict, description="Input object, validated by the type's model.")
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
        404: "Not found (workflow_not_found, event_not_found)",
        409: "Conflict (workflow_id_conflict, workflow_finished)",
        413: "Body too large (payload_too_large)",
        422: "Invalid parameter or body (validation_error, unknown_workflow_type)",
        503: "Not ready (not_ready)",
    }
    return {s: {"model": ErrorEnvelope, "description": descriptions[s]} for s in (*statuses, 422)}
