"""/v1/workflows/{id}/messages: exactly-once sends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from communication.http.deps import CoreDep, WorkflowId
from communication.http.schemas import error_responses
from communication.protocol.errors import ValidationFailed
from communication.protocol.models import SendResult
from communication.protocol.requests import SendMessageRequest
from communication.protocol.validation import IDEMPOTENCY_KEY_PATTERN

router = APIRouter(prefix="/v1/workflows/{workflow_id}/messages", tags=["messages"])


@router.post(
    "",
    status_code=202,
    summary="Send a message to a workflow (exactly-once with an idempotency key)",
    responses=error_responses(400, 404, 409, 413),
)
async def send_message(
    workflow_id: WorkflowId,
    body: SendMessageRequest,
    core: CoreDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN, description="Same as the body field."),
    ] = None,
) -> SendResult:
    """Never blocks. ``outcome`` says ``delivered`` or ``duplicate``."""
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise ValidationFailed("Idempotency-Key header and body idempotency_key differ", field="idempotency_key")
    key = idempotency_key or body.idempotency_key
    return await core.messages.send(workflow_id, body.message, body.topic, key)
