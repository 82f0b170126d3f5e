"""What a workflow feed delivers: entries (status, event, stream, end), each with the position after it, the
one function that turns a storage read into entries, the ``end`` entry's outcome, and a subscriber's filter
(:class:`FeedFilter`). Shared by the feed (one read for all subscribers) and a subscriber catching up on its own;
see :mod:`communication.core.live.workflow_feed`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from communication.adapter import store, workflow_rows
from communication.adapter.feed_store import FeedPage
from communication.core.live.buffers import json_size
from communication.core.live.feed_cursor import Position, key_hash
from communication.protocol.errors import ValueNotDecodable
from communication.protocol.names import is_secret_event


@dataclass(eq=False)
class Entry:
    """One frame of a workflow feed. ``data`` is the frame's JSON payload (``kind`` first); ``after`` the position
    once it is delivered (its cursor). ``frames`` caches the encoded wire forms: every subscriber of a feed gets
    the same Entry, so each is encoded once per feed."""

    kind: str  # "status" | "event" | "stream" | "end"
    key: str | None
    position: int  # event version, stream offset; -1 for status and end
    data: dict[str, Any]
    after: Position
    size: int = 0
    hkey: str = ""  # streams: the key's cursor hash, computed once per entry rather than once per subscriber
    seq: int = -1
    read_at: float = field(default_factory=time.monotonic)
    frames: dict[str, bytes] = field(default_factory=dict, repr=False)

    def covered_by(self, pos: Position) -> bool:
        """Whether a reader at ``pos`` already has this entry."""
        if self.kind == "event":
            return self.position <= pos.events
        if self.kind == "stream":
            return self.position < pos.streams.get(self.hkey, 0)
        if self.kind == "status":
            return bool(self.data["status"] == pos.status)
        return pos.ended and pos.status == self.after.status

    def advance(self, pos: Position) -> Position:
        """The position of a reader at ``pos`` after this entry: ``after`` when it covers ``pos`` (the common
        case, and the cached frame applies), else both merged (a reader ahead in some stream stays ahead)."""
        if self.after.covers(pos):
            return self.after
        merged = self.after.copy()
        merged.events = max(merged.events, pos.events)
        for h, n in pos.streams.items():
            merged.streams[h] = max(merged.streams.get(h, 0), n)
        return merged


@dataclass(frozen=True)
class FeedFilter:
    """What one subscriber wants: event keys and stream keys (``None``: all), status frames, secret events."""

    events: frozenset[str] | None = None
    streams: frozenset[str] | None = None
    status: bool = True
    secrets: bool = True

    def wants(self, entry: Entry) -> bool:
        """Whether ``entry`` goes to this subscriber (``end`` always does)."""
        if entry.kind == "event":
            key = str(entry.key)
            return (self.secrets or not is_secret_event(key)) and (self.events is None or key in self.events)
        if entry.kind == "stream":
            return self.streams is None or entry.key in self.streams
        if entry.kind == "status":
            return self.status
        return True


async def final_of(workflow_id: str) -> dict[str, Any]:
    """The ``end`` frame's outcome: ``output`` (SUCCESS) or ``error`` (text) of a finished workflow.

    Read from the stored row through the adapter's safe decoder (as ``/result`` is): another application's output
    is never unpickled here. An output this server cannot decode ends the feed with ``output: null`` and
    ``output_error: {code: "value_not_decodable", message}``.
    """
    row = await asyncio.to_thread(workflow_rows.read_workflow, workflow_id)
    if row is None:
        return {}
    try:
        if row.status == "SUCCESS":
            return {"output": row.output()}
        error = row.error()
    except ValueNotDecodable as exc:
        return {"output": None, "output_error": {"code": exc.code, "message": str(exc)}}
    return {} if error is None else {"error": error}


def _entry(kind: str, key: str | None, position: int, data: dict[str, Any], state: Position) -> Entry:
    return Entry(kind, key, position, data, state.copy(), size=json_size(data))


def status_entry(status: str, state: Position) -> Entry:
    """A status frame; moves ``state`` to it."""
    state.status = status
    return _entry("status", None, -1, {"kind": "status", "status": status}, state)


def entries_of(page: FeedPage, state: Position, final: dict[str, Any] | None) -> list[Entry]:
    """The entries a read adds after ``state`` (advanced in place): event sets and stream values in commit order
    (preceded by the status for a reader that has none), a new non-final status, then, when the workflow is
    finished and every source was read to its end, its final status and ``end`` (``final``: its ``output`` /
    ``error``). Rows ``state`` already has are skipped.
    """
    status = page.status
    assert status is not None
    terminal = store.is_terminal(status)
    out: list[Entry] = []
    # A reader that has no status yet gets it first; a change is told after the data read with it, which was
    # committed before the change was seen (the status table keeps no history to place it more exactly).
    if status != state.status and not terminal and state.status is None:
        out.append(status_entry(status, state))
    for row in page.rows:
        data: dict[str, Any]
        if row.kind == "event":
            if row.position <= state.events:
                continue
            state.events = row.position
            data = {"kind": "event", "key": row.key, "version": row.position}
        else:
            h = key_hash(row.key)
            if row.position < state.streams.get(h, 0):
                continue
            state.streams[h] = row.position + 1
            data = {"kind": "stream", "key": row.key, "offset": row.position}
        if row.error is None:
            data["value"] = row.value
        else:
            data["error"] = {
                "code": "value_not_decodable",
                "message": f"this server cannot decode the stored value ({row.error}); make the writing "
                "application use portable JSON serialization",
            }
        state.ended = False  # new data after an end (a resumed workflow): its next end is news again
        entry = _entry(row.kind, row.key, row.position, data, state)
        if row.kind == "stream":
            entry.hkey = h
        out.append(entry)
    if status != state.status and not terminal:
        state.ended = False  # resumed after an end
        out.append(status_entry(status, state))
    if terminal and page.drained and final is not None and not (state.ended and state.status == status):
        if status != state.status:
            out.append(status_entry(status, state))
        state.ended = True
        out.append(_entry("end", None, -1, {"kind": "end", "status": status, **final}, state))
    return out
