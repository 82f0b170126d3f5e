"""Human input as a first-class thing: ``await ask(topic, Answer)`` inside a DBOS workflow.

``ask`` records a durable request (event ``request.<topic>``: prompt, the JSON schema of ``Answer``, deadline,
assignees, a signed single-use link) before it waits, so the inbox (``GET /v1/inbox``) of every server on the
database lists it; then it waits with ``DBOS.recv_async`` until the deadline and returns either a validated
``Answer`` or a :class:`Timeout` the workflow branches on::

    decision = await ask("refund", RefundDecision, prompt="Refund order 42?", timeout_seconds=3600)
    if isinstance(decision, Timeout):
        decision = await ask("refund", RefundDecision, prompt="Escalated: refund order 42?", assignees=["boss"])

Deterministic under DBOS recovery: the request's facts come from one step, the event writes and ``recv`` are
durable steps, so a replay neither records a second request nor loses an answer that arrived. Answers reach the
workflow as ``{"request": seq, "answer": value}`` sent once under ``answer:<workflow>:<topic>:<seq>`` (the
inbox's answer endpoint, the signed link and the dashboard all use it, so one answer wins); a plain message on
the topic that validates as ``Answer`` is taken too, so ``DBOS.send`` / ``POST .../messages`` still answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from dbos import DBOS, WorkflowSerializationFormat
from pydantic import BaseModel, ValidationError

from communication.core import inbox_webhook
from communication.core.security.approval_links import current
from communication.protocol.inbox import StoredRequest, request_event_key
from communication.protocol.validation import check_key

log = logging.getLogger("communication.kit.ask")

A = TypeVar("A", bound=BaseModel)

#: Default time a person has to answer (one day).
DEFAULT_TIMEOUT_SECONDS = 86400.0


@dataclass(frozen=True)
class Timeout:
    """What :func:`ask` returns when nobody answered before the deadline (the request is closed as ``expired``)."""

    topic: str
    seq: int
    deadline: datetime


@DBOS.step(name="open_human_request")
async def _open_step(
    topic: str, prompt: str, schema: dict[str, Any], timeout_seconds: float, assignees: list[str], link: bool
) -> dict[str, Any]:
    # One step: the clock, the sequence number and the link's random nonce must be the same on a replay.
    workflow_id = DBOS.workflow_id
    seq = DBOS.step_id
    assert workflow_id is not None and seq is not None  # a step of a workflow has both
    now = time.time()
    minted = None
    if link:
        minted = current().mint(workflow_id, topic, prompt=prompt, ttl_seconds=timeout_seconds).model_dump(mode="json")
    request = StoredRequest(
        topic=topic,
        seq=seq,
        prompt=prompt,
        answer_schema=schema,
        created_at=datetime.fromtimestamp(now, tz=UTC),
        deadline=datetime.fromtimestamp(now + timeout_seconds, tz=UTC),
        assignees=assignees,
        link=minted,
    )
    return request.model_dump(mode="json", by_alias=True)


@DBOS.step(name="human_request_clock")
async def _now_step() -> str:
    return datetime.now(UTC).isoformat()


@DBOS.step(name="notify_human_request")
async def _notify_step(kind: inbox_webhook.Kind, workflow_id: str, request: dict[str, Any]) -> bool:
    webhook = inbox_webhook.current()
    return webhook is not None and await asyncio.to_thread(webhook.send, kind, workflow_id, request)


async def _notify(kind: inbox_webhook.Kind, request: dict[str, Any]) -> None:
    # Always a step, configured or not: a replay must meet the same steps even if the configuration changed.
    workflow_id = DBOS.workflow_id
    if workflow_id is not None:
        await _notify_step(kind, workflow_id, request)


async def _record(topic: str, request: dict[str, Any]) -> None:
    # Portable JSON: servers of other applications read the request without unpickling anything.
    await DBOS.set_event_async(
        request_event_key(topic), request, serialization_type=WorkflowSerializationFormat.PORTABLE
    )


def _answer_of(message: Any, seq: int) -> tuple[str, Any]:
    """``("mine", value)`` for an answer to request ``seq``, ``("stale", None)`` for an earlier request's,
    ``("plain", message)`` for a plain message on the topic (``DBOS.send``, ``POST .../messages``)."""
    if isinstance(message, dict) and {"request", "answer"} <= set(message) <= {"request", "answer", "via"}:
        return ("mine", message["answer"]) if message["request"] == seq else ("stale", None)
    return "plain", message


async def ask(
    topic: str,
    answer_type: type[A],
    *,
    prompt: str = "",
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    assignees: list[str] | None = None,
    link: bool = True,
) -> A | Timeout:
    """Inside a DBOS workflow: ask a person for an ``answer_type`` on ``topic`` and wait for it.

    Args:
        topic: the message topic the answer arrives on (a key: letters, digits, ``_.:-``).
        answer_type: a pydantic model; its JSON schema drives every answer form and the server's validation.
        prompt: what the person is asked (shown in the inbox, on the link's page and in the dashboard).
        timeout_seconds: how long the request stays open.
        assignees: who should answer (free-form names the inbox filters on).
        link: mint a signed single-use link for the request (answerable without an API key).

    Returns:
        The validated answer, or :class:`Timeout` when the deadline passed without one (the request is then
        ``expired``; ask again, e.g. with other ``assignees``, to escalate).
    """
    check_key(topic, "topic")
    if DBOS.workflow_id is None:
        raise RuntimeError("ask must be called inside a DBOS workflow")
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    schema = answer_type.model_json_schema()
    deadline: float | None = None
    while True:
        remaining = timeout_seconds if deadline is None else max(deadline - time.time(), 1.0)
        request = await _open_step(topic, prompt, schema, remaining, list(assignees or []), link)
        await _record(topic, request)
        await _notify("request.opened", request)
        seq = int(request["seq"])
        deadline = datetime.fromisoformat(request["deadline"]).timestamp()
        while True:
            # The deadline is durable (in the step's output): after a crash the wait resumes with what is left.
            message = await DBOS.recv_async(topic, timeout_seconds=max(deadline - time.time(), 0.0))
            if message is None:
                expired = request | {"status": "expired", "closed_at": await _now_step()}
                await _record(topic, expired)
                await _notify("request.expired", expired)
                return Timeout(topic=topic, seq=seq, deadline=datetime.fromtimestamp(deadline, tz=UTC))
            kind, value = _answer_of(message, seq)
            if kind == "stale":
                log.info("ignored an answer to an earlier request on %r", topic)
                continue
            try:
                answer = answer_type.model_validate(value)
            except ValidationError as exc:
                log.warning("an answer on %r was refused by %s: %s", topic, answer_type.__name__, exc)
                if kind == "plain":
                    continue
                # The server checked the schema, but a model validator refused: the answer's key is spent, so
                # open a fresh request (new seq) until the same deadline.
                break
            await _record(topic, request | {"status": "answered", "closed_at": await _now_step()})
            return answer
