"""One error hierarchy for the whole server.

Every domain failure is a :class:`CommError` carrying a stable ``code`` and an HTTP ``status``; the HTTP layer
maps them with one handler into ``{"error": {"code", "message", "details"}}``. The client library mirrors this
tree. Codes are listed in QUICK_REFERENCE.md and must never change meaning.

Hierarchy::

    CommError (500 internal_error)
    ├── InvalidRequest (400/408/413/415/422)
    │   ├── MalformedJSON            400 malformed_json          (also NaN/Infinity, not UTF-8, too deep)
    │   ├── PayloadTooLarge          413 payload_too_large
    │   ├── RequestBodyTimeout       408 request_timeout         (body not received within the read timeout)
    │   ├── UnsupportedMediaType     415 unsupported_media_type  (body not in the route's declared media type)
    │   ├── HostNotAllowed           400 host_not_allowed        (Host not in COMM_ALLOWED_HOSTS)
    │   ├── ValidationFailed         422 validation_error
    │   ├── UnknownWorkflowType      422 unknown_workflow_type
    │   ├── InvalidCron              422 invalid_cron            (schedules)
    │   ├── ValueNotDecodable        422 value_not_decodable     (another app's non-portable value)
    │   └── AnswerInvalid            422 answer_invalid          (an answer the request's schema refuses)
    ├── NotFound (404)
    │   ├── SessionNotFound          404 session_not_found
    │   ├── WorkflowNotFound         404 workflow_not_found
    │   └── EventNotFound            404 event_not_found
    ├── Conflict (409)
    │   ├── SessionClosed            409 session_closed
    │   ├── WorkflowIdConflict       409 workflow_id_conflict
    │   ├── WorkflowFinished         409 workflow_finished
    │   ├── LinkUsed                 409 link_used
    │   └── AlreadyAnswered          409 already_answered        (a request takes one answer)
    ├── Forbidden                    403 forbidden
    │   ├── OriginNotAllowed         403 origin_not_allowed      (cross-site browser request; WebSockets 4403)
    │   └── SecretEvent              403 secret_event            (a read token asked for a secret event)
    ├── TooManyWorkflows             429 too_many_workflows      (seed WebSocket)
    ├── TooManySubscriptions         429 too_many_subscriptions  (live caps: per workflow, per connection)
    ├── ServiceUnavailable           503 not_ready
    │   └── SubscriptionCapacity     503 subscription_capacity   (live caps: per process)
    ├── Unauthorized                 401 unauthorized            (security)
    │   ├── TokenInvalid             401 token_invalid
    │   ├── TokenExpired             401 token_expired
    │   ├── WebhookNotConfigured     401 webhook_not_configured
    │   ├── WebhookSignatureMissing  401 webhook_signature_missing
    │   ├── WebhookSignatureInvalid  401 webhook_signature_invalid
    │   └── WebhookTimestampOutOfWindow 401 webhook_timestamp_out_of_window
    ├── LinkNotFound (NotFound)      404 link_not_found
    ├── ScheduleNotFound (NotFound)  404 schedule_not_found      (schedules)
    ├── QueueNotFound (NotFound)     404 queue_not_found         (start by name on a queue)
    ├── RequestNotFound (NotFound)   404 request_not_found       (no request for input on that topic)
    ├── ScheduleExists (Conflict)    409 schedule_exists         (schedules)
    └── Gone (410)
        ├── LinkExpired              410 link_expired
        ├── LinkClosed               410 link_closed
        └── RequestClosed            410 request_closed          (the request expired or its workflow ended)
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


class RequestBodyTimeout(InvalidRequest):
    """The request body did not arrive within ``Settings.body_read_timeout_seconds``."""

    code = "request_timeout"
    status = 408


class UnsupportedMediaType(InvalidRequest):
    """The body's ``Content-Type`` is missing, repeated, or not one the route declares (JSON routes: JSON only)."""

    code = "unsupported_media_type"
    status = 415


class HostNotAllowed(InvalidRequest):
    """The request's ``Host`` is not in ``Settings.allowed_hosts`` (a defence against DNS rebinding)."""

    code = "host_not_allowed"
    status = 400


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


# --- security ---


class Unauthorized(CommError):
    """The request lacks valid credentials (API key, read token or webhook signature).

    Raised before anything is looked up, so it never tells whether a workflow exists.
    """

    code = "unauthorized"
    status = 401


class TokenInvalid(Unauthorized):
    """A read token is malformed, forged, or scoped to another workflow or another kind of request."""

    code = "token_invalid"
    status = 401


class TokenExpired(Unauthorized):
    """A read token was valid but its lifetime has passed; mint a new one."""

    code = "token_expired"
    status = 401


class WebhookNotConfigured(Unauthorized):
    """No secret is configured for this webhook scheme, so no delivery can be verified."""

    code = "webhook_not_configured"
    status = 401


class WebhookSignatureMissing(Unauthorized):
    """A header the webhook scheme requires (signature, id or timestamp) is absent."""

    code = "webhook_signature_missing"
    status = 401


