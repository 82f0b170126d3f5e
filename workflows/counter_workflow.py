"""The ``counter`` workflow: a long-lived workflow that answers requests (the request/reply convention).

It keeps a running total and serves requests sent with :meth:`communication.client.Client.send_and_wait`
(or any client following :mod:`communication.protocol.replies`):

* ``{"op": "add", "amount": n}`` → adds ``n`` (an integer), answers ``{"ok": true, "value": total}``;
* ``{"op": "get"}`` → answers ``{"ok": true, "value": total}``;
* ``{"op": "stop"}`` → answers ``{"ok": true, "value": total, "stopped": true}`` and finishes;
* anything else → answers ``{"ok": false, "error": "...", "value": total}``.

It also publishes the total as event ``value`` and appends every handled request to stream ``history``
(closed when it stops), so it exercises all three channels with no timing involved: every step is driven by a
message, which makes it the workflow of choice for deterministic tests of live tails.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.kit import REQUEST_TOPIC, parse_request, registry, reply
from communication.protocol.names import STATUS_EVENT
from communication.protocol.validation import KEY_PATTERN

VALUE_EVENT = "value"
HISTORY_STREAM = "history"


class CounterInput(BaseModel):
    """Input of the ``counter`` workflow."""

    start: int = Field(0, description="Initial total.")
    topic: str = Field(REQUEST_TOPIC, pattern=KEY_PATTERN, description="Topic requests arrive on.")
    idle_timeout_seconds: float = Field(
        3600.0, gt=0, le=7 * 24 * 3600, description="Finish after this long without a request."
    )


def _apply(total: int, payload: Any) -> tuple[int, dict[str, Any], bool]:
    """Apply one request payload: ``(new_total, answer, stop)``."""
    op = payload.get("op") if isinstance(payload, dict) else None
    if op == "add":
        amount = payload.get("amount")
        # bool is an int in Python; "add true" is a client bug worth reporting, not a silent +1.
        if not isinstance(amount, int) or isinstance(amount, bool):
            return total, {"ok": False, "error": "'amount' must be an integer", "value": total}, False
        total += amount
        return total, {"ok": True, "value": total}, False
    if op == "get":
        return total, {"ok": True, "value": total}, False
    if op == "stop":
        return total, {"ok": True, "value": total, "stopped": True}, True
    return total, {"ok": False, "error": f"unknown op {op!r}; expected add, get or stop", "value": total}, False


@registry.register(
    "counter",
    CounterInput,
    "Keeps a total and answers requests {op: add|get|stop} by setting event reply:<request_id> "
    "(use send_and_wait / `wfc request`); publishes event 'value' and stream 'history'.",
)
async def counter_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Serve requests until ``stop`` or ``idle_timeout_seconds`` without one."""
    p = CounterInput.model_validate(params)
    total = p.start
    handled = 0
    await DBOS.set_event_async(VALUE_EVENT, total)
    await DBOS.set_event_async(STATUS_EVENT, "running")
    reason = "idle_timeout"
    while True:
        message = await DBOS.recv_async(p.topic, timeout_seconds=p.idle_timeout_seconds)
        if message is None:
            break
        request = parse_request(message)
        if request is None:
            continue  # no request id: there is nobody to answer
        total, answer, stop = _apply(total, request.payload)
        handled += 1
        # Publish state before answering, so a client that got the reply also sees the new value.
        await DBOS.set_event_async(VALUE_EVENT, total)
        await DBOS.write_stream_async(HISTORY_STREAM, {"request_id": request.request_id, **answer})
        await reply(request, answer)
        if stop:
            reason = "stopped"
            break
    await DBOS.close_stream_async(HISTORY_STREAM)
    await DBOS.set_event_async(STATUS_EVENT, "stopped")
    return {"value": total, "requests": handled, "reason": reason}
