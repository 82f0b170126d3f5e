"""Contract tests of every private DBOS dependency (all of them live in ``communication/adapter``).

Each test names the internal it pins: when a DBOS upgrade moves or changes one, the failure says which, instead of
live delivery or sends breaking silently. The behavioural tests exercise them too (tests/api/test_*_api.py); these are
the map. Run before widening the ``dbos`` range in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from dbos import DBOS
from fastapi import FastAPI

from communication.adapter import contract, lifecycle, notifications, requests, store, stream_batch
from communication.app.factory import create_app
from communication.core.ops.runtime import dbos_config
from communication.core.services import Core
from communication.core.settings import Settings
from tests.support.inprocess import make_settings


def _require(condition: bool, dependency: str, detail: str = "") -> None:
    assert condition, f"DBOS internal changed: {dependency}" + (f" ({detail})" if detail else "")


def test_private_names_and_signatures_hold() -> None:
    assert contract.check_static() == []


@pytest.fixture
def launched(database_url: str) -> Iterator[None]:
    DBOS(config=dbos_config(Settings(database_url=database_url, log_level="warning")))
    DBOS.launch()
    try:
        yield
    finally:
        DBOS.destroy(destroy_registry=False)


@DBOS.workflow(name="adapter_contract_probe")
async def _probe() -> str:
    await DBOS.set_event_async("k", {"v": 1})
    await DBOS.set_event_async("k", {"v": 2})
    await DBOS.write_stream_async("s", "a")
    await DBOS.write_stream_async("s", "b")
    await DBOS.close_stream_async("s")
    await DBOS.recv_async("go", timeout_seconds=30)
    return "ok"


async def test_system_database_tables_and_columns_hold(launched: None) -> None:
    assert contract.check_launched(lifecycle.system_database()) == []
    lifecycle.ping()


async def test_store_round_trip_over_dbos_internals(launched: None) -> None:
    handle = await DBOS.start_workflow_async(_probe)
    wid = handle.workflow_id
    assert (await DBOS.get_event_async(wid, "k", timeout_seconds=30)) is not None
    # Stream: wait until the close marker is there (the snapshot is a non-blocking read).
    async for _ in DBOS.read_stream_async(wid, "s"):
        pass
    snapshot = store.read_stream(wid, "s", 0, 10)
    _require(
        snapshot is not None and snapshot.values == ["a", "b"] and snapshot.closed,
        "streams table + closed sentinel",
        str(snapshot),
    )
    _, events = store.read_events(wid)
    _require(events["k"].value == {"v": 2} and events["k"].version > 0, "workflow_events_history versions", str(events))
    first = store.send_once(wid, "go", "now", "contract-1")
    again = store.send_once(wid, "go", "now", "contract-1")
    _require(
        (first.result, again.result) == ("delivered", "duplicate"),
        "send_bulk_with_connection + message id",
        f"{first} {again}",
    )
    assert await handle.get_result() == "ok"
    _require(store.is_terminal("SUCCESS") and not store.is_terminal("PENDING"), "workflow_is_active")


async def test_a_batched_stream_read_answers_as_one_read_per_stream(launched: None) -> None:
    handle = await DBOS.start_workflow_async(_probe)
    wid = handle.workflow_id
    async for _ in DBOS.read_stream_async(wid, "s"):
        pass
    wanted = [
        stream_batch.StreamRead(wid, "s", 0, 10),  # everything, then the close marker
        stream_batch.StreamRead(wid, "s", 0, 1),  # a window that stops before the marker
        stream_batch.StreamRead(wid, "s", 1, 1),  # the marker right after the window
        stream_batch.StreamRead(wid, "s", 2, 5),  # at the marker
        stream_batch.StreamRead(wid, "missing", 0, 5),  # no such stream
        stream_batch.StreamRead("no-such-workflow", "s", 0, 5),  # no such workflow
    ]
    batched = stream_batch.read_streams(wanted)
    single = [store.read_stream(r.workflow_id, r.key, r.offset, r.limit) for r in wanted]
    _require(batched == single, "streams table read in one compound statement", f"{batched} != {single}")
    assert batched[0] is not None and batched[0].values == ["a", "b"] and batched[0].closed
    assert batched[5] is None
    await DBOS.send_async(wid, "now", "go")
    assert await handle.get_result() == "ok"


@DBOS.workflow(name="adapter_contract_request_probe")
async def _request_probe() -> None:
    await DBOS.set_event_async("request.t", {"n": 1})
    await DBOS.set_event_async("request.t", {"n": 2})


async def test_workflow_events_hold_the_latest_value_with_the_workflows_name_and_application(launched: None) -> None:
    handle = await DBOS.start_workflow_async(_request_probe)
    await handle.get_result()
    row = requests.read_request(handle.workflow_id, "t")
    _require(row is not None and row.value == {"n": 2}, "workflow_events (latest value per key)", str(row))
    assert row is not None
    _require(row.workflow_name == "adapter_contract_request_probe", "workflow_status.name", str(row))
    _require(row.application == Settings().app_name, "workflow_status.application_name", str(row))
    listed = requests.list_requests(active_only=False, limit=10)
    _require([r.workflow_id for r in listed] == [handle.workflow_id], "workflow_events key prefix", str(listed))


# --- the hub's write notifications (adapter/notifications.py) ---


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        yield application


async def _run_gated(app: FastAPI, wid: str, n: int) -> None:
    core: Core = app.state.core
    await core.workflows.start("test_gated_stream", {"n": n}, wid)
    await core.events.get(wid, "status", 30)
    await core.messages.send(wid, 1, "go")
    await core.workflows.result(wid, 30)


async def test_dbos_notifies_stream_writes_and_events_as_workflow_id_colon_colon_key(
    app: FastAPI, database_url: str
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("LISTEN/NOTIFY is Postgres only")
    seen: list[tuple[str, str]] = []
    async with await psycopg.AsyncConnection.connect(notifications.libpq_url(database_url), autocommit=True) as conn:
        for channel in (notifications.STREAMS_CHANNEL, notifications.EVENTS_CHANNEL):
            await conn.execute(f"LISTEN {channel}")
        await _run_gated(app, "contract:notify", 2)

        async def collect() -> None:
            async for n in conn.notifies():
                seen.append((n.channel, n.payload))
                if {
                    (notifications.STREAMS_CHANNEL, "contract:notify::numbers"),
                    (notifications.EVENTS_CHANNEL, "contract:notify::status"),
                } <= set(seen):
                    return

        try:
            await asyncio.wait_for(collect(), 10)
        except TimeoutError:
            pytest.fail(
                "DBOS no longer NOTIFYs '<workflow_id>::<key>' on _dbos_streams_channel / "
                f"_dbos_workflow_events_channel after a stream write / set_event (saw {seen[:10]}): "
                "the hub's LISTEN (communication/adapter/notifications.py) would miss every write"
            )


def _sqlite_engine(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url)


async def test_sqlite_tables_the_change_poller_reads_have_rowids_and_a_completed_at_index(
    app: FastAPI, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the rowid poller is SQLite only")
    await _run_gated(app, "contract-rowid", 3)
    engine = _sqlite_engine(database_url)
    with engine.connect() as c:
        for table in ("streams", "workflow_events_history"):
            sql = c.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar()
            assert sql is not None, f"DBOS SQLite table {table!r} is gone (communication/adapter/notifications.py)"
            assert "WITHOUT ROWID" not in sql.upper(), (
                f"DBOS SQLite table {table!r} lost its rowid: poll_changes reads new rows by rowid"
            )
        offsets = [r[0] for r in c.execute(sa.text('SELECT "offset" FROM streams ORDER BY rowid'))]
        assert offsets == sorted(offsets), "DBOS stream rows no longer get increasing rowids in write order"
        index = c.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'idx_workflow_status_completed_at'")
        ).scalar()
        assert index is not None, (
            "DBOS index idx_workflow_status_completed_at is gone: poll_changes finds finished workflows by completed_at"
        )
        completed = c.execute(
            sa.text("SELECT completed_at FROM workflow_status WHERE workflow_uuid = 'contract-rowid'")
        ).scalar()
        assert isinstance(completed, int) and completed > 0, (
            "DBOS no longer sets workflow_status.completed_at (epoch ms) when a workflow finishes"
        )
    engine.dispose()


async def test_change_poller_reports_stream_writes_event_sets_and_finished_workflows(
    app: FastAPI, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the rowid poller is SQLite only")
    cursors = await asyncio.to_thread(notifications.initial_cursors)
    await _run_gated(app, "contract-poll", 2)
    changes = await asyncio.to_thread(notifications.poll_changes, cursors)
    assert ("contract-poll", "numbers") in changes.streams, "poll_changes missed a stream write (tables.streams)"
    assert "contract-poll" in changes.events, "poll_changes missed a set_event (tables.workflow_events_history)"
    assert "contract-poll" in changes.finished, "poll_changes missed a finished workflow (workflow_status.completed_at)"
    again = await asyncio.to_thread(notifications.poll_changes, cursors)
    assert not again.streams and not again.events and not again.finished, "poll_changes reported a change twice"


async def test_the_commit_probe_sees_every_commit_of_other_connections(app: FastAPI, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PRAGMA data_version is SQLite only")
    probe = notifications.CommitProbe()
    try:
        assert probe.changed(), "the first look always answers changed"
        assert not probe.changed(), "nothing was committed since the last look"
        await _run_gated(app, "contract-probe", 1)  # DBOS commits on its own connections
        assert probe.changed(), "PRAGMA data_version missed a commit of another connection"
        assert not probe.changed()
    finally:
        probe.close()


async def test_heads_of_streams_and_events_match_what_was_written(app: FastAPI) -> None:
    await _run_gated(app, "contract-heads", 4)
    heads: Any = await asyncio.to_thread(
        notifications.read_heads, [("contract-heads", "numbers"), ("contract-heads", "none")], ["contract-heads"]
    )
    # 4 values and the close marker; DBOS tables.streams (offset) and tables.workflow_events_history (function_id)
    assert heads.streams[("contract-heads", "numbers")] == 5, "stream head: DBOS streams.offset layout changed"
    assert heads.streams[("contract-heads", "none")] == -1
    assert heads.events["contract-heads"] >= 1, "event head: DBOS workflow_events_history.function_id changed"
    assert store.is_terminal(heads.statuses["contract-heads"]), "workflow_status.status no longer final"
    assert await asyncio.to_thread(notifications.stream_head, "contract-heads", "numbers") == 4