class WebhookSignatureInvalid(Unauthorized):
    """The webhook signature is malformed or matches none of the configured secrets."""

    code = "webhook_signature_invalid"
    status = 401


class WebhookTimestampOutOfWindow(Unauthorized):
    """The webhook's signed timestamp is further from now than ``Settings.webhook_tolerance_seconds``."""

    code = "webhook_timestamp_out_of_window"
    status = 401


class LinkNotFound(NotFound):
    """The callback link is unknown: malformed, tampered with, or signed by another server."""

    code = "link_not_found"
    status = 404


class LinkUsed(Conflict):
    """The callback link has already delivered its decision; links are single-use."""

    code = "link_used"
    status = 409


class Gone(CommError):
    """The thing named by the request existed but is no longer available."""

    code = "gone"
    status = 410


class LinkExpired(Gone):
    """The callback link's lifetime has passed."""

    code = "link_expired"
    status = 410


class LinkClosed(Gone):
    """The workflow behind the callback link has finished and no longer waits for a decision."""

    code = "link_closed"
    status = 410


# --- schedules ---


class InvalidCron(InvalidRequest):
    """The cron expression cannot be parsed (5 fields, or 6 with seconds first), or the interval has no cron form."""

    code = "invalid_cron"
    status = 422


class ScheduleNotFound(NotFound):
    """No schedule has this name."""

    code = "schedule_not_found"
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} does not exist", schedule=name)


class ScheduleExists(Conflict):
    """A schedule with this name already exists (names are unique per application)."""

    code = "schedule_exists"
    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} already exists", schedule=name)


class ScheduleTooFrequent(InvalidRequest):
    """The schedule would fire more often than ``COMM_SCHEDULE_MIN_PERIOD_SECONDS`` allows
    (``details.period_seconds``, ``details.min_period_seconds``)."""

    code = "schedule_too_frequent"
    status = 422


class TooManySchedules(Conflict):
    """The application already has ``COMM_SCHEDULE_MAX`` schedules (``details.max``); delete one first."""

    code = "too_many_schedules"
    status = 409


# --- live delivery ---
class SessionNotFound(NotFound):
    """No session has this id (nothing was ever posted to it)."""

    code = "session_not_found"
    status = 404


class SessionClosed(Conflict):
    """The session received ``done``/``timeout`` or timed out idle; it accepts no more events."""

    code = "session_closed"
    status = 409


class NotASession(Conflict):
    """A session post names a session whose workflow id (``session:{sid}``) belongs to a workflow that is not a
    session: the post would write into another workflow's stream, so it is refused."""

    code = "not_a_session"
    status = 409


class Forbidden(CommError):
    """The credentials are valid but do not allow this request."""

    code = "forbidden"
    status = 403


class OriginNotAllowed(Forbidden):
    """A browser request (or WebSocket handshake) from an ``Origin`` that is neither the server's own nor listed in
    ``cors_origins``: refused for state-changing requests, work-starting GETs and every WebSocket."""

    code = "origin_not_allowed"
    status = 403


class TooManyWorkflows(CommError):
    """A seed WebSocket already follows its maximum number of running workflows."""

    code = "too_many_workflows"
    status = 429


class SecretEvent(Forbidden):
    """The event holds a secret (a callback link, or a key under ``secret.``) and read tokens never read secrets."""

    code = "secret_event"
    status = 403


# --- live delivery limits ---


class TooManySubscriptions(CommError):
    """A live-subscription cap was reached: per workflow or per WebSocket connection (``details.scope``).

    Retry later, or close subscriptions you no longer read.
    """

    code = "too_many_subscriptions"
    status = 429


class SubscriptionCapacity(ServiceUnavailable):
    """This server process holds as many live subscriptions as it is configured for; try again (or another node)."""

    code = "subscription_capacity"
    status = 503


# --- bring your own workflows ---


class ValueNotDecodable(InvalidRequest):
    """A stored value (input, output, event, stream item, step output) was written by another application in a
    serialization this server cannot read (e.g. pickled instances of that application's classes).

    ``details`` names the workflow and the key; the fix is on the writing side: portable JSON serialization.
    """

    code = "value_not_decodable"
    status = 422


class QueueNotFound(NotFound):
    """Starting a workflow by name on a DBOS queue that no application has registered."""

    code = "queue_not_found"
    status = 404


# --- human input (kit.ask, the inbox) ---


class RequestNotFound(NotFound):
    """The workflow has no request for input on that topic (it never asked, or asked under another topic)."""

    code = "request_not_found"
    status = 404


class AlreadyAnswered(Conflict):
    """The request was answered already (through the API, its signed link or the dashboard); it takes one answer."""

    code = "already_answered"
    status = 409


class RequestClosed(Gone):
    """The request no longer takes an answer: its deadline passed or its workflow ended (``details.reason``)."""

    code = "request_closed"
    status = 410


class AnswerInvalid(InvalidRequest):
    """The answer does not match the request's JSON schema; ``details.errors`` lists each problem (nothing was
    delivered)."""

    code = "answer_invalid"
    status = 422
