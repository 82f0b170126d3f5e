"""Prometheus metrics of the communication server, exposed at ``GET /metrics``.

Other modules import the module-level objects and update them (``MESSAGES_SENT.labels(outcome="delivered").inc()``).

Design decisions:

- **One dedicated registry per process** (:data:`REGISTRY`), not prometheus-client's default one. The metric objects
  are created once, when this module is first imported, so building several apps in one process (every test does)
  never registers a name twice; and nothing another library puts into the default registry leaks into our
  endpoint. The process, platform and GC collectors are added to it explicitly, so operators still get
  ``process_*`` and ``python_*`` series. Metrics are per process: each HTTP node and each worker exposes its own,
  and Prometheus sums them (``sum by (type) (rate(comm_workflows_started_total[5m]))``).
- **Workflows started** count in the process that accepted the start (:mod:`communication.core.workflows`),
  whether it ran it in-process or enqueued it for a worker.
  Scheduled runs are started by DBOS's scheduler and do not count here.
- **Workflows finished** with SUCCESS or ERROR count in the process that *executed* the workflow, when the
  workflow function returns or raises (:func:`instrument_workflow`, applied by the registry to every registered
  type). This costs nothing (no database query), counts each completion once across a fleet (a finished workflow is
  never executed again; one that crashed mid-way is counted by the process that recovers and finishes it), and
  includes scheduled runs and workers. CANCELLED counts in the process that accepted the cancel request (the running
  execution may not observe its own cancellation). Counting on result reads was rejected: a result read twice would
  count twice, one never read not at all. Cancellations made outside the API (the ``dbos`` CLI) are not counted.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

#: The registry ``GET /metrics`` renders. Process-wide on purpose: see the module docstring.
REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

WORKFLOWS_STARTED = Counter(
    "comm_workflows_started",
    "Workflows started through the API (in-process or enqueued), by type.",
    ["type"],
    registry=REGISTRY,
)
WORKFLOWS_FINISHED = Counter(
    "comm_workflows_finished",
    "Workflows this process executed to an end, by type and status (SUCCESS, ERROR, CANCELLED).",
    ["type", "status"],
    registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "comm_messages_sent",
    "Messages accepted for workflows, by outcome (delivered, duplicate).",
    ["outcome"],
    registry=REGISTRY,
)
LIVE_SUBSCRIBERS = Gauge(
    "comm_live_subscribers",
    "Live subscribers connected now, by kind (e.g. stream, events, session).",
    ["kind"],
    registry=REGISTRY,
)
STREAM_VALUES_DELIVERED = Counter(
    "comm_stream_values_delivered",
    "Stream values sent to clients, by transport (e.g. sse, websocket, snapshot).",
    ["transport"],
    registry=REGISTRY,
)
DIRECT_DELIVERIES = Counter(
    "comm_direct_deliveries",
    "Of the live values delivered, those a feed wrote to a caught-up subscriber's transport itself (direct "
    "delivery, without a task of the subscriber's), by transport (sse, websocket; feed: workflow-feed entries "
    "taken by caught-up feed subscribers over either transport, filtered ones included).",
    ["transport"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "comm_delivery_latency_seconds",
    "Time from a value being written to it being sent to a live client, by transport.",
    ["transport"],
    # From sub-millisecond in-process hops to multi-second stalls (see the measurements in DESIGN.md).
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
FEED_READS = Counter(
    "comm_feed_reads",
    "Storage reads of workflow feeds: 'shared' (one per wake, for all subscribers of a workflow) and 'catch_up' "
    "(a subscriber behind the shared buffer, on its own account).",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_REJECTIONS = Counter(
    "comm_webhook_rejections",
    "Webhook deliveries rejected, by reason (e.g. signature_invalid, timestamp_out_of_window).",
    ["reason"],
    registry=REGISTRY,
)

WorkflowFunction = Callable[[dict[str, Any]], Awaitable[Any]]


def instrument_workflow(type_name: str, fn: WorkflowFunction) -> WorkflowFunction:
    """Wrap a workflow function so its completion counts in :data:`WORKFLOWS_FINISHED`.

    Counts SUCCESS when the function returns and ERROR when it raises an ``Exception``. DBOS stops an execution
    that was cancelled or lost its workflow to another executor with ``BaseException`` subclasses
    (``DBOSWorkflowCancelledError``, ``DBOSWorkflowConflictIDError``), as does a process shutdown: those are not
    outcomes of this execution and are not counted here (cancellations are counted where they are requested, by
    :meth:`communication.core.workflows.WorkflowControl.cancel`). ``functools.wraps`` keeps ``__wrapped__``, so DBOS
    still hashes the original source for the application version.
    """

    @functools.wraps(fn)
    async def instrumented(params: dict[str, Any]) -> Any:
        try:
            output = await fn(params)
        except Exception:
            WORKFLOWS_FINISHED.labels(type=type_name, status="ERROR").inc()
            raise
        WORKFLOWS_FINISHED.labels(type=type_name, status="SUCCESS").inc()
        return output

    return instrumented


def render() -> tuple[bytes, str]:
    """The exposition of :data:`REGISTRY` and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
