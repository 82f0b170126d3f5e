"""Exceptions raised by the Python client (:class:`~communication.client.Client` and its async twin).

The client never lets a bare ``httpx`` exception escape. Every failure is a :class:`ClientError`:

* the server answered with an error envelope ``{"error": {"code", "message", "details"}}`` →
  an :class:`ApiError` subclass chosen by the envelope's ``code`` (falling back to the HTTP status for codes this
  client does not know yet), mirroring the server's tree in :mod:`communication.protocol.errors`;
* no usable answer arrived → a :class:`TransportError` subclass;
* the client gave up waiting → a :class:`Timeout` (also raised for a server-side wait that ended without the value).

Hierarchy::

    ClientError
    ├── TransportError                     no HTTP answer
    │   ├── ServerUnreachable              connect failed: refused, DNS, connect timeout
    │   ├── ConnectionLost                 the connection dropped while the answer was being read
    │   ├── RequestTimeout (+ Timeout)     no answer within the client's HTTP timeout
    │   └── ReconnectsExhausted            a live iterator could not reconnect within its retry budget
    ├── ProtocolError                      the answer does not match the documented contract
    ├── Timeout                            a bounded wait ended without the awaited outcome
    └── ApiError(status, code, message, details)
        ├── InvalidRequest                 400 invalid_request
        │   ├── MalformedJSON              400 malformed_json
        │   ├── PayloadTooLarge            413 payload_too_large
        │   ├── RequestBodyTimeout         408 request_timeout (the server did not receive the body in time)
        │   ├── ValidationFailed           422 validation_error
        │   ├── UnknownWorkflowType        422 unknown_workflow_type
        │   ├── AnswerInvalid              422 answer_invalid (details.errors: what the request's schema refuses)
        │   └── RequestClosed              410 request_closed (the request expired or its workflow ended)
        ├── Unauthorized                   401 (any code)
        ├── Forbidden                      403 (any code)
        ├── NotFound                       404 not_found
        │   ├── WorkflowNotFound           404 workflow_not_found
        │   ├── EventNotFound              404 event_not_found (details.reason == "workflow_finished")
        │   │   └── EventTimeout (+ Timeout)   404 event_not_found with details.reason == "timeout"
        │   │       └── ReplyTimeout       no reply to a send_and_wait() request in time
        │   ├── SessionNotFound            404 session_not_found
        │   ├── RequestNotFound            404 request_not_found
        │   └── RouteNotFound              404 route_not_found (the server has no such endpoint)
        ├── Conflict                       409 conflict
        │   ├── WorkflowIdConflict         409 workflow_id_conflict
        │   ├── WorkflowFinished           409 workflow_finished
        │   ├── SessionClosed              409 session_closed
        │   └── AlreadyAnswered            409 already_answered
        ├── ServerError                    500 internal_error (and other 5xx)
        └── ServiceUnavailable             503 not_ready
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx


class ClientError(Exception):
    """Base of every exception the client raises."""


class TransportError(ClientError):
    """The request got no HTTP answer (the server may or may not have acted on it)."""


class ServerUnreachable(TransportError):
    """The connection could not be opened: connection refused, unknown host, or connect timeout."""


class ConnectionLost(TransportError):
    """The connection dropped while the answer was being read."""


class Timeout(ClientError):
    """A bounded wait ended without the awaited outcome. Retrying later may succeed."""


class RequestTimeout(TransportError, Timeout):
    """No answer arrived within the client's HTTP timeout."""


