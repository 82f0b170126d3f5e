"""DBOS lifecycle: build its configuration from :class:`Settings`, launch and destroy it."""

from __future__ import annotations

import importlib
import logging
import math
from types import ModuleType

from dbos import DBOS, DBOSConfig

from communication.adapter import lifecycle
from communication.core import queues
from communication.core.ops.config_check import mask_url
from communication.core.ops.launch_logs import condensed_migrations
from communication.core.ops.private_files import create_private_sqlite
from communication.core.ops.sqlite_wal import use_wal
from communication.core.settings import Settings

log = logging.getLogger("communication.core.ops.runtime")


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
        # DBOS's executor runs sync workflows and steps and, once DBOS installs it as the loop's default executor,
        # every asyncio.to_thread: unbounded by default (thousands of threads under load).
        "max_executor_threads": settings.thread_pool_size,
    }
    if settings.executor_id:
        config["executor_id"] = settings.executor_id
    if settings.app_version:
        config["application_version"] = settings.app_version
    return config


#: The library's own workflows (durable sessions, schedule dispatch). Every role imports them before launch: DBOS
#: hashes the source of every registered workflow into the application version, so an HTTP node (whose routes
#: import them) and a worker (which serves no routes) would otherwise compute different versions from the same
#: configuration, and workers would never run what HTTP nodes enqueue.
LIBRARY_WORKFLOW_MODULES = (
    "communication.core.library_workflows.session_workflow",
    "communication.core.library_workflows.scheduled_dispatch",
)


def load_workflow_modules(settings: Settings) -> list[ModuleType]:
    """Import every module of ``settings.workflows`` (registering its workflow types); call its ``configure``.

    A module may define ``configure(settings)``: it is called once, before DBOS launches, so workflows can take
    process configuration (workflow code cannot see :class:`Settings` otherwise). Importing twice is a no-op.
    A module that fails to import is reported earlier, as one line, by ``config_check.check_settings`` (which
    every start-up path runs first).
    """
    for library_module in LIBRARY_WORKFLOW_MODULES:
        importlib.import_module(library_module)
    modules = []
    for name in settings.workflows:
        module = importlib.import_module(name)
        configure = getattr(module, "configure", None)
        if callable(configure):
            configure(settings)
        modules.append(module)
    return modules


def launch(settings: Settings, *, worker: bool = False) -> None:
    """Create and launch the process's DBOS instance; pending workflows of this executor are recovered.

    Registers the library's own workflows and imports the configured workflow modules first, so every workflow
    type is registered before recovery runs, and every process configured alike (HTTP node or worker) registers
    the same set and so computes the same DBOS application version. ``worker``: execute only the work queue (see
    :mod:`communication.core.queues` for which queues each role executes).
    """
    load_workflow_modules(settings)
    create_private_sqlite(settings.resolved_database_url())  # owner-only at creation (it holds callback links)
    if settings.sqlite_wal:
        use_wal(settings.resolved_database_url())
    DBOS(config=dbos_config(settings))
    listen = queues.listen_queues(settings, worker=worker)
    if listen is not None:
        DBOS.listen_queues(listen)
    with condensed_migrations(settings):
        DBOS.launch()
    queues.register_work_queue(settings, worker=worker)
    log.info(
        "DBOS launched on %s as executor %r",
        mask_url(settings.resolved_database_url()),
        settings.executor_id or "local",
    )


def running_database_url() -> str | None:
    """The system database URL of the launched DBOS instance (password included), or ``None`` before launch.

    :func:`communication.app.mount.mount` uses it: there the host application configured and launched DBOS.
    """
    sys_db = lifecycle.system_database()
    if sys_db is None:
        return None
    url: str = sys_db.engine.url.render_as_string(hide_password=False)
    return url


def shutdown(grace_seconds: float = 0.0) -> None:
    """Destroy the DBOS instance but keep the workflow registry, so a later launch in the same process works.

    Args:
        grace_seconds: first stop dequeuing and scheduling, then let workflows running in this process continue
            for up to this long (DBOS waits in whole seconds). What is still running is abandoned and recovered by
            the next process with this executor id. Blocks: call it off the event loop when workflows run on it.
    """
    sys_db = lifecycle.system_database()
    DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=math.ceil(max(0.0, grace_seconds)))
    lifecycle.stop_retrying_connections(sys_db)
