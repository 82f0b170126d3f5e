"""Durable workflows and their registry. Never imports FastAPI or anything HTTP.

Importing this package registers every built-in workflow type with DBOS and with :data:`registry`.
"""

from workflows import events_workflow, messaging_workflow, streaming_workflow  # noqa: F401  (registration)
from workflows.registry import WorkflowRegistry, WorkflowType, registry

__all__ = ["WorkflowRegistry", "WorkflowType", "registry"]
