"""Live delivery over Server-Sent Events: stream tails and event watches (contract: docs/live-contract.md).

Frames: ``id:`` is the durable position (stream offset, or event version), ``event:`` is ``value`` /
``event`` / ``end`` / ``overflow``; heartbeats are comments. A reconnect with ``Last-Event-ID`` continues exactly
after that position. The same tails are served on the snapshot URLs when the client sends
``Accept: text/event-stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response

from communication.core.live.hub import End, Hub, Item
from communication.core.settings import Settings
from communication.http.access import read_token_only, without_secret_events
from communication.http.deps import CoreDep, SettingsDep, StreamKey, WorkflowId
from communication.http.direct_sse import SseSink, tail_frames
from communication.http.frames import encode_json, sse_frame, sse_live
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import TokenExpired, ValidationFailed
from communication.protocol.validation import MAX_POSITION, check_key

T = TypeVar("T")

router = APIRouter(prefix="/v1/workflows/{workflow_id}", tags=["live"])

LastEventId = Annotated[
    str | None, Header(alias="Last-Event-ID", description="Resume after this position (sent by EventSource).")
]
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An SSE stream (see QUICK_REFERENCE.md)."}
}


def wants_sse(request: Request) -> bool:
    """Whether the client asked for ``text/event-stream``."""
    return "text/event-stream" in request.headers.get("accept", "")


def resume_position(last_event_id: str | None, default: int) -> int:
    """The first position to send: after ``Last-Event-ID`` when present, else ``default``.

    Raises:
        ValidationFailed: not an integer, or the position after it is not one storage can hold
            (``-1 <= Last-Event-ID < MAX_POSITION``).
    """
    if last_event_id is None or last_event_id.strip() == "":
        return default
    text = last_event_id.strip()
    if len(text) > 20:  # longer than any 64-bit integer: refuse before parsing (int() of huge text is slow)
        raise ValidationFailed("Last-Event-ID is not a position", field="Last-Event-ID")
    try:
        last = int(text)
    except ValueError:
        raise ValidationFailed("Last-Event-ID must be an integer position", field="Last-Event-ID") from None
    if not -1 <= last < MAX_POSITION:
        raise ValidationFailed(f"Last-Event-ID must be between -1 and {MAX_POSITION - 1}", field="Last-Event-ID")
    return last + 1


async def until_disconnected(request: Request, work: Awaitable[T]) -> T | Response:
    """Await ``work`` unless the client leaves first: then cancel it (within moments of the disconnect) and
    answer an empty 499 nobody will read.

    Why: a blocking GET (``?timeout=120``) would otherwise hold its hub subscription, task and memory for the
    whole timeout after its client is gone. The disconnect is the ASGI ``http.disconnect`` message, which the
    server delivers as soon as the socket closes.
    """
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return Response(status_code=499)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass  # the (empty) request body; the next message is the disconnect


def token_deadline(request: Request) -> float | None:
    """When the read token that authenticated this request expires (epoch seconds); ``None`` for an API key."""
    expires: float | None = getattr(request.state, "read_token_expires_at", None)
    return expires


def until_token_expiry(request: Request, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """End an SSE response authenticated by a read token when the token expires: a terminal ``error`` frame with
    code ``token_expired``, then the end of the response (a reconnect needs a fresh token)."""
    deadline = token_deadline(request)
    if deadline is None:
        return frames

    async def gen() -> AsyncIterator[bytes]:
        # Each frame is awaited against the deadline (a timeout scope must not span a yield: it would fire in
        # whatever the consuming task does at that moment).
        it = frames.__aiter__()
        try:
            while (remaining := deadline - time.time()) > 0:
                try:
                    frame = await asyncio.wait_for(it.__anext__(), remaining)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    break
                yield frame
        finally:
            await it.aclose()  # type: ignore[attr-defined]
        error = TokenExpired("read token expired; mint a new one", expired_at=deadline)
        yield sse_frame(json_text({"error": error.to_dict()}), event="error")

    return gen()


def json_text(value: Any) -> str:
    """Compact JSON for a ``data:`` line."""
    return encode_json(value)


def frames_of(
    items: AsyncIterator[Item | End], value_event: str, keys: frozenset[str] | None = None
) -> AsyncIterator[bytes]:
    """SSE frames for hub items: ``id`` = position, ``event`` = ``value_event``; then ``end`` / ``overflow``.

    Encoded by the one frame mapper (``communication.http.frames``): once per value per feed.
    """
    return sse_live(items, value_event, keys)


def sse(frames: AsyncIterator[bytes], settings: Settings) -> FrameStream:
    """Wrap pre-encoded frames in a response with heartbeats and a send timeout for clients that stopped reading."""
    return FrameStream(frames, heartbeat=settings.sse_heartbeat_seconds, send_timeout=settings.sse_send_timeout_seconds)


def hub_of(request: Request) -> Hub:
    """The app's fan-out hub."""
    hub: Hub = request.app.state.hub
    return hub


async def stream_tail(request: Request, settings: Settings, workflow_id: str, key: str, start: int) -> FrameStream:
    """SSE tail of one stream from ``start`` (shared by the live route and the snapshot URL)."""
    items = await hub_of(request).tail_stream(workflow_id, key, start)
    # Caught up, the feed writes to this response directly (communication.http.direct_sse).
    sink = SseSink(deadline=token_deadline(request))
    items.deliver_to(sink)
    return FrameStream(
        until_token_expiry(request, tail_frames(items, sink)),
        heartbeat=settings.sse_heartbeat_seconds,
        send_timeout=settings.sse_send_timeout_seconds,
        sink=sink,
    )


async def event_watch(
    request: Request, settings: Settings, workflow_id: str, after_version: int, keys: str | None
) -> FrameStream:
    """SSE watch of a workflow's events (shared by the live route and the events URL)."""
    wanted = None
    if keys:
        wanted = frozenset(check_key(k.strip(), "keys") for k in keys.split(",") if k.strip())
    items: AsyncIterator[Item | End] = await hub_of(request).watch_events(workflow_id, after_version)
    if read_token_only(request):
        items = without_secret_events(items)
    return sse(until_token_expiry(request, frames_of(items, "event", wanted)), settings)


@router.get(
    "/streams/{key}/live",
    summary="Tail a stream live (SSE), resumable by offset",
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def tail(
    request: Request,
    workflow_id: WorkflowId,
    key: StreamKey,
    settings: SettingsDep,
    _core: CoreDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First offset to send.")] = 0,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Frames ``id: <offset>`` / ``event: value``; then ``event: end`` when closed or the workflow finished."""
    return await stream_tail(request, settings, workflow_id, key, resume_position(last_event_id, offset))


@router.get(
    "/events/live",
    summary="Watch a workflow's events live (SSE), resumable by version",
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(404)},
)
async def watch(
    request: Request,
    workflow_id: WorkflowId,
    settings: SettingsDep,
    _core: CoreDep,
    after_version: Annotated[
        int, Query(ge=0, le=MAX_POSITION - 1, description="Only values newer than this version.")
    ] = 0,
    keys: Annotated[str | None, Query(max_length=4000, description="Comma-separated keys to include.")] = None,
    last_event_id: LastEventId = None,
) -> FrameStream:
    """Current values first, then every change: ``id: <version>`` / ``event: event``; ``event: end`` at the end."""
    start = resume_position(last_event_id, after_version + 1)
    return await event_watch(request, settings, workflow_id, start - 1, keys)
