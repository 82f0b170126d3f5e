"""Contract tests of every private DBOS dependency (all of them live in ``communication/adapter``).

Each test names the internal it pins: when a DBOS upgrade moves or changes one, the failure says which, instead of
live delivery or sends breaking silently. The behavioural tests exercise them too (tests/test_*_api.py); these are
the map. Run before widening the ``dbos`` range in pyproject.toml.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from dbos import DBOS

from communication.adapter import lifecycle, store
from communication.core.runtime import dbos_config
from communication.core.settings import Settings


def _require(condition: bool, dependency: str, detail: str = "") -> None:
    assert condition, f"DBOS internal changed: {dependency}" + (f" ({detail})" if detail else "")


def test_private_modules_and_names_exist() -> None:
    import dbos._dbos as dbos_mod
    import dbos._serialization as ser
    import dbos._sys_db as sys_db

    for module, name in [
        (dbos_mod, "_get_dbos_instance"),
        (dbos_mod, "_dbos_global_instance"),
        (ser, "deserialize_value"),
        (sys_db, "SystemDatabase"),
        (sys_db, "SendMessage"),
        (sys_db, "is_serialized_stream_closed_sentinel"),
        (sys_db, "workflow_is_active"),
    ]:
        _require(hasattr(module, name), f"{module.__name__}.{name}")
    _require(hasattr(DBOS, "_recover_pending_workflows"), "DBOS._recover_pending_workflows")
    params = list(inspect.signature(ser.deserialize_value).parameters)
    _require(len(params) == 3, "dbos._serialization.deserialize_value(value, serialization, serializer)", str(params))
    send_params = set(inspect.signature(sys_db.SystemDatabase.send_bulk_with_connection).parameters)
    for name in ("serialization_type", "function_name", "send_to_forks"):
        _require(name in send_params, f"SystemDatabase.send_bulk_with_connection(..., {name}=)", str(send_params))
    fields = list(inspect.signature(sys_db.SendMessage).parameters)
    _require(len(fields) >= 5, "SendMessage(destination_id, message, topic, idempotency_key, ...)", str(fields))


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


async def test_system_database_tables_and_columns_we_read(launched: None) -> None:
    sysdb: Any = lifecycle.system_database()
    _require(sysdb is not None, "DBOS instance ._sys_db_field")
    _require(hasattr(sysdb, "_retry_connection_errors"), "SystemDatabase._retry_connection_errors")
    for table, columns in {
        "workflow_status": {"workflow_uuid", "status"},
        "workflow_events_history": {"workflow_uuid", "key", "value", "serialization", "function_id"},
        "streams": {"workflow_uuid", "key", "offset", "value", "serialization"},
        "notifications": {"message_uuid", "destination_uuid", "topic"},
    }.items():
        _require(hasattr(sysdb.tables, table), f"SystemDatabase.tables.{table}")
        have = set(getattr(sysdb.tables, table).c.keys())
        _require(columns <= have, f"columns of {table}", f"missing {sorted(columns - have)}")
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