class ReconnectsExhausted(TransportError):
    """A live iterator (stream tail, event watch, session tail) failed to reconnect within its retry budget.

    Attributes:
        attempts: consecutive failed connection attempts.
        last_error: the failure of the last attempt.
    """

    def __init__(self, message: str, *, attempts: int, last_error: BaseException | None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class ProtocolError(ClientError):
    """The server's answer does not match the documented contract (not JSON, bad SSE frame, an offset gap)."""


class ApiError(ClientError):
    """The server answered with an error envelope.

    Attributes:
        status: the HTTP status.
        code: the stable error code (see QUICK_REFERENCE.md).
        message: the human-readable message.
        details: the structured details (for example ``workflow_id``, ``reason``, ``errors``).
    """

    code_name: ClassVar[str | None] = None

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidRequest(ApiError):
    """The request itself is wrong; retrying it unchanged fails again."""

    code_name = "invalid_request"


class MalformedJSON(InvalidRequest):
    """The body is not valid JSON or nests too deeply."""

    code_name = "malformed_json"


class PayloadTooLarge(InvalidRequest):
    """The body exceeds the server's size limit."""

    code_name = "payload_too_large"


class RequestBodyTimeout(InvalidRequest):
    """The server did not receive the whole request body within its read timeout (a stalled upload)."""

    code_name = "request_timeout"


class ValidationFailed(InvalidRequest):
    """A parameter or body field fails its documented pattern or range (``details.errors`` says which)."""

    code_name = "validation_error"


class UnknownWorkflowType(InvalidRequest):
    """No workflow type with this name is registered (``details.known`` lists the types)."""

    code_name = "unknown_workflow_type"


class Unauthorized(ApiError):
    """Missing or wrong API key (HTTP 401)."""


class Forbidden(ApiError):
    """The credentials are valid but do not allow this request (HTTP 403)."""


class NotFound(ApiError):
    """Something named by the request does not exist."""

    code_name = "not_found"


class WorkflowNotFound(NotFound):
    """No workflow has this id."""

    code_name = "workflow_not_found"


class EventNotFound(NotFound):
    """The event key was not set: the workflow finished without setting it (``reason == 'workflow_finished'``)."""

    code_name = "event_not_found"

    @property
    def reason(self) -> str | None:
        """``'timeout'`` or ``'workflow_finished'``."""
        reason = self.details.get("reason")
        return reason if isinstance(reason, str) else None


class EventTimeout(EventNotFound, Timeout):
    """The event key was not set (or not newer than the given version) within the wait."""


class ReplyTimeout(EventTimeout):
    """The workflow did not answer a :meth:`~communication.client.Client.send_and_wait` request in time.

    The request was delivered (exactly once); waiting again with the same ``request_id`` is safe.
    """

    @property
    def request_id(self) -> str | None:
        """The request id that got no reply."""
        rid = self.details.get("request_id")
        return rid if isinstance(rid, str) else None


class SessionNotFound(NotFound):
    """No session has this id."""

    code_name = "session_not_found"


class RouteNotFound(NotFound):
    """The server has no endpoint at this path (an older server, or a typo in the base URL)."""

    code_name = "route_not_found"


class Conflict(ApiError):
    """The request conflicts with the current state."""

    code_name = "conflict"


class WorkflowIdConflict(Conflict):
    """The workflow id is already used by a workflow of another type."""

    code_name = "workflow_id_conflict"


class WorkflowFinished(Conflict):
    """The workflow has finished and no longer receives messages."""

    code_name = "workflow_finished"


class SessionClosed(Conflict):
    """The session is closed (a ``done`` or ``timeout`` event was stored) and accepts no more events."""

    code_name = "session_closed"


class AnswerInvalid(InvalidRequest):
    """The answer does not match the request's JSON schema (HTTP 422); ``details["errors"]`` lists the problems."""

    code_name = "answer_invalid"


class RequestNotFound(NotFound):
    """The workflow has no request for input on that topic (HTTP 404)."""

    code_name = "request_not_found"


class AlreadyAnswered(Conflict):
    """The request was answered already, through any channel (HTTP 409)."""

    code_name = "already_answered"


class RequestClosed(InvalidRequest):
    """The request no longer takes an answer: it expired or its workflow ended (HTTP 410)."""

    code_name = "request_closed"


class ServerError(ApiError):
    """The server failed (HTTP 5xx)."""

    code_name = "internal_error"


class ServiceUnavailable(ServerError):
    """The server is starting, shutting down, or cannot reach its database (HTTP 503). Retry later."""

    code_name = "not_ready"


def _all_api_errors() -> list[type[ApiError]]:
    found: list[type[ApiError]] = []
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


#: Error code → exception class, built from the ``code_name`` of every class above.
ERRORS_BY_CODE: dict[str, type[ApiError]] = {
    cls.code_name: cls for cls in _all_api_errors() if cls.code_name is not None and "code_name" in cls.__dict__
}


def _class_for_status(status: int) -> type[ApiError]:
    if status == 401:
        return Unauthorized
    if status == 403:
        return Forbidden
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status == 503:
        return ServiceUnavailable
    if 400 <= status < 500:
        return InvalidRequest
    if status >= 500:
        return ServerError
    return ApiError


def api_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> ApiError:
    """Build the exception for one error envelope.

    The class is chosen by ``code``; codes this client does not know map by HTTP status (401 → Unauthorized,
    403 → Forbidden, 404 → NotFound, 409 → Conflict, 503 → ServiceUnavailable, other 4xx → InvalidRequest,
    5xx → ServerError), so a newer server's codes still land in the right branch.
    """
    cls = ERRORS_BY_CODE.get(code) or _class_for_status(status)
    # Authorization failures keep their own branch whatever code the server uses for them.
    if status in (401, 403) and not issubclass(cls, Unauthorized | Forbidden):
        cls = _class_for_status(status)
    if cls is EventNotFound and (details or {}).get("reason") == "timeout":
        cls = EventTimeout
    return cls(status, code, message, details)


def error_from_response(response: httpx.Response) -> ApiError:
    """The :class:`ApiError` for a non-success response (the body must already be read).

    A body that is not the envelope (a proxy's HTML page, say) still yields an error classified by status, with
    the start of the body as its message.
    """
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        text = response.text[:200] if response.content else response.reason_phrase
        return _class_for_status(response.status_code)(response.status_code, f"http_{response.status_code}", text)
    return api_error(response.status_code, code, message, details)


def transport_error(exc: httpx.TransportError, what: str | None = None) -> TransportError:
    """Translate an httpx transport failure of request ``what`` (e.g. ``"GET /v1/workflows"``)."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerUnreachable(f"{prefix}cannot connect: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(f"{prefix}no answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ConnectionLost(f"{prefix}connection lost: {exc or type(exc).__name__}")
    return TransportError(f"{prefix}{type(exc).__name__}: {exc}")
