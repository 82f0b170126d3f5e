"""Sending messages to workflows, exactly once per idempotency key, with an honest answer."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from dbos import error as dbos_errors

from communication.adapter import store
from communication.core.ops.metrics import MESSAGES_SENT
from communication.protocol.errors import WorkflowFinished, WorkflowNotFound
from communication.protocol.models import SendResult
from communication.protocol.validation import check_key


class MessageService:
    """Message delivery into waiting (or soon waiting) workflows."""

    async def send(self, workflow_id: str, message: Any, topic: str, idempotency_key: str | None = None) -> SendResult:
        """Store ``message`` for ``workflow_id`` on ``topic``; the workflow consumes it with ``recv``.

        A message is accepted while the workflow has not reached a terminal state (it may be waiting now or
        call ``recv`` later). With an idempotency key, a repeat of the same key to the same workflow stores
        nothing and answers ``outcome='duplicate'``, also after the first was consumed and after the workflow
        finished (a retry of an acknowledged send always gets the same answer). One transaction.

        Raises:
            WorkflowNotFound: no such workflow.
            WorkflowFinished: the workflow has finished; the message would never be read.
        """
        check_key(topic, "topic")
        try:
            sent = await asyncio.to_thread(store.send_once, workflow_id, topic, message, idempotency_key)
        except dbos_errors.DBOSNonExistentWorkflowError as exc:  # deleted between our check and DBOS's insert
            raise WorkflowNotFound(workflow_id) from exc
        if sent.result == "not_found":
            raise WorkflowNotFound(workflow_id)
        if sent.result == "finished":
            raise WorkflowFinished(
                f"workflow {workflow_id!r} has finished ({sent.workflow_status}) and no longer receives messages",
                workflow_id=workflow_id,
                workflow_status=sent.workflow_status,
            )
        outcome: Literal["delivered", "duplicate"] = "delivered" if sent.result == "delivered" else "duplicate"
        MESSAGES_SENT.labels(outcome=outcome).inc()
        return SendResult(workflow_id=workflow_id, topic=topic, idempotency_key=idempotency_key, outcome=outcome)
