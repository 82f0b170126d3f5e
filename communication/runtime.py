"""DBOS lifecycle: build its configuration from :class:`Settings`, launch and destroy it."""

from __future__ import annotations

import logging

from dbos import DBOS, DBOSConfig

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
    return config


def launch(settings: Settings) -> None:
    """Create and launch the process's DBOS instance; pending workflows of this executor are recovered.

    Imports :mod:`workflows` first so every workflow type is registered before recovery runs.
    """
    import workflows  # noqa: F401  (registers workflow types with DBOS before launch)

    DBOS(config=dbos_config(settings))
    DBOS.launch()
    log.info("DBOS launched on %s", "sqlite" if settings.is_sqlite() else "postgres")


def shutdown() -> None:
    """Destroy the DBOS instance but keep the workflow registry, so a later launch in the same process works."""
    DBOS.destroy(destroy_registry=False)
