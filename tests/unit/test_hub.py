"""The fan-out hub in-process: shared feeds, bounded buffers (overflow), database reads independent of fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from communication.core.library_workflows.session_workflow import SESSION_STREAM, session_workflow_id
from communication.core.live.feed_cursor import Position
from communication.core.live.feed_entries import FeedFilter
from communication.core.live.hub import End, Hub, Item
from communication.core.services import Core
from communication.core.sessions import SessionService
from server import create_app
from tests.support.inprocess import make_settings


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, hub_buffer_size=16))
    async with application.router.lifespan_context(application):
        yield application


async def _gated(core: Core, wid: str, n: int) -> None:
    await core.workflows.start("test_gated_stream", {"n": n}, wid)
    await core.events.get(wid, "status", 30)


async def test_a_live_subscriber_that_falls_behind_the_buffer_is_dropped_with_its_offset(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "hub-slow", 100)
    slow = await hub.tail_stream("hub-slow", "numbers", 0)
    fast = await hub.tail_stream("hub-slow", "numbers", 0)
    pending_slow = slow.__anext__()  # joins the live tail, then stops reading
    await core.messages.send("hub-slow", 1, "go")
    first = await pending_slow
    assert isinstance(first, Item) and first.position == 0
    fast_items = [x async for x in fast]
    assert [x.position for x in fast_items if isinstance(x, Item)] == list(range(100))
    assert isinstance(fast_items[-1], End) and fast_items[-1].reason == "closed"
    # 99 values behind with a buffer of 16 (trimmed at 32): the slow subscriber is dropped, told where to resume.
    rest = [x async for x in slow]
    drop = rest[-1]
    assert isinstance(drop, End) and drop.reason == "overflow"
    resumed = await hub.tail_stream("hub-slow", "numbers", drop.next_offset)
    tail = [x.position async for x in resumed if isinstance(x, Item)]
    delivered = [first.position] + [x.position for x in rest if isinstance(x, Item)] + tail
    assert delivered == list(range(100))


async def test_database_reads_do_not_grow_with_subscribers(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub

    async def run(wid: str, subscribers: int) -> int:
        await _gated(core, wid, 50)
        tails = [await hub.tail_stream(wid, "numbers", 0) for _ in range(subscribers)]
        firsts = [t.__anext__() for t in tails]
        before = hub.db_reads
        await core.messages.send(wid, 1, "go")
        got: list[list[Any]] = []
        for first, tail in zip(firsts, tails, strict=True):
            got.append([await first] + [x async for x in tail])
        assert all([x.position for x in g if isinstance(x, Item)] == list(range(50)) for g in got)
        return hub.db_reads - before

    one = await run("hub-one", 1)
    many = await run("hub-many", 200)
    # One feed serves every subscriber: reads depend on writes (and polling), not on the number of readers.
    assert many <= 3 * one + 10, (one, many)
    assert hub.stats()["stream_feeds"] >= 1


async def test_stream_feeds_woken_together_read_together_and_every_subscriber_is_exact(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    wids = [f"hub-batch-{i}" for i in range(12)]
    for wid in wids:
        await _gated(core, wid, 30)
    tails = [await hub.tail_stream(wid, "numbers", 0) for wid in wids]
    firsts = [t.__anext__() for t in tails]
    await asyncio.gather(*(core.messages.send(wid, 1, "go") for wid in wids))
    for first, tail in zip(firsts, tails, strict=True):
        got = [await first] + [x async for x in tail]
        assert [x.position for x in got if isinstance(x, Item)] == list(range(30))
        assert isinstance(got[-1], End) and got[-1].reason == "closed"
    batches = hub.reader.batches
    assert 0 < batches.batches <= batches.reads
    # Reads asked for in one turn of the event loop are one storage round trip, answered each as a single read.
    before = batches.batches
    slices = await asyncio.gather(
        *(batches.read(wid, "numbers", 5, 3) for wid in wids), batches.read("nope", "x", 0, 1)
    )
    assert batches.batches == before + 1
    assert all(s is not None and s.values == [{"i": 5}, {"i": 6}, {"i": 7}] for s in slices[:-1]), slices
    assert slices[-1] is None


async def test_a_session_post_wakes_its_feed_in_this_process_without_waiting_for_a_notification(app: FastAPI) -> None:
    core: Core = app.state.core
    # A hub that hears of no write by itself (no LISTEN, no change poll, a re-check once an hour): only the
    # session service's own "just written" hint can wake its feed.
    quiet = Hub(poll_interval=None, recheck_interval=3600)
    try:
        sessions = SessionService(core.settings, core.workflows, core.messages, core.streams, quiet.stream_written)
        await sessions.post("quiet-1", "progress", {"i": 0}, "e0")
        wid = session_workflow_id("quiet-1")
        tail = await quiet.tail_stream(wid, SESSION_STREAM, 0)
        first = await asyncio.wait_for(tail.__anext__(), 30)  # the feed has read: it now waits for a wake
        assert isinstance(first, Item) and first.position == 0
        await sessions.post("quiet-1", "progress", {"i": 1}, "e1")
        item = await asyncio.wait_for(tail.__anext__(), 30)
        assert isinstance(item, Item) and item.position == 1 and item.value["data"] == {"i": 1}
        await tail.aclose()
    finally:
        await quiet.close()


async def test_a_tail_after_cancel_and_resume_follows_the_resumed_workflow_not_the_ended_feed(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "hub-resumed", 3)
    before = await hub.tail_stream("hub-resumed", "numbers", 0)
    await core.workflows.cancel("hub-resumed")
    ended = [x async for x in before]  # the feed ends: the workflow is cancelled (a terminal status)
    assert isinstance(ended[-1], End) and ended[-1].reason == "workflow_finished"
    await core.workflows.resume("hub-resumed")  # the ended feed still lingers for reconnects
    await core.events.get("hub-resumed", "status", 30)
    after = await hub.tail_stream("hub-resumed", "numbers", 0)
    await core.messages.send("hub-resumed", 1, "go")
    got = [x async for x in after]
    assert [x.position for x in got if isinstance(x, Item)] == [0, 1, 2]
    assert isinstance(got[-1], End) and got[-1].reason == "closed"


async def test_a_workflow_feed_opened_after_cancel_and_resume_follows_the_resumed_workflow(app: FastAPI) -> None:
    core: Core = app.state.core
    hub: Hub = app.state.hub
    await _gated(core, "feed-resumed", 3)
    before = await hub.workflows.open("feed-resumed", Position(), FeedFilter())
    await core.workflows.cancel("feed-resumed")
    async with asyncio.timeout(30):
        ended = [entry async for entry, _ in before]
    assert (ended[-1].kind, ended[-1].data["status"]) == ("end", "CANCELLED")
    await core.workflows.resume("feed-resumed")  # the ended feed still lingers for reconnects
    after = await hub.workflows.open("feed-resumed", Position(), FeedFilter())
    await core.messages.send("feed-resumed", 1, "go")
    async with asyncio.timeout(30):
        got = [entry async for entry, _ in after]
    assert [e.data["value"] for e in got if e.kind == "stream"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert (got[-1].kind, got[-1].data["status"]) == ("end", "SUCCESS")


async def test_the_hub_listen_reconnects_after_a_postgres_restart_and_live_delivery_resumes() -> None:
    from tests.support import pg_cluster

    reason = pg_cluster.unavailable_reason()
    if reason is not None:
        pytest.skip(f"no throwaway Postgres cluster: {reason}")
    try:
        pg = await asyncio.to_thread(pg_cluster.PgCluster.create)
    except pg_cluster.PgClusterError as exc:
        pytest.skip(f"cannot run a throwaway Postgres cluster here: {exc}")
    try:
        # A re-check far away: after the restart only the hub's own LISTEN can deliver within the test's bound.
        application = create_app(make_settings(pg.url, hub_recheck_seconds=60))
        async with application.router.lifespan_context(application):
            core: Core = application.state.core
            hub: Hub = application.state.hub
            listener = hub.watcher.listener
            assert listener is not None
            await asyncio.wait_for(listener.connected.wait(), 30)
            await asyncio.to_thread(pg.stop, mode="fast")
            await asyncio.to_thread(pg.start)
            async with asyncio.timeout(60):
                while listener.connections < 2:  # bounded: the listener retries with backoff (≤ 5 s)
                    await asyncio.sleep(0.05)
            for attempt in range(40):  # DBOS's pool may still hand out connections from before the restart
                try:
                    await core.workflows.start("streaming", {"n_steps": 3, "step_delay_seconds": 0.3}, "hub-pg")
                    break
                except Exception:
                    if attempt == 39:
                        raise
                    await asyncio.sleep(0.25)
            tail = await hub.tail_stream("hub-pg", "progress_stream", 0)
            async with asyncio.timeout(30):  # the writes are ~0.3 s apart: far inside the 60 s re-check
                got = [x async for x in tail]
            assert [x.position for x in got if isinstance(x, Item)] == list(range(8))
            assert isinstance(got[-1], End) and got[-1].reason == "closed"
            assert hub.watcher.rechecks == 0
    finally:
        pg.destroy()  # not to_thread: the loop's default executor was DBOS's, gone with it
