"""The workflow kit: what code *inside* a DBOS workflow imports from this library.

Register a startable type (``workflow_type`` on a typed function, or ``registry.register`` with a model), answer
requests (``reply``), report step status (``tracked_step``), publish approval links (``publish_callback_link``)
and ask a person for typed input (``ask``, returning the answer or a ``Timeout``).
Nothing here imports FastAPI or the HTTP layer.
"""

from communication.core.registry import WorkflowRegistry, WorkflowType, registry, workflow_type
from communication.kit.ask import Timeout, ask
from communication.kit.callback_links import publish_callback_link
from communication.kit.replies import reply
from communication.kit.step_status import tracked_step
from communication.protocol.names import APPROVAL_LINK_EVENT, STEP_STATUS_STREAM
from communication.protocol.replies import REQUEST_TOPIC, Request, parse_request

__all__ = [
    "APPROVAL_LINK_EVENT",
    "REQUEST_TOPIC",
    "STEP_STATUS_STREAM",
    "Request",
    "Timeout",
    "WorkflowRegistry",
    "WorkflowType",
    "ask",
    "parse_request",
    "publish_callback_link",
    "registry",
    "reply",
    "tracked_step",
    "workflow_type",
]
