"""/v1/workflows/{id}/feed: one resumable SSE feed per workflow (status, events, streams, end; see
QUICK_REFERENCE.md "Feed" and :mod:`communication.core.live.workflow_feed`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from communication.core.live.feed_cursor import MAX_CURSOR_CHARS, decode_cursor
from communication.core.live.feed_entries import FeedFilter
from communication.core.live.workflow_feed import FeedFinished
from communication.http.access import read_token_only
from communication.http.deps import CoreDep, SettingsDep, WorkflowId
from communication.http.direct_feed import SseFeedWriter
from communication.http.direct_sse import SseSink
from communication.http.feed_frames import sse_feed
from communication.http.live import SSE_RESPONSE, LastEventId, hub_of, token_deadline, until_token_expiry
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.validation import check_key

router = APIRouter(prefix="/v1/workflows/{workflow_id}", tags=["live"])

KeyList = Annotated[
    str | None,
    Query(max_length=4000, description="Comma-separated keys to include (omitted: all; empty: none)."),
]


def parse_keys(text: str | None, field: str) -> frozenset[str] | None:
    """``None`` (all keys) when absent, else the validated set of comma-separated keys (422 on a bad key)."""
    if text is None:
        return None
    return frozenset(check_key(k.strip(), field) for k in text.split(",") if k.strip())


@router.get(
    "/feed",
    summary="Follow everything about one workflow on one resumable SSE connection",
    response_class=FrameStream,
    response_model=None,
    responses={
        **SSE_RESPONSE,
        204: {"description": "The cursor already has the workflow's end: stop reconnecting."},
        **error_responses(404, 422),
    },
)
async def feed(
    request: Request,
    workflow_id: WorkflowId,
    settings: SettingsDep,
    _core: CoreDep,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_CHARS, description="Resume after this frame id (Last-Event-ID wins).")
    ] = None,
    events: KeyList = None,
    streams: KeyList = None,
    status: Annotated[int, Query(ge=0, le=1, description="0: leave out status frames.")] = 1,
    last_event_id: LastEventId = None,
) -> FrameStream | Response:
    """Unnamed frames whose JSON ``kind`` is ``status``, ``event``, ``stream`` or ``end``; ``id:`` is the cursor.

    A reconnect with ``Last-Event-ID`` (or ``?cursor=``) continues exactly after that frame; once the cursor has
    the end, the answer is ``204 No Content``."""
    if last_event_id is not None and last_event_id.strip():
        position = decode_cursor(last_event_id, "Last-Event-ID")
    else:
        position = decode_cursor(cursor, "cursor")
    wanted = FeedFilter(
        events=parse_keys(events, "events"),
        streams=parse_keys(streams, "streams"),
        status=bool(status),
        secrets=not read_token_only(request),
    )
    try:
        sub = await hub_of(request).workflows.open(workflow_id, position, wanted)
    except FeedFinished:
        return Response(status_code=204)
    # Caught up, the feed writes to this response directly, filtered per subscriber (http/direct_feed.py).
    sink = SseSink(deadline=token_deadline(request))
    writer = SseFeedWriter(sink)
    sub.deliver_to(writer)
    return FrameStream(
        until_token_expiry(request, sse_feed(sub, writer)),
        heartbeat=settings.sse_heartbeat_seconds,
        send_timeout=settings.sse_send_timeout_seconds,
        sink=sink,
    )
