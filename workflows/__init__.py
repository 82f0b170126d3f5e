"""The seed's workflows: an application of the communication library, loaded by configuration.

``COMM_WORKFLOWS`` / ``--workflows`` name the modules a server imports at start-up; the default is this package.
Importing it registers every built-in example type (``events``, ``messaging``, ``streaming``, ``counter``,
``payment``, ``pipeline``, ``monty_python``, ``fast_temporal``) with DBOS and with the library's registry.
Workflows here import only the workflow kit (:mod:`communication.kit`) and the wire names
(:mod:`communication.protocol`), never the server.
"""

from typing import Any

from workflows import (  # noqa: F401  (registration)
    counter_workflow,
    events_workflow,
    fast_temporal_workflow,
    messaging_workflow,
    monty_workflow,
    payment_workflow,
    pipeline_workflow,
    streaming_workflow,
)


def configure(settings: Any) -> None:
    """Called once at start-up by the server or worker that loads this package (see ``COMM_WORKFLOWS``)."""
    pipeline_workflow.configure(getattr(settings, "pipeline_artifact_dir", None))
