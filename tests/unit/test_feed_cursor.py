"""The workflow feed's building blocks without a database: the cursor (round trip, bounds, refusals), what an
entry covers, and the shared buffer's trimming."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from communication.core.live.feed_cursor import MAX_CURSOR_CHARS, MAX_FEED_STREAMS, Position, decode_cursor, key_hash
from communication.core.live.feed_entries import Entry, status_entry
from communication.core.live.workflow_feed import WorkflowFeed
from communication.protocol.errors import ValidationFailed
from communication.protocol.validation import MAX_STORED_INT

pytestmark = pytest.mark.backend_independent


def test_a_cursor_round_trips_and_its_largest_form_fits_the_documented_bound() -> None:
    pos = Position(7, {key_hash("tokens"): 3}, "PENDING", False)
    assert decode_cursor(pos.encode()) == pos
    assert decode_cursor(None) == Position() == decode_cursor("  ")
    largest = Position(
        MAX_STORED_INT,
        {key_hash(f"k{i}"): MAX_STORED_INT for i in range(MAX_FEED_STREAMS)},
        "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
        True,
    )
    assert len(largest.encode()) <= MAX_CURSOR_CHARS
    assert decode_cursor(largest.encode()) == largest


def _b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "not base64 !",
        _b64([1, 2]),
        _b64({"z": 1}),
        _b64({"e": -2}),
        _b64({"e": "1"}),
        _b64({"e": True}),
        _b64({"s": {"short": 1}}),
        _b64({"s": {key_hash("a"): -1}}),
        _b64({"s": {key_hash(f"k{i}"): 1 for i in range(MAX_FEED_STREAMS + 1)}}),
        _b64({"t": "pending"}),
        _b64({"x": 2}),
        "A" * (MAX_CURSOR_CHARS + 1),
    ],
)
def test_a_malformed_cursor_is_refused_with_the_field_named(text: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        decode_cursor(text, "Last-Event-ID")
    assert err.value.details["field"] == "Last-Event-ID"


def test_entries_say_what_a_position_already_has() -> None:
    pos = Position(5, {key_hash("s"): 2}, "PENDING")
    after = Position(6, {key_hash("s"): 2}, "PENDING")
    event = Entry("event", "k", 5, {}, after)
    assert event.covered_by(pos)
    assert not Entry("event", "k", 6, {}, after).covered_by(pos)
    stream = Entry("stream", "s", 1, {}, after, hkey=key_hash("s"))
    assert stream.covered_by(pos)
    assert not Entry("stream", "s", 2, {}, after, hkey=key_hash("s")).covered_by(pos)
    assert status_entry("PENDING", Position()).covered_by(pos)
    # A reader ahead in one stream stays ahead after an entry of another source.
    ahead = Position(5, {key_hash("s"): 9}, "PENDING")
    merged = Entry("event", "k", 6, {}, after).advance(ahead)
    assert merged.events == 6 and merged.streams[key_hash("s")] == 9


def test_the_shared_buffer_trims_by_count_and_keeps_its_base() -> None:
    async def run() -> None:
        feed = WorkflowFeed("w", capacity=8, byte_budget=10_000)
        state = Position()
        for n in range(20):
            state.events = n
            feed.append(Entry("event", "k", n, {"n": n}, state.copy(), size=10))
        assert len(feed.entries) <= 8
        first = feed.entries[0]
        assert feed.base_seq == first.seq and feed.base.events == first.position - 1
        assert feed.at(feed.base_seq - 1) is None and feed.at(feed.next_seq - 1) is feed.entries[-1]

    asyncio.run(run())
