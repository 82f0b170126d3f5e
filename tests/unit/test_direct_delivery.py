"""Direct delivery in-process (hub level): a feed writes each new item to every caught-up subscriber's sink in one
pass; a sink that cannot take an item at once is detached onto the subscriber's own path without loss.

The sinks here stand for a transport (what ``communication.http.direct_sse.SseSink`` is over ASGI): each records
what it was handed, and what its subscriber's own iterator yields goes to the same record, so a test sees the
order in which one client would have received its frames. Real DBOS, real feeds, real workflow writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from communication.core.live.buffers import Feed, Subscription
from communication.core.live.direct import Outcome
from communication.core.live.hub import End, Hub, Item
from communication.core.services import Core
from server import create_app
from tests.support.inprocess import make_settings


class RecordingSink:
    """A transport that takes every item at once, except as told: ``slow_at`` (the write is under way until
    ``release`` is set), ``refuse_at`` (not taken)."""

    def __init__(self, slow_at: int | None = None, refuse_at: int | None = None) -> None:
        self.received: list[int] = []
        self.direct = 0
        self.passes = 0
        self.slow_at = slow_at
        self.refuse_at = refuse_at
        self.release = asyncio.Event()
        self._pending: int | None = None

    def ready(self) -> bool:
        return self._pending is None

    def deliver(self, item: Item, now: float) -> Outcome:
        if item.position == self.refuse_at:
            self.refuse_at = None
            return Outcome.REFUSED
        if item.position == self.slow_at:
            self.slow_at = None
            self._pending = item.position
            return Outcome.TAKEN_DETACH
        self.received.append(item.position)
        self.direct += 1
        return Outcome.WRITTEN

    def passed(self, item: Item, written: int) -> None:
        self.passes += 1

    async def flush(self) -> None:
        if self._pending is not None:
            await self.release.wait()
            self.received.append(self._pending)
            self._pending = None


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, hub_buffer_size=16))
    async with application.router.lifespan_context(application):
        yield application


async def _gated(core: Core, wid: str, n: int) -> None:
    await core.workflows.start("test_gated_stream", {"n": n}, wid)
    await core.events.get(wid, "status", 30)


async def _consume(sub: Subscription, sink: RecordingSink) -> End:
    """The subscriber's own path: what the iterator yields is 'written' after what the sink took."""
    end: End | None = None
    async for out in sub:
        if isinstance(out, End):
            end = out
        else:
            sink.received.append(out.position)
    assert end is not None
    return end


def _feed(hub: Hub, wid: str) -> Feed:
    return hub.stream_feeds()[(wid, "numbers")]


async def _attached(hub: Hub, wid: str, count: int) -> None:
    async with asyncio.timeout(30):
        while (wid, "numbers") not in hub.stream_feeds() or len(_feed(hub, wid).direct) < count:
            await asyncio.sleep(0.01)


async def test_caught_up_subscribers_get_every_value_directly_in_order_exactly_once(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-all", 60)
    sinks = [RecordingSink() for _ in range(20)]
    subs = [await hub.tail_stream("direct-all", "numbers", 0) for _ in sinks]
    for sub, sink in zip(subs, sinks, strict=True):
        assert sub.deliver_to(sink)
    tasks = [asyncio.create_task(_consume(sub, sink)) for sub, sink in zip(subs, sinks, strict=True)]
    await _attached(hub, "direct-all", len(sinks))
    await core.messages.send("direct-all", 1, "go")
    ends = await asyncio.gather(*tasks)
    for sink, end in zip(sinks, ends, strict=True):
        assert sink.received == list(range(60))
        assert sink.direct > 0  # the feed wrote to it itself
        assert end.reason == "closed" and end.next_offset == 60
    assert hub.stats()["subscriptions"] == 0


async def test_a_slow_transport_is_detached_without_loss_and_the_others_are_unaffected(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-slow", 60)
    slow, fast = RecordingSink(slow_at=3), RecordingSink()
    slow_sub = await hub.tail_stream("direct-slow", "numbers", 0)
    fast_sub = await hub.tail_stream("direct-slow", "numbers", 0)
    slow_sub.deliver_to(slow)
    fast_sub.deliver_to(fast)
    slow_task = asyncio.create_task(_consume(slow_sub, slow))
    fast_task = asyncio.create_task(_consume(fast_sub, fast))
    await _attached(hub, "direct-slow", 2)
    await core.messages.send("direct-slow", 1, "go")
    # The fast subscriber gets everything while the slow one's write of offset 3 is still under way.
    fast_end = await fast_task
    assert fast.received == list(range(60)) and fast_end.reason == "closed"
    assert slow.received == [0, 1, 2]
    slow.release.set()
    slow_end = await slow_task
    # Detached at offset 3, it finished that write on its own path. 56 values behind a buffer of 16, that path
    # drops it with the offset to resume from (as for any live subscriber that falls behind the buffer); the
    # resumed tail reads the rest from the database: in order, each value once.
    assert slow_end.reason == "overflow" and slow_end.next_offset == 4
    resumed = await hub.tail_stream("direct-slow", "numbers", slow_end.next_offset)
    slow.received += [x.position async for x in resumed if isinstance(x, Item)]
    assert slow.received == list(range(60))


async def test_a_refused_value_goes_through_the_subscriber_own_path_in_its_place(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-refuse", 20)
    sink = RecordingSink(refuse_at=5)
    sub = await hub.tail_stream("direct-refuse", "numbers", 0)
    sub.deliver_to(sink)
    task = asyncio.create_task(_consume(sub, sink))
    await _attached(hub, "direct-refuse", 1)
    await core.messages.send("direct-refuse", 1, "go")
    end = await task
    assert sink.received == list(range(20)) and end.reason == "closed"


async def test_a_direct_subscriber_resumes_from_its_offset(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-resume", 40)
    first = RecordingSink()
    sub = await hub.tail_stream("direct-resume", "numbers", 0)
    sub.deliver_to(first)
    task = asyncio.create_task(_consume(sub, first))
    await _attached(hub, "direct-resume", 1)
    await core.messages.send("direct-resume", 1, "go")
    await task
    assert first.received == list(range(40))
    # A reconnect at offset 25 (Last-Event-ID 24) and one beyond the head both see exactly their part.
    again, beyond = RecordingSink(), RecordingSink()
    resumed = await hub.tail_stream("direct-resume", "numbers", 25)
    resumed.deliver_to(again)
    await _consume(resumed, again)
    assert again.received == list(range(25, 40))
    ahead = await hub.tail_stream("direct-resume", "numbers", 100)
    ahead.deliver_to(beyond)
    end = await _consume(ahead, beyond)
    assert beyond.received == [] and end.reason == "closed"


async def test_a_direct_subscriber_cancelled_while_attached_is_removed_and_releases_its_slot(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-cancel", 5)
    sink = RecordingSink()
    sub = await hub.tail_stream("direct-cancel", "numbers", 0)
    sub.deliver_to(sink)
    task = asyncio.create_task(_consume(sub, sink))
    await _attached(hub, "direct-cancel", 1)
    assert hub.stats()["subscriptions"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sub.aclose()
    assert len(_feed(hub, "direct-cancel").direct) == 0
    assert hub.stats()["subscriptions"] == 0
    await core.messages.send("direct-cancel", 1, "go")  # later writes reach no one, and nothing breaks


async def test_event_watches_have_no_direct_path(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "direct-events", 1)
    watch = await hub.watch_events("direct-events", 0)
    assert not watch.deliver_to(RecordingSink())  # read-scope filters apply per subscriber on that path
    await watch.aclose()
