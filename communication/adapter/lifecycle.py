"""DBOS internals the process lifecycle needs that DBOS's public API lacks (pinned by the adapter contract tests).

Each function names the private attribute it depends on, so a DBOS upgrade that moves it fails the contract test
with that name instead of silently breaking a server.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from dbos import _dbos as dbos_module
from sqlalchemy import text


def instance_exists() -> bool:
    """Whether a DBOS instance exists in this process (launched or not yet destroyed): ``_dbos_global_instance``."""
    return dbos_module._dbos_global_instance is not None


def system_database() -> Any:
    """The launched DBOS instance's system database object (``DBOS._sys_db``): ``None`` before launch."""
    instance = dbos_module._dbos_global_instance
    return None if instance is None else instance._sys_db_field


def ping() -> None:
    """One ``SELECT 1`` on DBOS's system database engine; raises what the driver raises when it is unreachable.

    Raises:
        RuntimeError: DBOS is not launched.
    """
    sys_db = system_database()
    if sys_db is None:
        raise RuntimeError("DBOS is not launched")
    with sys_db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def stop_retrying_connections(sys_db: Any) -> None:
    """After ``DBOS.destroy``: make a still-running database call fail instead of retrying forever.

    A workflow's database call still running on an executor thread outlives destroy; DBOS retries a lost
    connection forever (``SystemDatabase._retry_connection_errors``), so once its database is gone (a dropped test
    database, a decommissioned node) that thread would never end and the interpreter would never exit.
    """
    if sys_db is not None:
        sys_db._retry_connection_errors = False


def recover_pending_workflows(executor_ids: list[str]) -> list[str]:
    """Re-enqueue the PENDING workflows of other executors (``DBOS._recover_pending_workflows``); their ids."""
    handles = DBOS._recover_pending_workflows(executor_ids)
    return [h.get_workflow_id() for h in handles]


def is_local_dbos_function(name: str) -> bool:
    """Whether this process registered a DBOS workflow of this name (``DBOS._registry.workflow_info_map``): its own
    functions, which a gateway must never start by name on another application's queue."""
    instance = dbos_module._dbos_global_instance
    return instance is not None and name in instance._registry.workflow_info_map
