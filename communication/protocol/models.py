"""Pydantic models of what the communication core returns (also the HTTP response bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class WorkflowInfo(BaseModel):
    """A workflow's durable status."""

    workflow_id: str = Field(examples=["wf-events-1"])
    type: str = Field(description="Registered workflow type (the DBOS workflow name).", examples=["events"])
    status: str = Field(
        description="DBOS status: PENDING, ENQUEUED, DELAYED, SUCCESS, ERROR, CANCELLED, "
        "MAX_RECOVERY_ATTEMPTS_EXCEEDED.",
        examples=["PENDING"],
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    executor_id: str | None = None
    queue_name: str | None = None
    forked_from: str | None = None
    input: Any = Field(None, description="The workflow's input object (detail views only).")
    output: Any = Field(None, description="The result, once SUCCESS (detail views only).")
    error: str | None = Field(None, description="The error, once ERROR (detail views only).")


class WorkflowList(BaseModel):
    """A page of workflows, newest first."""

    workflows: list[WorkflowInfo]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="The offset of the next page.")
    truncated: bool = Field(
        False, description="The page stopped at the byte budget (COMM_PAGE_MAX_BYTES); continue from next_offset."
    )


class WorkflowResult(BaseModel):
    """A workflow's outcome; ``done`` is false if it was still running when the wait ended."""

    workflow_id: str
    status: str
    done: bool
    output: Any = None
    error: str | None = None


class StepInfo(BaseModel):
    """One recorded step of a workflow."""

    step_id: int
    name: str
    output: Any = None
    error: str | None = None
    child_workflow_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None


class StepList(BaseModel):
    """The recorded steps of a workflow, in order."""

    workflow_id: str
    steps: list[StepInfo]
    next_offset: int | None = Field(None, description="The offset (index into the steps) of the next page.")
    truncated: bool = Field(
        False, description="The page stopped at the byte budget (COMM_PAGE_MAX_BYTES); continue from next_offset."
    )


class ForkResult(BaseModel):
    """The new workflow created by a fork."""

    workflow_id: str = Field(description="Id of the new workflow.")
    forked_from: str
    start_step: int


class EventValueOut(BaseModel):
    """An event's latest value and its version (increases on every set; use it with ``after_version``)."""

    value: Any
    version: int
    error: dict[str, Any] | None = Field(
        None,
        description="Set (and value null) when this one value cannot be decoded by this server: the error "
        "envelope's member, code value_not_decodable. The other keys read as usual.",
    )


class EventOut(BaseModel):
    """One event of one workflow."""

    workflow_id: str
    key: str
    value: Any
    version: int


class EventsOut(BaseModel):
    """Every event of a workflow (latest values)."""

    workflow_id: str
    status: str
    events: dict[str, EventValueOut]
    next_key: str | None = Field(None, description="With truncated: pass it as after_key for the next page.")
    truncated: bool = Field(
        False,
        description="The page stopped at the byte budget (COMM_PAGE_MAX_BYTES); continue from after_key=next_key.",
    )


class SendResult(BaseModel):
    """The answer to a message send."""

    workflow_id: str
    topic: str
    idempotency_key: str | None
    outcome: Literal["delivered", "duplicate"] = Field(
        description="'delivered': stored now for the workflow; 'duplicate': this idempotency key was "
        "already delivered to this workflow, nothing was stored."
    )


class StreamSummary(BaseModel):
    """One stream of a workflow."""

    key: str
    length: int = Field(description="Number of values written (the close marker is not counted).")
    closed: bool


class StreamList(BaseModel):
    """Every stream a workflow has written."""

    workflow_id: str
    status: str
    streams: list[StreamSummary]


class StreamItem(BaseModel):
    """One stream value at its durable offset."""

    offset: int
    value: Any


class StreamSnapshot(BaseModel):
    """Values of a stream from ``offset``; continue from ``next_offset``."""

    workflow_id: str
    key: str
    offset: int
    values: list[StreamItem]
    next_offset: int
    closed: bool = Field(description="The workflow closed the stream and this page reaches its end.")
    workflow_status: str
    complete: bool = Field(
        description="No value will ever follow next_offset: the stream is closed, or the workflow has "
        "finished and this page reaches the last value written."
    )
    truncated: bool = Field(
        False,
        description="The page stopped at the byte budget (COMM_PAGE_MAX_BYTES) before the limit: more values are "
        "already there; continue from next_offset.",
    )
