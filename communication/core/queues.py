"""The work queue: which DBOS queues a process executes, and the queue's registration with its limits.

Roles (see README "Deployment: many nodes, workers, recovery"):

- **HTTP node, no work queue** (the default): starts run in the HTTP process; it executes every queue.
- **HTTP node with ``work_queue``**: starts are enqueued onto the work queue and the node does *not* execute it
  (unless ``execute_queue_in_http``), so workflows run on workers. DBOS's internal queue (schedules without a queue,
  resumed workflows) is still executed everywhere: DBOS always listens to it.
- **Worker** (``python -m communication.node.worker``): executes the work queue (and DBOS's internal queue); no HTTP.

DBOS fixes which queues a process listens to before launch (``DBOS.listen_queues``) and registers queues after
launch (``DBOS.register_queue``), so :mod:`communication.core.ops.runtime` calls :func:`listen_queues` and
:func:`register_work_queue` on either side of ``DBOS.launch()``.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from dbos import DBOS

from communication.core.settings import Settings

log = logging.getLogger("communication.core.queues")


def listen_queues(settings: Settings, *, worker: bool) -> list[str] | None:
    """The queues this process executes, for ``DBOS.listen_queues``; ``None`` means every queue."""
    if worker:
        assert settings.work_queue, "checked by config_check: worker mode needs a work queue"
        return [settings.work_queue]
    if settings.work_queue and not settings.execute_queue_in_http:
        return []  # only DBOS's internal queues, which DBOS always executes
    return None


def _register(settings: Settings, executes: bool) -> None:
    assert settings.work_queue
    DBOS.register_queue(
        settings.work_queue,
        worker_concurrency=settings.worker_concurrency,
        global_concurrency=settings.global_concurrency,
        polling_interval_sec=settings.queue_polling_interval_sec,
        # The queue's limits live in the database and apply to every process. Processes that execute the queue
        # own them (the latest start wins, so a changed limit takes effect on the next rollout); an HTTP node
        # that only enqueues creates the queue if it is missing but never overwrites the workers' limits.
        on_conflict="always_update" if executes else "never_update",
    )


def register_work_queue(settings: Settings, *, worker: bool) -> None:
    """Register the work queue with its limits; no-op without a work queue. Needs a launched DBOS.

    ``DBOS.register_queue`` refuses to run on a thread with a running event loop (the server's lifespan), so it
    then runs on a short-lived helper thread; either way this returns once the queue is stored.
    """
    if not settings.work_queue:
        return
    executes = worker or settings.execute_queue_in_http
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _register(settings, executes)
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-queue") as pool:
            pool.submit(_register, settings, executes).result()
    log.info(
        "work queue %r: worker_concurrency=%s global_concurrency=%s",
        settings.work_queue,
        settings.worker_concurrency,
        settings.global_concurrency,
    )
