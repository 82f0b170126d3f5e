"""The seed's WebSocket (fast-temporal): ``WS /ws/{user_id}`` starts workflows and reports their steps.

Client → server: ``{"args": {...}, "origin": "<client name>", "workflow": "<type>", "workflow_id": "<id>"}``
(only ``args`` matters to the seed; ``workflow`` defaults to ``fast_temporal`` and also accepts the seed's
``{"workflow_name": "<type>"}`` object; ``workflow_id`` re-attaches to an existing run, which replays every
step frame). Each start frame starts one workflow; one socket may run several. Frames whose ``origin`` is
``"temporal"`` are the server's own and are ignored, as in the seed.

Server → client, per step and then once at the end::

    {"origin": "temporal", "message": "process_data: Running", "status": "Running", "step", "workflow_id"}
    {"origin": "temporal", "message": <the result>, "status": "Done", "final": true, "workflow_id", ...}

Step frames come from the workflow's ``step_status`` stream (written by
:func:`communication.kit.step_status.tracked_step`), tailed through the fan-out hub. A workflow that fails ends
with ``"status": "Failed", "final": true`` instead of ``Done``.

Errors: an error frame ``{"origin": "server", "status": "Error", "message", "error": {code, message,
details}}``. A bad frame (binary, not JSON, too deep or large, an invalid or refused start) gets only the error
frame and the socket stays open; a refused handshake (foreign ``Origin``, missing API key, bad ``user_id``) is
closed with a code (see :mod:`communication.http.websocket`). Workflows keep running when a socket closes;
reconnect and send ``workflow_id`` to pick one up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from communication.core.library_workflows.session_workflow import check_not_session_namespace
from communication.core.live.hub import End, Hub, Item
from communication.core.security.credentials import AccessControl
from communication.core.services import Core
from communication.http.body_limit import parse_json_off_loop
from communication.http.frames import encode_json
from communication.http.origin import origin_allowed
from communication.http.websocket import GOING_AWAY, bearer_key, close_code
from communication.protocol.errors import (
    CommError,
    MalformedJSON,
    OriginNotAllowed,
    PayloadTooLarge,
    TooManyWorkflows,
    ValidationFailed,
)
from communication.protocol.names import FAST_TEMPORAL_TYPE as FAST_TEMPORAL
from communication.protocol.names import STEP_STATUS_STREAM
from communication.protocol.validation import WORKFLOW_ID_PATTERN, check_key

log = logging.getLogger("communication.compat.ws_seed")
router = APIRouter(tags=["seed-compatible"])

#: Workflows one socket may follow at once (each costs a hub subscription and a task).
MAX_ACTIVE_WORKFLOWS = 16


class StartFrame(BaseModel):
    """A start request. Extra fields are allowed: seed clients send their own bookkeeping."""

    model_config = ConfigDict(extra="allow")

    args: dict[str, Any] | None = Field(None, description="The workflow's input object.")
    origin: str | None = Field(None, max_length=200, description="Who sent it ('temporal' frames are ignored).")
    workflow: str | dict[str, Any] | None = Field(None, description="Workflow type, or {'workflow_name': type}.")
    workflow_id: str | None = Field(None, pattern=WORKFLOW_ID_PATTERN, description="Start or re-attach this id.")

    def type_name(self) -> str:
        """The workflow type to start (default ``fast_temporal``)."""
        chosen = self.workflow.get("workflow_name") if isinstance(self.workflow, dict) else self.workflow
        if chosen is None:
            return FAST_TEMPORAL
        if not isinstance(chosen, str):
            raise ValidationFailed("workflow must be a type name or {'workflow_name': <type name>}", field="workflow")
        return chosen


def step_frame(workflow_id: str, record: Any) -> dict[str, Any] | None:
    """The seed frame for one ``step_status`` record; ``None`` for values that are not status records."""
    if not isinstance(record, dict) or record.get("status") not in ("Running", "Completed", "Failed"):
        return None
    step, status = str(record.get("step")), record["status"]
    frame = {
        "origin": "temporal",
        "message": f"{step}: {status}",
        "status": status,
        "step": step,
        "workflow_id": workflow_id,
    }
    if "error" in record:
        frame["error"] = record["error"]
    return frame


def authenticate(websocket: WebSocket) -> None:
    """An API key in ``Authorization: Bearer`` when keys are configured (starting workflows needs one; read
    tokens do not suffice). Raises Unauthorized."""
    access: AccessControl = websocket.app.state.access
    access.authenticate(bearer_key(websocket))


class SeedSocket:
    """One connection: its running relays and a lock so frames from several tasks never interleave."""

    def __init__(self, websocket: WebSocket, core: Core, hub: Hub) -> None:
        self.ws, self.core, self.hub = websocket, core, hub
        self.settings = core.settings
        self.relays: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_text(encode_json(frame))

    async def report(self, exc: CommError) -> None:
        """Send the error frame; the socket stays open."""
        await self.send({"origin": "server", "status": "Error", "message": exc.message, "error": exc.to_dict()})

    async def fail(self, exc: CommError) -> None:
        """Send the error frame and close with the error's code."""
        self.closed = True
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.report(exc)
            await self.ws.close(code=close_code(exc), reason=exc.code)

    async def parse(self, message: Mapping[str, Any]) -> StartFrame | None:
        """A start frame, or ``None`` for frames to ignore. Raises MalformedJSON, PayloadTooLarge, ValidationFailed."""
        text = message.get("text")
        if text is None:
            raise MalformedJSON("binary frames are not supported: send JSON text")
        if len(text) > self.settings.max_body_bytes:
            raise PayloadTooLarge("frame too large", max_bytes=self.settings.max_body_bytes)
        data = await parse_json_off_loop(text, self.settings.max_json_depth)  # the one strict parser
        if not isinstance(data, dict):
            raise MalformedJSON("frame must be a JSON object")
        if data.get("origin") == "temporal":
            return None
        try:
            return StartFrame.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            raise ValidationFailed("invalid start frame", errors=errors) from None

    async def start(self, frame: StartFrame) -> None:
        """Start (or re-attach to) the workflow and follow it in a task. Raises CommError."""
        if len(self.relays) >= MAX_ACTIVE_WORKFLOWS:
            raise TooManyWorkflows(f"at most {MAX_ACTIVE_WORKFLOWS} workflows in flight per socket")
        type_name = frame.type_name()
        args = dict(frame.args or {})
        if type_name == FAST_TEMPORAL:
            # Like every seed endpoint: pause between steps so progress can be watched.
            args.setdefault("step_delay_seconds", self.settings.demo_step_delay_seconds)
        check_not_session_namespace(type_name, frame.workflow_id)
        info, _created = await self.core.workflows.start(type_name, args, frame.workflow_id)
        task = asyncio.create_task(self._relay(info.workflow_id))
        self.relays.add(task)
        task.add_done_callback(self.relays.discard)

    async def _relay(self, workflow_id: str) -> None:
        try:
            await self._follow(workflow_id)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the socket is gone; the receive loop cleans up
        except CommError as exc:
            await self.fail(exc)
        except Exception:
            log.exception("seed websocket relay failed for %s", workflow_id)
            await self.fail(CommError("internal server error"))

    async def _follow(self, workflow_id: str) -> None:
        offset = 0
        while True:
            end: End | None = None
            async for out in await self.hub.tail_stream(workflow_id, STEP_STATUS_STREAM, offset):
                if isinstance(out, Item):
                    offset = out.position + 1
                    frame = step_frame(workflow_id, out.value)
                    if frame is not None:
                        await self.send(frame)
                else:
                    end = out
            if end is not None and end.reason == "overflow":
                continue  # fell behind the hub's buffer: re-open at ``offset``, nothing is lost
            if end is None or end.reason == "shutdown":
                self.closed = True
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await self.ws.close(code=GOING_AWAY, reason="server shutting down")
                return
            await self.send(await self._final(workflow_id))
            return

    async def _final(self, workflow_id: str) -> dict[str, Any]:
        # ``closed`` may arrive just before the workflow's status turns terminal: wait for it (bounded waits).
        outcome = await self.core.workflows.result(workflow_id, self.settings.max_wait_seconds)
        while not outcome.done:
            outcome = await self.core.workflows.result(workflow_id, self.settings.max_wait_seconds)
        frame: dict[str, Any] = {
            "origin": "temporal",
            "workflow_id": workflow_id,
            "final": True,
            "workflow_status": outcome.status,
        }
        if outcome.status == "SUCCESS":
            return {**frame, "message": outcome.output, "status": "Done"}
        error = outcome.error or outcome.status.lower()
        return {**frame, "message": f"workflow failed: {error}", "status": "Failed", "error": error}

    async def run(self) -> None:
        """Receive start frames until the client leaves or an error closes the socket."""
        while not self.closed:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = await self.parse(message)
                if frame is not None:
                    await self.start(frame)
            except CommError as exc:
                await self.report(exc)  # a bad frame is answered; the socket and its workflows carry on

    async def stop_relays(self) -> None:
        """Stop following (the workflows themselves keep running)."""
        tasks = list(self.relays)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@router.websocket("/ws/{user_id}")
async def seed_socket(websocket: WebSocket, user_id: str) -> None:
    """Start workflows with ``{"args": {...}}`` and receive ``{"origin": "temporal", "message", "status"}``
    per step, then the result with status ``Done`` (or ``Failed``)."""
    core: Core = websocket.app.state.core
    conn = SeedSocket(websocket, core, websocket.app.state.hub)
    await websocket.accept()
    try:
        # Credentials and Origin first, so a refusal never depends on anything else.
        if not origin_allowed(core.settings, websocket.headers):
            raise OriginNotAllowed(
                "this Origin is not allowed (own origin or COMM_CORS_ORIGINS)", origin=websocket.headers.get("origin")
            )
        authenticate(websocket)
        check_key(user_id, "user_id")
    except CommError as exc:
        await conn.fail(exc)
        return
    try:
        await conn.run()
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("seed websocket failed")
        await conn.fail(CommError("internal server error"))
    finally:
        await conn.stop_relays()


__all__ = ["MAX_ACTIVE_WORKFLOWS", "StartFrame", "router", "step_frame"]
