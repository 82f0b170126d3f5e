"""The workflow side of the request/reply convention (:mod:`communication.protocol.replies`)."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from communication.protocol.replies import Request, reply_key


async def reply(request: Request | str, value: Any) -> None:
    """Answer a request from inside a workflow by setting its reply event (durably, exactly once).

    Args:
        request: the request (or its id).
        value: any JSON value.
    """
    request_id = request.request_id if isinstance(request, Request) else request
    await DBOS.set_event_async(reply_key(request_id), value)
