"""The adapter's contract with DBOS internals: every private name, signature, table and column it relies on.

``check()`` returns the broken dependencies, each named, so a DBOS upgrade that moves one fails loudly (CI runs it
in tests/unit/test_adapter_contract.py; ``python -m communication.adapter.contract`` checks an installation) instead of
live delivery or exactly-once sends breaking silently. Keep this list in step with the adapter's imports.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from dbos import DBOS

#: (module, attribute) pairs the adapter imports or reads.
PRIVATE_NAMES: list[tuple[str, str]] = [
    ("dbos._dbos", "_get_dbos_instance"),
    ("dbos._dbos", "_dbos_global_instance"),
    ("dbos._serialization", "DBOSDefaultSerializer"),
    ("dbos._sys_db", "SystemDatabase"),
    ("dbos._sys_db", "SendMessage"),
    ("dbos._sys_db", "is_serialized_stream_closed_sentinel"),
    ("dbos._sys_db", "workflow_is_active"),
    # The hub LISTENs on DBOS's notification channels (adapter/notifications.py).
    ("dbos._sys_db", "_dbos_streams_channel"),
    ("dbos._sys_db", "_dbos_workflow_events_channel"),
    # Session posts append to a session's stream directly (adapter/session_store.py).
    ("dbos._sys_db", "_dbos_stream_closed_sentinel"),
    ("dbos._serialization", "serialize_value"),
    ("dbos._serialization", "DBOSPortableJSON"),
    ("dbos._serialization", "WorkflowSerializationFormat"),
]
#: Tables and the columns of them the adapter reads (``SystemDatabase.tables``).
TABLES: dict[str, set[str]] = {
    "workflow_status": {
        "workflow_uuid",
        "status",
        "name",
        "inputs",
        "output",
        "error",
        "serialization",
        "created_at",
        "updated_at",
        "executor_id",
        "queue_name",
        "forked_from",
        "schedule_name",
        "application_name",
    },
    "workflow_input": {"workflow_uuid", "inputs"},
    "workflow_output": {"workflow_uuid", "output", "error"},
    "operation_outputs": {
        "workflow_uuid",
        "function_id",
        "function_name",
        "output",
        "error",
        "child_workflow_id",
        "started_at_epoch_ms",
        "completed_at_epoch_ms",
        "serialization",
    },
    # the latest value per event key: the inbox's requests (adapter/requests.py)
    "workflow_events": {"workflow_uuid", "key", "value", "serialization"},
    "workflow_events_history": {"workflow_uuid", "key", "value", "serialization", "function_id"},
    "streams": {"workflow_uuid", "key", "offset", "value", "serialization", "function_id"},
    "notifications": {"message_uuid", "destination_uuid", "topic"},
}


def check_static() -> list[str]:
    """Dependencies checkable without a launched DBOS: names and signatures. Empty when all hold."""
    problems = []
    for module_name, attribute in PRIVATE_NAMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            problems.append(f"module {module_name} is gone")
            continue
        if not hasattr(module, attribute):
            problems.append(f"{module_name}.{attribute} is gone")
    if not hasattr(DBOS, "_recover_pending_workflows"):
        problems.append("DBOS._recover_pending_workflows is gone")
    if problems:
        return problems
    ser = importlib.import_module("dbos._serialization")
    sys_db = importlib.import_module("dbos._sys_db")
    # adapter/safe_decode.py decodes by these serialization names (and only these).
    if ser.DBOSPortableJSON.name() != "portable_json" or ser.DBOSDefaultSerializer.name() != "py_pickle":
        problems.append("DBOS's serialization names are no longer 'portable_json' / 'py_pickle'")
    send = set(inspect.signature(sys_db.SystemDatabase.send_bulk_with_connection).parameters)
    for name in ("serialization_type", "function_name", "send_to_forks"):
        if name not in send:
            problems.append(f"SystemDatabase.send_bulk_with_connection has no parameter {name!r}")
    fields = list(inspect.signature(sys_db.SendMessage).parameters)
    if fields[:4] != ["destination_id", "message", "topic", "idempotency_key"]:
        problems.append(f"SendMessage(destination_id, message, topic, idempotency_key, ...) is now {fields}")
    return problems


def check_launched(sysdb: Any) -> list[str]:
    """Dependencies on the launched instance's system database object. Empty when all hold."""
    problems = []
    if sysdb is None:
        return ["the DBOS instance has no _sys_db_field"]
    for attribute in ("engine", "tables", "serializer", "_retry_connection_errors", "_signal_notification"):
        if not hasattr(sysdb, attribute):
            problems.append(f"SystemDatabase.{attribute} is gone")
    tables = getattr(sysdb, "tables", None)
    for table, columns in TABLES.items():
        if not hasattr(tables, table):
            problems.append(f"SystemDatabase.tables.{table} is gone")
            continue
        have = set(getattr(tables, table).c.keys())
        if not columns <= have:
            problems.append(f"table {table} lost columns {sorted(columns - have)}")
    return problems


def main() -> int:
    """Print the static check's problems; exit 1 when there are any."""
    problems = check_static()
    for problem in problems:
        print(f"DBOS internal changed: {problem}", file=sys.stderr)
    print("adapter contract holds" if not problems else f"{len(problems)} broken dependencies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
