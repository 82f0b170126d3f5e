"""The asynchronous client against a real ``python server.py`` subprocess: every method, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from communication.client import AsyncClient
from communication.client import errors as ce
from communication.client.sse import RetryPolicy
from communication.protocol.models import EventOut, StreamItem
from tests.support.server_proc import (
    ServerProcess,
    TcpProxy,
    free_port,
)

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.url) as c:
        yield c


async def add(client: AsyncClient, workflow_id: str, amount: int) -> Any:
    """One request into a counter workflow; returns its reply value."""
    return (await client.send_and_wait(workflow_id, {"op": "add", "amount": amount}, timeout=30)).value


async def test_workflow_lifecycle_start_status_list_result_steps_fork(client: AsyncClient) -> None:
    started = await client.start("events", {"n_steps": 2}, workflow_id="a-events")
    assert started.created and not (await client.start("events", {"n_steps": 2}, workflow_id="a-events")).created
    outcome = await client.result("a-events", timeout=30)
    assert outcome.done and outcome.status == "SUCCESS"
    assert (await client.status("a-events")).output == outcome.output
    assert [w.workflow_id for w in (await client.list_workflows(type_name="events")).workflows] == ["a-events"]
    assert len((await client.steps("a-events")).steps) > 3
    forked = await client.fork("a-events", 2)
    assert (await client.result(forked.workflow_id, timeout=30)).output == outcome.output
    assert "counter" in {t.type for t in await client.workflow_types()}
    assert await client.ready()
    with pytest.raises(ce.WorkflowNotFound):
        await client.status("nope")
    with pytest.raises(ce.UnknownWorkflowType):
        await client.start("nope")


async def test_cancel_resume_and_approval_by_message(client: AsyncClient) -> None:
    await client.start("messaging", {"n_steps": 1}, workflow_id="a-appr")
    assert (await client.get_event("a-appr", "status", timeout=30)).value == "waiting_for_approval"
    assert not (await client.result("a-appr", timeout=0.2)).done
    assert (await client.cancel("a-appr")).status == "CANCELLED"
    assert (await client.resume("a-appr")).status in ("PENDING", "ENQUEUED")
    first = await client.send("a-appr", {"approved": True, "message": "async"}, idempotency_key="ak")
    assert first.outcome == "delivered"
    outcome = await client.result("a-appr", timeout=30)
    assert outcome.status == "SUCCESS" and outcome.output["approval_message"] == "async"
    with pytest.raises(ce.WorkflowFinished):
        await client.send("a-appr", {"approved": True})


async def test_events_wait_for_newer_versions_and_send_and_wait(client: AsyncClient) -> None:
    await client.start("counter", {}, workflow_id="a-ev")
    first = await client.get_event("a-ev", "value", timeout=30)
    reply = await client.send_and_wait("a-ev", {"op": "add", "amount": 3}, request_id="a-r1")
    retry = await client.send_and_wait("a-ev", {"op": "add", "amount": 3}, request_id="a-r1")
    assert (reply.value, reply.outcome, retry.value, retry.outcome) == (
        {"ok": True, "value": 3},
        "delivered",
        {"ok": True, "value": 3},
        "duplicate",
    )
    newer = await client.wait_event("a-ev", "value", first.version, timeout=30)
    assert newer.value == 3
    with pytest.raises(ce.EventTimeout):
        await client.wait_event("a-ev", "value", newer.version, timeout=0.3)
    with pytest.raises(ce.ReplyTimeout):
        await client.send_and_wait("a-ev", {"op": "get"}, topic="nobody-listens", timeout=0.3)
    first_send = await client.send("a-ev", {"x": 1}, topic="other", idempotency_key="k")
    second_send = await client.send("a-ev", {"x": 1}, topic="other", idempotency_key="k")
    assert (first_send.outcome, second_send.outcome) == ("delivered", "duplicate")
    assert (await client.events("a-ev")).events["value"].value == 3


async def test_streams_snapshot_and_live_tail_across_a_forced_disconnect(
    client: AsyncClient, server: ServerProcess
) -> None:
    await client.start("counter", {}, workflow_id="a-cut")
    for amount in (1, 2, 3):
        await add(client, "a-cut", amount)
    listing = await client.streams("a-cut")
    assert [(s.key, s.length) for s in listing.streams] == [("history", 3)]
    page = await client.read_stream("a-cut", "history", offset=1)
    assert [i.offset for i in page.values] == [1, 2] and not page.closed
    got: list[StreamItem] = []
    with TcpProxy(server.port) as proxy:
        async with AsyncClient(proxy.url) as through_proxy:
            tail = through_proxy.tail_stream("a-cut", "history")
            async for item in tail:
                got.append(item)
                if len(got) == 3:
                    proxy.drop_connections()
                    for amount in (4, 5):
                        await add(client, "a-cut", amount)
                    await client.send_and_wait("a-cut", {"op": "stop"})
    assert [i.offset for i in got] == list(range(6))
    assert [i.value for i in got] == [i.value for i in (await client.read_stream("a-cut", "history")).values]
    assert tail.end is not None and tail.end.reason == "closed"


async def test_watch_events_follows_changes_concurrently(client: AsyncClient, server: ServerProcess) -> None:
    await client.start("counter", {}, workflow_id="a-watch")
    seen: list[EventOut] = []

    async def watch() -> None:
        async for event in client.watch_events("a-watch", keys=["value"]):
            seen.append(event)

    watcher = asyncio.create_task(watch())
    await add(client, "a-watch", 7)
    await client.send_and_wait("a-watch", {"op": "stop"})
    await asyncio.wait_for(watcher, timeout=60)
    assert seen[-1].value == 7
    assert [e.version for e in seen] == sorted({e.version for e in seen})


async def test_session_post_and_tail(client: AsyncClient, server: ServerProcess) -> None:
    assert (await client.post_session_event("a-sess", "progress", 1, event_id="x")).outcome == "delivered"
    assert (await client.post_session_event("a-sess", "progress", 1, event_id="x")).outcome == "duplicate"
    await client.post_session_event("a-sess", "done")
    items = [i async for i in client.tail_session("a-sess")]
    assert [i.value.type for i in items] == ["progress", "done"]
    assert [i.value.type for i in (await client.session_events("a-sess")).values] == ["progress", "done"]


async def test_unreachable_server_and_exhausted_reconnects() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_attempts=1, initial_backoff=0.01)
    async with AsyncClient(url, timeout=2, retry=policy) as c:
        with pytest.raises(ce.ServerUnreachable):
            await c.result("x")
        with pytest.raises(ce.ReconnectsExhausted):
            _ = [i async for i in c.tail_stream("x", "y")]
