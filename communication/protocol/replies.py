"""The request/reply ("update") convention between clients and workflows. No HTTP here.

A client sends ``{"request_id": RID, "payload": ...}`` as a message on a topic (``REQUEST_TOPIC`` by default),
with ``RID`` as the idempotency key so a retried request is delivered once; the workflow answers by setting the
event ``reply:RID``; the client waits on that event with a bounded timeout. This is how Temporal's updates
behave, built from DBOS messages and events, so any client (HTTP, ``DBOSClient``, another workflow) can ask.

Workflow side::

    message = await DBOS.recv_async(REQUEST_TOPIC, timeout_seconds=60)
    request = parse_request(message)
    if request is not None:
        await reply(request, {"ok": True})

The client side lives in :meth:`communication.client.Client.send_and_wait`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

#: Topic requests are sent on unless a workflow documents another.
REQUEST_TOPIC = "requests"
#: Prefix of the event key a workflow sets to answer request ``RID``: ``reply:RID``.
REPLY_EVENT_PREFIX = "reply:"
#: Request ids: like event keys, but short enough that ``reply:RID`` is still a valid (≤128 char) key.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,119}$"

_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)


def new_request_id() -> str:
    """A fresh random request id."""
    return uuid.uuid4().hex


def check_request_id(request_id: str) -> str:
    """Return ``request_id`` if it matches :data:`REQUEST_ID_PATTERN`.

    Raises:
        ValueError: it does not.
    """
    if not _REQUEST_ID_RE.fullmatch(request_id):
        raise ValueError(f"invalid request id {request_id!r} (pattern {REQUEST_ID_PATTERN})")
    return request_id


def reply_key(request_id: str) -> str:
    """The event key that carries the answer to ``request_id``."""
    return REPLY_EVENT_PREFIX + request_id


def make_request(payload: Any, request_id: str) -> dict[str, Any]:
    """The message body of a request."""
    return {"request_id": check_request_id(request_id), "payload": payload}


@dataclass(frozen=True)
class Request:
    """A request received by a workflow."""

    request_id: str
    payload: Any


def parse_request(message: Any) -> Request | None:
    """Read a request message; ``None`` if it is not one (no valid ``request_id``: nobody could be answered)."""
    if not isinstance(message, dict):
        return None
    request_id = message.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID_RE.fullmatch(request_id):
        return None
    return Request(request_id=request_id, payload=message.get("payload"))
