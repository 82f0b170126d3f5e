"""The inbox: requests for human input of every application on the database, and their one answer.

Requests are recorded by ``communication.kit.ask`` (event ``request.<topic>``); :class:`InboxService` lists them
(adapter/requests.py reads them all in one query), validates an answer against the request's JSON schema
(``jsonschema``: the asking application's model is not importable here) and delivers it exactly once with the
message layer's keyed send, so the API, the signed link and the dashboard race safely: one wins, the others get
``already_answered``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jsonschema
from pydantic import ValidationError

from communication.adapter import requests as request_store
from communication.adapter import store
from communication.core.messages import MessageService
from communication.protocol.errors import (
    AlreadyAnswered,
    AnswerInvalid,
    RequestClosed,
    RequestNotFound,
    WorkflowFinished,
    WorkflowNotFound,
)
from communication.protocol.inbox import (
    AnswerChannel,
    AnswerResult,
    InboxItem,
    InboxLinks,
    InboxList,
    InboxStatus,
    StoredRequest,
    answer_key,
)
from communication.protocol.names import REQUEST_EVENT_PREFIX

log = logging.getLogger("communication.core.inbox")

#: Most request events one inbox read looks at.
MAX_ROWS = 5000
#: Most schema errors an ``answer_invalid`` error lists.
MAX_ERRORS = 20


def _status(request: StoredRequest, workflow_status: str, now: datetime) -> InboxStatus:
    if request.status != "open":
        return request.status
    if store.is_terminal(workflow_status):
        return "cancelled"
    return "expired" if request.deadline <= now else "open"


def to_item(row: request_store.RequestRow, now: datetime | None = None) -> InboxItem | None:
    """The inbox's view of one request event (``None`` for a value that is not a request)."""
    try:
        request = StoredRequest.model_validate(row.value)
    except ValidationError:
        # debug, not warning: the live inbox re-reads every second and would repeat it forever
        log.debug("event %r of workflow %r is not a request; skipped", row.key, row.workflow_id)
        return None
    wf = quote(row.workflow_id, safe="")
    topic = quote(request.topic, safe="")
    signed = request.link.get("url") if request.link else None
    return InboxItem(
        workflow_id=row.workflow_id,
        workflow_name=row.workflow_name,
        workflow_status=row.workflow_status,
        application=row.application,
        topic=request.topic,
        seq=request.seq,
        prompt=request.prompt,
        answer_schema=request.answer_schema,
        created_at=request.created_at,
        deadline=request.deadline,
        assignees=request.assignees,
        status=_status(request, row.workflow_status, now or datetime.now(UTC)),
        closed_at=request.closed_at,
        links=InboxLinks(
            answer=f"/v1/workflows/{wf}/requests/{topic}/answer",
            workflow=f"/v1/workflows/{wf}",
            dashboard=f"/ui/#/workflows/{wf}",
            signed=str(signed) if signed else None,
        ),
    )


def schema_errors(schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """What ``schema`` refuses in ``value`` (``[]`` when valid): each error's path, message and schema rule."""
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except jsonschema.exceptions.SchemaError as exc:  # a schema no validator accepts: refuse every answer
        return [{"loc": [], "msg": f"the request's schema is invalid: {exc.message}", "rule": "schema"}]
    return [{"loc": list(e.absolute_path), "msg": e.message, "rule": str(e.validator)} for e in errors[:MAX_ERRORS]]


class InboxService:
    """Lists requests for human input and delivers their answers."""

    def __init__(self, messages: MessageService) -> None:
        self._messages = messages

    async def list(
        self,
        *,
        status: InboxStatus | None = "open",
        application: str | None = None,
        assignee: str | None = None,
        limit: int = 200,
    ) -> InboxList:
        """Requests with ``status`` (``None``: every status), of ``application``, assigned to ``assignee``;
        latest deadline first, at most ``limit``. Looks at the request events of at most ``MAX_ROWS`` workflows
        (open requests: of running workflows only; otherwise the newest workflows first)."""
        rows = await asyncio.to_thread(request_store.list_requests, active_only=status == "open", limit=MAX_ROWS)
        now = datetime.now(UTC)
        items = [item for row in rows if (item := to_item(row, now)) is not None]
        chosen = [
            item
            for item in items
            if (status is None or item.status == status)
            and (application is None or item.application == application)
            and (assignee is None or assignee in item.assignees)
        ]
        chosen.sort(key=lambda item: (item.deadline, item.workflow_id, item.topic), reverse=True)
        return InboxList(requests=chosen[:limit])

    async def get(self, workflow_id: str, topic: str) -> InboxItem:
        """The request on ``topic`` of ``workflow_id``.

        Raises:
            RequestNotFound: the workflow never asked on that topic (or does not exist).
        """
        row = await asyncio.to_thread(request_store.read_request, workflow_id, topic)
        item = None if row is None else to_item(row)
        if item is None:
            raise RequestNotFound(
                f"workflow {workflow_id!r} has no request for input on topic {topic!r}",
                workflow_id=workflow_id,
                topic=topic,
            )
        return item

    async def answer(self, workflow_id: str, topic: str, value: Any, via: AnswerChannel = "api") -> AnswerResult:
        """Validate ``value`` against the open request's schema and deliver it exactly once.

        Raises:
            RequestNotFound: no such request.
            AlreadyAnswered: it was answered (through any channel; concurrent answers: one wins).
            RequestClosed: it expired or its workflow ended (``details.reason``).
            AnswerInvalid: the schema refuses ``value`` (``details.errors``); nothing was delivered.
        """
        item = await self.get(workflow_id, topic)
        ids = {"workflow_id": workflow_id, "topic": topic, "seq": item.seq}
        if item.status == "answered":
            raise AlreadyAnswered("this request was answered already", **ids)
        if item.status != "open":
            reason = "expired" if item.status == "expired" else "workflow_ended"
            raise RequestClosed(f"this request no longer takes an answer ({item.status})", reason=reason, **ids)
        errors = schema_errors(item.answer_schema, value)
        if errors:
            raise AnswerInvalid("the answer does not match the request's schema", errors=errors, **ids)
        message = {"request": item.seq, "answer": value, "via": via}
        try:
            sent = await self._messages.send(workflow_id, message, topic, answer_key(workflow_id, topic, item.seq))
        except WorkflowNotFound as exc:
            raise RequestNotFound(f"workflow {workflow_id!r} does not exist", **ids) from exc
        except WorkflowFinished as exc:
            if await asyncio.to_thread(store.message_sent, workflow_id, answer_key(workflow_id, topic, item.seq)):
                raise AlreadyAnswered("this request was answered already", **ids) from exc
            raise RequestClosed("this request no longer takes an answer", reason="workflow_ended", **ids) from exc
        if sent.outcome == "duplicate":
            raise AlreadyAnswered("this request was answered already", **ids)
        return AnswerResult(workflow_id=workflow_id, topic=topic, seq=item.seq)


__all__ = ["REQUEST_EVENT_PREFIX", "InboxService", "schema_errors", "to_item"]
