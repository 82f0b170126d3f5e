"""Direct delivery of the per-workflow feed in-process: caught-up subscribers are written to by the feed's one pass,
each with its own cursor and filter applied there, and get exactly what a subscriber on its own path gets — the
same entries with the same cursors — including one whose filter hides most entries, a read token's (no secret
event), and one whose transport stalls mid-way (detached, it finishes that write and goes on from its cursor).

The writers stand for a transport (what ``communication.http.direct_feed`` implements over ASGI): each records
what it was handed, and what its subscriber's own iterator yields goes to the same record. Real DBOS, real feeds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from communication.core.live.direct import Outcome
from communication.core.live.feed_cursor import Position
from communication.core.live.feed_entries import Entry, FeedFilter
from communication.core.live.hub import Hub
from communication.core.live.workflow_feed import FeedSubscription
from communication.core.services import Core
from server import create_app
from tests.support.feed_workflow import GO_TOPIC, SECRET_KEY
from tests.support.inprocess import make_settings

Frame = tuple[str, str | None, str, str]  # kind, key, data JSON, cursor after it


def _frame(entry: Entry, pos: Position) -> Frame:
    return entry.kind, entry.key, json.dumps(entry.data, sort_keys=True), pos.encode()


class RecordingWriter:
    """A transport that takes every entry at once, except from ``slow_kind`` on (that write stays under way until
    ``release`` is set)."""

    def __init__(self, slow_kind: str | None = None) -> None:
        self.frames: list[Frame] = []
        self.direct = 0
        self.slow_kind = slow_kind
        self.release = asyncio.Event()
        self._pending: Frame | None = None

    def ready(self) -> bool:
        return self._pending is None

    def write(self, entry: Entry, pos: Position, now: float) -> Outcome:
        if entry.kind == self.slow_kind and self.direct > 0:
            self.slow_kind = None
            self._pending = _frame(entry, pos)
            return Outcome.TAKEN_DETACH
        self.frames.append(_frame(entry, pos))
        self.direct += 1
        return Outcome.WRITTEN

    async def flush(self) -> None:
        if self._pending is not None:
            await self.release.wait()
            self.frames.append(self._pending)
            self._pending = None


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, hub_buffer_size=16))
    async with application.router.lifespan_context(application):
        yield application


async def _consume(sub: FeedSubscription, frames: list[Frame]) -> None:
    async for entry, pos in sub:
        frames.append(_frame(entry, pos))


async def test_caught_up_feed_subscribers_get_exactly_their_frames_with_the_cursors_of_their_own_path(
    app: FastAPI,
) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    wid, rounds = "feed-direct", 20
    await core.workflows.start("feed_busy", {"rounds": rounds}, wid)
    version = None
    while (event := await core.events.get(wid, "progress", 30, after_version=version)).value != rounds - 1:
        version = event.version  # the first half is written: the workflow waits for "go"
    reference: list[Frame] = []
    own_path = await hub.workflows.open(wid, Position(), FeedFilter())
    few = FeedFilter(events=frozenset({"progress"}), streams=frozenset(), status=False)
    writers = {
        "all": (RecordingWriter(), FeedFilter()),
        "few": (RecordingWriter(), few),
        "read_token": (RecordingWriter(), FeedFilter(secrets=False)),
        "slow": (RecordingWriter(slow_kind="stream"), FeedFilter()),
    }
    tasks = [asyncio.create_task(_consume(own_path, reference))]
    for writer, wanted in writers.values():
        sub = await hub.workflows.open(wid, Position(), wanted)
        sub.deliver_to(writer)
        tasks.append(asyncio.create_task(_consume(sub, writer.frames)))
    async with asyncio.timeout(30):
        while wid not in hub.workflows.feeds or len(hub.workflows.feeds[wid].direct) < len(writers):
            await asyncio.sleep(0.01)  # every writer's subscriber caught up and attached
    await core.messages.send(wid, 1, GO_TOPIC)
    slow = writers["slow"][0]
    async with asyncio.timeout(60):
        await asyncio.gather(*tasks[:4])  # everyone but the stalled one, which holds its write meanwhile
        assert slow.frames == reference[: len(slow.frames)] and len(slow.frames) < len(reference)
        slow.release.set()
        await tasks[4]
    assert reference[-1][0] == "end"
    for name, (writer, wanted) in writers.items():
        assert writer.direct > 0, name  # the feed wrote to it itself
        kept = [f for f in reference if wanted.wants(Entry(f[0], f[1], -1, {}, Position()))]
        assert writer.frames == kept, name
    assert not any(f[1] == SECRET_KEY for f in writers["read_token"][0].frames)
    assert [f[0] for f in writers["few"][0].frames] == ["event"] * (2 * rounds) + ["end"]
    assert hub.stats()["subscriptions"] == 0
