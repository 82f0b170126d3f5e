"""The seed's Monty Python SSE demo on DBOS: ``/monty/stream``, ``/workflow/{id}/signal/stop``, ``.../state``.

Frames follow the seed: every frame is an *unnamed* SSE message whose JSON carries an ``event`` field
(``workflow_started``, ``progress_update``, ``workflow_completed``, ``workflow_failed``).

Deliberate divergence from our v1 SSE frames (which use named ``event:`` lines): a named SSE event is not
delivered to ``EventSource.onmessage``, and the seed's browser client listens with ``onmessage`` and switches on
``data.event``. Unnamed frames keep that client working unchanged.

Progress frames are pushed when the workflow's ``state`` event changes, through the fan-out hub's event watch
(no polling); each carries ``id: <event version>``, so a client that reconnects with ``Last-Event-ID`` and the
``workflow_id`` continues after the last state it saw. Between state changes (while the workflow sleeps), a
``progress_update`` without ``id:`` goes out every 0.5 s as in the seed, computed from the last state's
``sleep_until`` and ``started_at`` (no database read): ``progress`` and ``elapsed`` advance, and so clients with a
5 s read timeout never see a silent gap. ``current_quote`` is non-null only on the frame that delivers the quote.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from communication.compat.models import (
    DEFAULT_MAX_ITERATIONS,
    MAX_ITERATIONS,
    MAX_SLEEP,
    MIN_SLEEP,
    PROGRESS_INTERVAL_SECONDS,
    STATE_EVENT,
    STOP_TOPIC,
    TYPE_NAME,
    initial_state,
    is_delivery,
    sleep_progress,
)
from communication.compat.settings import CompatSettings
from communication.core.library_workflows.session_workflow import check_not_session_namespace
from communication.core.live.hub import End, Hub, Item
from communication.core.services import Core
from communication.core.workflows import is_terminal
from communication.http.deps import CoreDep, WorkflowId
from communication.http.frames import encode_json, sse_frame
from communication.http.live import SSE_RESPONSE, LastEventId, resume_position, sse
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import ValidationFailed, WorkflowIdConflict
from communication.protocol.validation import WORKFLOW_ID_PATTERN

router = APIRouter(tags=["seed-compatible"])

#: Idempotency key of the stop message: a repeated stop answers ``duplicate`` instead of queueing another.
_STOP_KEY = "monty-stop"


class MontyStreamRequest(BaseModel):
    """Options of ``/monty/stream`` (JSON body of the POST, query parameters of the GET). All optional."""

    model_config = ConfigDict(
        extra="forbid",
        # A finite example on purpose: "Try it out" (and schema-driven tools) get a stream that ends by itself.
        json_schema_extra={"examples": [{"min_sleep": 0.05, "max_sleep": 0.2, "max_iterations": 3}]},
    )

    min_sleep: float | None = Field(
        None,
        ge=MIN_SLEEP,
        le=MAX_SLEEP,
        description="Shortest sleep per iteration (s, >= 0.01); default COMM_MONTY_MIN_SLEEP_SECONDS (5).",
    )
    max_sleep: float | None = Field(
        None,
        ge=MIN_SLEEP,
        le=MAX_SLEEP,
        description="Longest sleep per iteration (s); default COMM_MONTY_MAX_SLEEP_SECONDS (30).",
    )
    max_iterations: int | None = Field(
        None,
        ge=1,
        le=MAX_ITERATIONS,
        description=f"Finish by itself after this many quotes (default {DEFAULT_MAX_ITERATIONS}: a workflow "
        "nobody stops still ends).",
    )
    workflow_id: str | None = Field(
        None,
        pattern=WORKFLOW_ID_PATTERN,
        description="Id to start (or attach to, if it exists). Needed to resume with Last-Event-ID. "
        "Default monty-python-<uuid>.",
    )

    def workflow_input(self, default_min: float = 5.0, default_max: float = 30.0) -> dict[str, Any]:
        """The workflow's input; a single bound moves the other default so that ``min <= max`` still holds.

        Args:
            default_min, default_max: the sleep range when the request names none (``COMM_MONTY_*_SLEEP_SECONDS``).
        """
        low, high = self.min_sleep, self.max_sleep
        default_max = max(default_min, default_max)
        if low is None:
            low = default_min if high is None else min(default_min, high)
        if high is None:
            high = max(default_max, low)
        iterations = DEFAULT_MAX_ITERATIONS if self.max_iterations is None else self.max_iterations
        return {"min_sleep_seconds": low, "max_sleep_seconds": high, "max_iterations": iterations}


class StopOut(BaseModel):
    """Answer of the stop signal (the seed's shape plus the delivery outcome)."""

    status: str = Field("signal sent", examples=["signal sent"])
    workflow_id: str
    signal: str = Field("stop", examples=["stop"])
    outcome: str = Field(description="'delivered', or 'duplicate' when a stop was already sent.")


class MontyStateOut(BaseModel):
    """The workflow's current state (the last ``state`` event), readable at any time."""

    workflow_id: str
    workflow_status: str = Field(description="DBOS status (PENDING while running, SUCCESS once stopped).")
    version: int | None = Field(description="Event version of this state (SSE id); null before the first state.")
    status: str = Field(examples=["iteration_1_sleeping_for_15_seconds", "delivered_quote_1", "stopped"])
    iteration: int
    quotes_delivered: int
    current_quote: str | None
    progress: int = Field(description="0 while sleeping, 100 once the iteration's quote is delivered.")
    sleep_seconds: float | None
    sleep_until: datetime | None = Field(description="When the current sleep ends (null when not sleeping).")
    started_at: datetime | None
    updated_at: datetime | None
    elapsed: float = Field(description="Seconds since the start (until the stop, once stopped).")
    stopped: bool
    result: Any = Field(None, description="The workflow's result once it has finished.")


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat()


def _json(value: Any) -> str:
    return encode_json(value)


def progress_frame(workflow_id: str, state: dict[str, Any], version: int) -> dict[str, Any]:
    """A ``progress_update`` frame from one ``state`` value. Times are the state change's, so a replay is
    identical to the live frame."""
    started, updated = state.get("started_at"), state.get("updated_at")
    elapsed = round(updated - started, 3) if started is not None and updated is not None else 0.0
    return {
        "event": "progress_update",
        "workflow_id": workflow_id,
        "progress": state.get("progress", 0),
        "status": state.get("status"),
        "elapsed": elapsed,
        "iteration": state.get("iteration", 0),
        "quotes_delivered": state.get("quotes_delivered", 0),
        # Only the delivering frame carries the quote: clients print every non-null current_quote.
        "current_quote": state.get("current_quote") if is_delivery(state) else None,
        "sleep_seconds": state.get("sleep_seconds"),
        "version": version,
        "timestamp": _iso(updated),
    }


def tick_frame(workflow_id: str, state: dict[str, Any] | None, version: int | None, now: float) -> dict[str, Any]:
    """A ``progress_update`` computed at ``now`` from the last state seen (no database read): progress through
    the current sleep and elapsed time advance; never a quote. Before any state: the "initializing" frame."""
    current: dict[str, Any] = state if state is not None else {"status": "initializing"}
    started = current.get("started_at")
    return {
        "event": "progress_update",
        "workflow_id": workflow_id,
        "progress": sleep_progress(current, now),
        "status": current.get("status"),
        "elapsed": round(now - started, 3) if started is not None else 0.0,
        "iteration": current.get("iteration", 0),
        "quotes_delivered": current.get("quotes_delivered", 0),
        "current_quote": None,
        "sleep_seconds": current.get("sleep_seconds"),
        "version": version,
        "timestamp": _iso(now),
    }


async def with_ticks(items: AsyncIterator[Item | End], interval: float) -> AsyncIterator[Item | End | None]:
    """``items``, plus ``None`` whenever ``interval`` seconds pass without one.

    The pending read is kept across ticks (never cancelled by a tick), so no item is lost or read twice.
    """
    source = aiter(items)
    pending: asyncio.Future[Item | End] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                yield task.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            pending.cancel()
        aclose = getattr(source, "aclose", None)
        if aclose is not None and pending is None:
            await aclose()


async def final_frame(core: Core, workflow_id: str) -> dict[str, Any]:
    """``workflow_completed`` with the result, or ``workflow_failed`` with the status and error."""
    outcome = await core.workflows.result(workflow_id, 0.0)  # only called once the workflow is terminal
    if outcome.status == "SUCCESS":
        return {
            "event": "workflow_completed",
            "workflow_id": workflow_id,
            "result": outcome.output,
            "timestamp": _now_iso(),
        }
    return {
        "event": "workflow_failed",
        "workflow_id": workflow_id,
        "status": outcome.status,
        "error": outcome.error,
        "timestamp": _now_iso(),
    }


async def _frames(
    core: Core, hub: Hub, workflow_id: str, items: AsyncIterator[Item | End], started: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    if started is not None:
        yield sse_frame(_json(started))
    state: dict[str, Any] | None = None
    version: int | None = None
    while True:
        end: End | None = None
        async for out in with_ticks(items, PROGRESS_INTERVAL_SECONDS):  # the watch ends with exactly one End
            if out is None:
                # Quiet (the workflow sleeps): the seed's cadence, computed from the last state, without an id
                # so that Last-Event-ID stays the last real state.
                yield sse_frame(_json(tick_frame(workflow_id, state, version, time.time())))
            elif isinstance(out, End):
                end = out
            elif out.value.get("key") == STATE_EVENT:
                state, version = out.value["value"], out.position
                frame = progress_frame(workflow_id, out.value["value"], out.position)
                yield sse_frame(_json(frame), id=str(out.position))
        if end is not None and end.reason == "overflow":
            # We fell behind the hub's buffer: re-open after the last version sent; nothing is skipped.
            items = await hub.watch_events(workflow_id, end.next_offset - 1)
            continue
        if end is None or end.reason == "shutdown":
            return  # no terminal frame: the client reconnects (Last-Event-ID) to this or another node
        yield sse_frame(_json(await final_frame(core, workflow_id)))
        return


async def _check_type(core: Core, workflow_id: str) -> None:
    info = await core.workflows.status(workflow_id, detail=False)  # 404 workflow_not_found
    if info.type != TYPE_NAME:
        raise WorkflowIdConflict(
            f"workflow {workflow_id!r} is of type {info.type!r}, not {TYPE_NAME!r}",
            workflow_id=workflow_id,
            existing_type=info.type,
        )


async def open_stream(
    request: Request, core: Core, options: MontyStreamRequest, last_event_id: str | None
) -> FrameStream:
    """Start (or attach to) a Monty Python workflow and stream its progress.

    Without ``Last-Event-ID``: start the workflow (an existing id is attached to, not restarted), send
    ``workflow_started``, then every state from the current one. With it: resume the existing ``workflow_id``
    after that version, without a new ``workflow_started``.

    Raises:
        ValidationFailed: ``Last-Event-ID`` without ``workflow_id`` (422).
        WorkflowNotFound: resuming an unknown id (404).
        WorkflowIdConflict: the id belongs to another workflow type (409).
    """
    hub: Hub = request.app.state.hub
    after_version = resume_position(last_event_id, 0) - 1  # -1: from the first state
    started: dict[str, Any] | None = None
    if last_event_id is not None and last_event_id.strip():
        if options.workflow_id is None:
            # Resuming blind would start a second, never-stopped workflow: refuse instead.
            raise ValidationFailed("Last-Event-ID needs workflow_id (the workflow to resume)", field="workflow_id")
        workflow_id = options.workflow_id
        await _check_type(core, workflow_id)
    else:
        compat: CompatSettings = request.app.state.compat
        given = options.workflow_input(compat.monty_min_sleep_seconds, compat.monty_max_sleep_seconds)
        check_not_session_namespace(TYPE_NAME, options.workflow_id)
        info, created = await core.workflows.start(
            TYPE_NAME, given, options.workflow_id or f"monty-python-{uuid.uuid4()}"
        )
        workflow_id = info.workflow_id
        started = {"event": "workflow_started", "workflow_id": workflow_id, "created": created, "timestamp": _now_iso()}
    items = await hub.watch_events(workflow_id, after_version)
    return sse(_frames(core, hub, workflow_id, items, started), request.app.state.settings)


_STREAM_DOC = """Frames (unnamed SSE messages; read `data.event`):
`{"event": "workflow_started", "workflow_id", "created", "timestamp"}`, then one
`{"event": "progress_update", "progress", "status", "elapsed", "iteration", "quotes_delivered", "current_quote",
"sleep_seconds", "version", "timestamp", "workflow_id"}` per state change (`id:` = version), and after a stop
`{"event": "workflow_completed", "workflow_id", "result", "timestamp"}` (or `workflow_failed`)."""


@router.post(
    "/monty/stream",
    summary="Start a Monty Python workflow and stream its progress (SSE, seed)",
    description=_STREAM_DOC,
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(404, 409, 422)},
)
async def stream_post(
    request: Request,
    core: CoreDep,
    body: Annotated[MontyStreamRequest | None, Body()] = None,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """The seed's endpoint. The JSON body is optional."""
    return await open_stream(request, core, body or MontyStreamRequest(), last_event_id)


@router.get(
    "/monty/stream",
    summary="Start a Monty Python workflow and stream its progress (SSE; the EventSource form)",
    description=_STREAM_DOC + "\n\nBrowsers' `EventSource` only sends GET; pass a `workflow_id` so that its "
    "automatic reconnects resume the same workflow.",
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(404, 409, 422)},
)
async def stream_get(
    request: Request,
    core: CoreDep,
    options: Annotated[MontyStreamRequest, Query()],
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Same behaviour as the POST, options as query parameters (``min_sleep``, ``max_sleep``, ``workflow_id``)."""
    return await open_stream(request, core, options, last_event_id)


@router.post(
    "/workflow/{workflow_id}/signal/stop",
    status_code=202,
    summary="Stop a Monty Python workflow gracefully (seed)",
    responses=error_responses(404, 409),
)
async def stop(workflow_id: WorkflowId, core: CoreDep) -> StopOut:
    """Sends a message on topic ``stop`` (exactly once); the workflow ends its current sleep and finishes.

    A repeated stop answers ``duplicate``, also after the workflow has finished (retries keep their answer).
    404 unknown workflow; 409 ``workflow_finished`` if it finished without ever being sent a stop.
    """
    sent = await core.messages.send(workflow_id, {"signal": "stop"}, STOP_TOPIC, _STOP_KEY)
    return StopOut(workflow_id=workflow_id, outcome=sent.outcome)


async def read_state(core: Core, workflow_id: str) -> MontyStateOut:
    """The workflow's last ``state`` event, with live ``elapsed`` while it runs and the result once finished.

    Raises:
        WorkflowNotFound (404), WorkflowIdConflict (409, another workflow type).
    """
    await _check_type(core, workflow_id)
    events = await core.events.all(workflow_id)
    found = events.events.get(STATE_EVENT)
    # Between the start and the workflow's first event there is no state yet: answer "initializing".
    current: dict[str, Any] = (
        found.value if found is not None else {**initial_state(time.time()), "status": "initializing"}
    )
    finished = bool(current.get("stopped")) or is_terminal(events.status)
    started = current.get("started_at")
    until = current.get("updated_at") if finished else time.time()
    result = (await core.workflows.result(workflow_id, 0.0)).output if events.status == "SUCCESS" else None
    return MontyStateOut(
        workflow_id=workflow_id,
        workflow_status=events.status,
        version=found.version if found is not None else None,
        status=current.get("status", "initializing"),
        iteration=current.get("iteration", 0),
        quotes_delivered=current.get("quotes_delivered", 0),
        current_quote=current.get("current_quote"),
        progress=current.get("progress", 0),
        sleep_seconds=current.get("sleep_seconds"),
        sleep_until=_dt(current.get("sleep_until")),
        started_at=_dt(started),
        updated_at=_dt(current.get("updated_at")),
        elapsed=round(until - started, 3) if started is not None and until is not None else 0.0,
        stopped=bool(current.get("stopped")),
        result=result,
    )


@router.get(
    "/workflow/{workflow_id}/state",
    summary="Current state of a Monty Python workflow (never blocks)",
    responses=error_responses(404, 409),
)
async def state(workflow_id: WorkflowId, core: CoreDep) -> MontyStateOut:
    """Iteration, quotes delivered, current quote, status; plus the result once finished."""
    return await read_state(core, workflow_id)
