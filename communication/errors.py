"""One error hierarchy for the whole server.

Every domain failure is a :class:`CommError` carrying a stable ``code`` and an HTTP ``status``; the HTTP layer
maps them with one handler into ``{"error": {"code", "message", "details"}}``. The client library mirrors this
tree. Codes are listed in QUICK_REFERENCE.md and must never change meaning.

Hierarchy::

    CommError (500 internal_error)
    ├── InvalidRequest (400/413/422)
    │   ├── MalformedJSON            400 malformed_json
    │   ├── PayloadTooLarge          413 payload_too_large
    │   ├── ValidationFailed         422 validation_error
    │   └── UnknownWorkflowType      422 unknown_workflow_type
    ├── NotFound (404)
    │   ├── WorkflowNotFound         404 workflow_not_found
    │   └── EventNotFound            404 event_not_found
    ├── Conflict (409)
    │   ├── WorkflowIdConflict       409 workflow_id_conflict
    │   └── WorkflowFinished         409 workflow_finished
    └── ServiceUnavailable           503 not_ready
"""

from __future__ import annotations

from typing import Any, ClassVar


class CommError(Exception):
    """Base of every error the server reports. Subclasses fix ``code`` and ``status``."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` member of the JSON envelope."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidRequest(CommError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    code = "invalid_request"
    status = 400


class MalformedJSON(InvalidRequest):
    """The body is not valid JSON (or nests deeper than allowed)."""

    code = "malformed_json"
    status = 400


class PayloadTooLarge(InvalidRequest):
    """The body exceeds ``Settings.max_body_bytes``."""

    code = "payload_too_large"
    status = 413


class ValidationFailed(InvalidRequest):
    """A parameter or body field fails its documented pattern or range."""

    code = "validation_error"
    status = 422


class UnknownWorkflowType(InvalidRequest):
    """No workflow type with this name is registered."""

    code = "unknown_workflow_type"
    status = 422


class NotFound(CommError):
    """Something named by the request does not exist."""

    code = "not_found"
    status = 404


class WorkflowNotFound(NotFound):
    """No workflow has this id."""

    code = "workflow_not_found"
    status = 404

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} does not exist", workflow_id=workflow_id)


class EventNotFound(NotFound):
    """The event key was not set within the wait (``reason='timeout'``) or never will be
    because the workflow has finished (``reason='workflow_finished'``)."""

    code = "event_not_found"
    status = 404


class Conflict(CommError):
    """The request conflicts with the workflow's current state."""

    code = "conflict"
    status = 409


class WorkflowIdConflict(Conflict):
    """The workflow id is already used by a workflow of another type."""

    code = "workflow_id_conflict"
    status = 409


class WorkflowFinished(Conflict):
    """The workflow has reached a terminal state and can no longer receive messages."""

    code = "workflow_finished"
    status = 409


class ServiceUnavailable(CommError):
    """The server is starting, shutting down, or cannot reach its database."""

    code = "not_ready"
    status = 503
