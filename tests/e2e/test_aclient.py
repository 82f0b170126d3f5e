"""What only the asynchronous client does: concurrent live reads on one event loop, and its own failure modes.

Every method is also exercised through ``tests/e2e/test_client.py``, whose suite runs against both clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from communication.client import AsyncClient
from communication.client import errors as ce
from communication.client.sse import RetryPolicy
from communication.protocol.models import EventOut
from tests.support.server_proc import (
    ServerProcess,
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


async def test_unreachable_server_and_exhausted_reconnects() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_attempts=1, initial_backoff=0.01)
    async with AsyncClient(url, timeout=2, retry=policy) as c:
        with pytest.raises(ce.ServerUnreachable):
            await c.result("x")
        with pytest.raises(ce.ReconnectsExhausted):
            _ = [i async for i in c.tail_stream("x", "y")]
