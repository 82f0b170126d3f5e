"""/v1/webhooks/{scheme}[/{workflow_id}]: signed inbound webhooks become messages, exactly once per delivery.

Public (no API key): the signature is the credential. See :mod:`communication.core.security.webhooks` for the schemes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from communication.core.security.webhooks import DEFAULT_TOPICS, Scheme, WebhookResult, WebhookService
from communication.http.deps import CoreDep, WorkflowId
from communication.http.schemas import error_responses
from communication.protocol.requests import ErrorEnvelope
from communication.protocol.validation import KEY_PATTERN

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

SchemeParam = Annotated[
    Scheme,
    Path(description="Verification scheme: standard (Standard Webhooks), stripe, github.", examples=["standard"]),
]
TopicParam = Annotated[
    str | None,
    Query(
        pattern=KEY_PATTERN,
        description="Topic to deliver on. Default per scheme: "
        + ", ".join(f"{s} → {t}" for s, t in DEFAULT_TOPICS.items())
        + ".",
    ),
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorEnvelope,
        "description": "Not verified, nothing delivered (webhook_signature_missing, webhook_signature_invalid, "
        "webhook_timestamp_out_of_window, webhook_not_configured)",
    },
    **error_responses(400, 404, 409, 413),
}
# The raw body is read by the handler (signatures cover the exact bytes), so FastAPI is only told about it.
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The provider's JSON payload, delivered as the message (GitHub's form encoding is accepted).",
        "content": {
            "application/json": {"schema": {}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"payload": {"type": "string"}}}
            },
        },
    }
}


async def get_webhooks(core: CoreDep) -> WebhookService:
    """The core's webhook service (verified deliveries become exactly-once messages)."""
    return core.webhooks


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]


@router.post(
    "/{scheme}/{workflow_id}",
    summary="Deliver a signed webhook to a workflow",
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def deliver_to_workflow(
    scheme: SchemeParam, workflow_id: WorkflowId, request: Request, service: WebhooksDep, topic: TopicParam = None
) -> WebhookResult:
    """Verify the signature over the raw body, then send the JSON body to ``workflow_id`` on ``topic``.

    A redelivery (same delivery id) answers ``outcome: duplicate`` and stores nothing. The route's workflow id
    is not covered by the provider's signature; to bind the target to the signature, use the route without it.
    """
    body = await request.body()
    return await service.deliver(scheme, request.headers, body, workflow_id, topic)


@router.post(
    "/{scheme}",
    summary="Deliver a signed webhook to the workflow named in its payload",
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def deliver_by_payload(
    scheme: SchemeParam, request: Request, service: WebhooksDep, topic: TopicParam = None
) -> WebhookResult:
    """Like the route with a workflow id, but the target comes from the signed payload: ``workflow_id``,
    ``metadata.workflow_id`` or ``data.object.metadata.workflow_id`` (Stripe object metadata)."""
    body = await request.body()
    return await service.deliver(scheme, request.headers, body, None, topic)
