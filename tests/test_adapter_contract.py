"""Contract tests of every private DBOS dependency (all of them live in ``communication/adapter``).

Each test names the internal it pins: when a DBOS upgrade moves or changes one, the failure says which, instead of
live delivery or sends breaking silently. The behavioural tests exercise them too (tests/test_*_api.py); these are
the map. Run before widening the ``dbos`` range in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbos import DBOS

from communication.adapter import contract, lifecycle, store
from communication.core.runtime import dbos_config
from communication.core.settings import Settings


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
