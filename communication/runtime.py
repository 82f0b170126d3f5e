"""DBOS lifecycle: build its configuration from :class:`Settings`, launch and destroy it."""

from __future__ import annotations

import logging
import math

from dbos import DBOS, DBOSConfig
from dbos import _dbos as dbos_module

from communication import queues
from communication.config_check import mask_url
from communication.settings import Settings

log = logging.getLogger("communication.runtime")


def dbos_config(settings: Settings) -> DBOSConfig:
    """The DBOS configuration for ``settings`` (see the field docs in settings.py for the tuning choices)."""
    config: DBOSConfig = {
        "name": settings.app_name,
        "system_database_url": settings.resolved_database_url(),
        "log_level": settings.log_level.upper(),
        "sys_db_pool_size": settings.sys_db_pool_size,
        "notification_listener_polling_interval_sec": settings.sqlite_polling_interval_sec,
        "notification_coalesce_sec": settings.notification_coalesce_sec,
        # The scheduler only needs to notice new schedules; 5 s keeps it responsive without churn.
        "scheduler_polling_interval_sec": 5.0,
    }
    if settings.executor_id:
        config["executor_id"] = settings.executor_id
    if settings.app_version:
        config["application_version"] = settings.app_version
    return config


def launch(settings: Settings, *, worker: bool = False) -> None:
    """Create and launch the process's DBOS instance; pending workflows of this executor are recovered.

    Imports :mod:`workflows` first so every workflow type is registered before recovery runs. ``worker``: execute
    only the work queue (see :mod:`communication.queues` for which queues each role executes).
    """
    import workflows  # noqa: F401  (registers workflow types with DBOS before launch)
    from workflows import pipeline_workflow

    pipeline_workflow.configure(settings.pipeline_artifact_dir)
    DBOS(config=dbos_config(settings))
    listen = queues.listen_queues(settings, worker=worker)
    if listen is not None:
        DBOS.listen_queues(listen)
    DBOS.launch()
    queues.register_work_queue(settings, worker=worker)
    log.info(
        "DBOS launched on %s as executor %r",
        mask_url(settings.resolved_database_url()),
        settings.executor_id or "local",
    )


def shutdown(grace_seconds: float = 0.0) -> None:
    """Destroy the DBOS instance but keep the workflow registry, so a later launch in the same process works.

    Args:
        grace_seconds: first stop dequeuing and scheduling, then let workflows running in this process continue
            for up to this long (DBOS waits in whole seconds). What is still running is abandoned and recovered by
            the next process with this executor id. Blocks: call it off the event loop when workflows run on it.
    """
    instance = dbos_module._dbos_global_instance
    sys_db = instance._sys_db_field if instance is not None else None
    DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=math.ceil(max(0.0, grace_seconds)))
    if sys_db is not None:
        # A workflow's database call still running on an executor thread outlives destroy; DBOS retries a lost
        # connection forever, so once its database is gone (a dropped test database, a decommissioned node) that
        # thread would never end and the interpreter would never exit. From now on such calls fail instead.
        sys_db._retry_connection_errors = False
