"""Durable workflows and their registry. Never imports FastAPI or anything HTTP.

Importing this package registers every built-in workflow type with DBOS and with :data:`registry`.
"""

from workflows import (  # noqa: F401  (registration)
    bench_workflow,
    chaos_workflow,
    counter_workflow,
    events_workflow,
    fast_temporal_workflow,
    messaging_workflow,
    monty_workflow,
    payment_workflow,
    pipeline_workflow,
    scheduled_dispatch,
    session_workflow,
    streaming_workflow,
)
from workflows.registry import WorkflowRegistry, WorkflowType, registry

__all__ = ["WorkflowRegistry", "WorkflowType", "registry"]
