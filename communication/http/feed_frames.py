"""Wire frames of the workflow feed (``/v1/workflows/{id}/feed``), SSE and WebSocket.

Every subscriber of a workflow's feed gets the same :class:`~communication.core.live.feed_entries.Entry` objects, so
each frame is encoded once per feed and cached on the entry. SSE frames are unnamed (no ``event:`` line: a plain
``EventSource.onmessage`` receives them); ``id:`` is the cursor after the frame, ``data:`` the entry's JSON. A
subscriber whose own position is ahead of the feed in some stream gets a frame of its own with its merged cursor
(see :meth:`~communication.core.live.feed_entries.Entry.advance`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from communication.core.live.feed_cursor import Position
from communication.core.live.feed_entries import Entry
from communication.core.live.workflow_feed import FeedSubscription
from communication.http.frames import CONNECTED, encode_json, sse_frame, with_retry

if TYPE_CHECKING:  # direct_feed builds on this module's frames
    from communication.http.direct_feed import SseFeedWriter


def data_json(entry: Entry) -> str:
    """The entry's payload as compact JSON, encoded once per entry."""
    cached = entry.frames.get("json")
    if cached is None:
        cached = entry.frames["json"] = encode_json(entry.data).encode()
    return cached.decode()


def sse_feed_frame(entry: Entry, pos: Position) -> bytes:
    """``id: <cursor>`` / ``data: <entry JSON>``: cached when ``pos`` is the entry's own position."""
    if pos is not entry.after:
        return sse_frame(data_json(entry), id=pos.encode())
    cached = entry.frames.get("sse")
    if cached is None:
        cached = entry.frames["sse"] = sse_frame(data_json(entry), id=pos.encode())
    return cached


async def sse_feed(sub: FeedSubscription, writer: SseFeedWriter | None = None) -> AsyncIterator[bytes]:
    """The feed's SSE body: a ``connected`` comment, then one frame per entry; the body ends after ``end``
    (or, without ``end``, when the server stops following: the client reconnects and resumes). ``writer``: the
    subscription's direct-delivery writer, whose first-frame state this path shares (what the feed does not write
    directly comes through here)."""
    yield CONNECTED
    first = True
    try:
        async for entry, pos in sub:
            if writer is not None:
                yield writer.frame(entry, pos)
                continue
            frame = sse_feed_frame(entry, pos)
            yield with_retry(frame) if first else frame
            first = False
    finally:
        await sub.aclose()


def ws_feed_frame(entry: Entry, pos: Position, sub: str) -> str:
    """``{"type":"feed","sub":…,"id":<cursor>,"data":<entry JSON>}`` (the entry's JSON spliced in)."""
    return f'{{"type":"feed","sub":{encode_json(sub)},"id":{encode_json(pos.encode())},"data":{data_json(entry)}}}'
