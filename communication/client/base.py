"""What the sync and async clients share: configuration, and every API call as data.

Each endpoint is described once, as a :class:`Call` (method, path, parameters, body, how long the server may
hold it, how to parse the answer). :class:`~communication.client.Client` and
:class:`~communication.client.AsyncClient` only differ in how they send a call (blocking or awaited), so the
two can never disagree about paths, parameters or error mapping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from communication.client.errors import ProtocolError, error_from_response
from communication.client.models import (
    SessionItem,
    SessionPostResult,
    SessionSnapshot,
    StartedWorkflow,
    WorkflowTypeInfo,
)
from communication.client.sse import FeedCursor, OffsetCursor, RetryPolicy, VersionCursor
from communication.protocol.inbox import AnswerResult, InboxItem, InboxList
from communication.protocol.models import (
    EventOut,
    EventsOut,
    ForkResult,
    SendResult,
    StepList,
    StreamItem,
    StreamList,
    StreamSnapshot,
    WorkflowInfo,
    WorkflowList,
    WorkflowResult,
)
from communication.protocol.schedule_models import (
    BackfillRequest,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleInfo,
    ScheduleList,
    ScheduleRunList,
    ScheduleRunResult,
    ScheduleRuns,
    ScheduleUpdate,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Environment variable with the server's base URL.
URL_ENV = "COMM_URL"
#: Environment variable with the API key (sent as ``Authorization: Bearer <key>``).
API_KEY_ENV = "COMM_API_KEY"
DEFAULT_URL = "http://localhost:8000"
#: Topic of messages sent without one (the built-in approval workflow listens on it).
DEFAULT_TOPIC = "notification"
#: Longest single server-side wait the client asks for; longer waits are split into several requests.
MAX_SERVER_WAIT = 120.0


def seg(value: str) -> str:
    """One URL path segment, percent-encoded."""
    return quote(value, safe=":")


def _parse_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProtocolError(f"{response.request.method} {response.request.url.path}: answer is not JSON") from exc


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    """A parser validating the JSON answer into ``cls``."""

    def parse(response: httpx.Response) -> M:
        try:
            return cls.model_validate(_parse_json(response))
        except ValidationError as exc:
            raise ProtocolError(f"unexpected answer shape for {cls.__name__}: {exc}") from exc

    return parse


def _started(response: httpx.Response) -> StartedWorkflow:
    info = model(WorkflowInfo)(response)
    return StartedWorkflow(**info.model_dump(), created=response.status_code == 201)


_TYPES = TypeAdapter(list[WorkflowTypeInfo])


def _types(response: httpx.Response) -> list[WorkflowTypeInfo]:
    try:
        return _TYPES.validate_python(_parse_json(response))
    except ValidationError as exc:
        raise ProtocolError(f"unexpected answer shape for workflow types: {exc}") from exc


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds the server may hold the request before answering (long-polls); extends the read timeout.
    wait: float = 0.0

    def handle(self, response: httpx.Response) -> T:
        """Parse a (fully read) response, or raise the :class:`~communication.client.errors.ApiError` it carries."""
        if response.status_code >= 400:
            raise error_from_response(response)
        return self.parse(response)

    @property
    def what(self) -> str:
        """``"METHOD /path"`` for messages."""
        return f"{self.method} {self.path}"


class ClientBase:
    """Configuration and request building shared by :class:`~communication.client.Client` and
    :class:`~communication.client.AsyncClient`.

    Args:
        base_url: the server, e.g. ``http://localhost:8000``. Default: ``$COMM_URL``, else the injected
            client's base URL, else ``http://localhost:8000``.
        api_key: sent as ``Authorization: Bearer <key>``. Default: ``$COMM_API_KEY`` (none if unset).
        timeout: seconds for connecting and for an ordinary answer. Long-polls add their wait on top.
        retry: how live iterators reconnect (:class:`~communication.client.sse.RetryPolicy`).
        idle_timeout: seconds without a byte (heartbeats included) after which a live connection is treated as
            dropped and reopened. The server sends a heartbeat every 15 s by default.
    """

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float,
        retry: RetryPolicy | None,
        idle_timeout: float,
        injected_base_url: str | None,
    ) -> None:
        url = base_url or os.environ.get(URL_ENV) or injected_base_url or DEFAULT_URL
        self.base_url = url.rstrip("/")
        self.api_key = api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.idle_timeout = idle_timeout

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if extra:
            headers.update(extra)
        return headers

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _http_timeout(self, wait: float) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=self.timeout + wait)

    def _live_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=self.idle_timeout)

    def _live_headers(self) -> dict[str, str]:
        return self._headers({"Accept": "text/event-stream", "Cache-Control": "no-store"})

    # --- workflows ---

    @staticmethod
    def _start(
        type_name: str,
        input: dict[str, Any] | None,
        workflow_id: str | None,
        queue: str | None = None,
        args: list[Any] | None = None,
    ) -> Call[StartedWorkflow]:
        body: dict[str, Any] = {"type": type_name, "input": input or {}}
        if workflow_id is not None:
            body["workflow_id"] = workflow_id
        if queue is not None:
            body["queue"] = queue
        if args is not None:
            body["args"] = args
        return Call("POST", "/v1/workflows", _started, body=body)

    @staticmethod
    def _status(workflow_id: str) -> Call[WorkflowInfo]:
        return Call("GET", f"/v1/workflows/{seg(workflow_id)}", model(WorkflowInfo))

    @staticmethod
    def _list(
        status: str | None,
        type_name: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        offset: int,
    ) -> Call[WorkflowList]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        if type_name:
            params["type"] = type_name
        if created_after:
            params["created_after"] = created_after.isoformat()
        if created_before:
            params["created_before"] = created_before.isoformat()
        return Call("GET", "/v1/workflows", model(WorkflowList), params=params)

    @staticmethod
    def _result(workflow_id: str, wait: float) -> Call[WorkflowResult]:
        return Call(
            "GET",
            f"/v1/workflows/{seg(workflow_id)}/result",
            model(WorkflowResult),
            params={"timeout": wait},
            wait=wait,
        )

    @staticmethod
    def _control(workflow_id: str, action: str) -> Call[WorkflowInfo]:
        return Call("POST", f"/v1/workflows/{seg(workflow_id)}/{action}", model(WorkflowInfo))

    @staticmethod
    def _fork(workflow_id: str, start_step: int) -> Call[ForkResult]:
        path = f"/v1/workflows/{seg(workflow_id)}/fork"
        return Call("POST", path, model(ForkResult), body={"start_step": start_step})

    @staticmethod
    def _steps(workflow_id: str) -> Call[StepList]:
        return Call("GET", f"/v1/workflows/{seg(workflow_id)}/steps", model(StepList))

    @staticmethod
    def _types() -> Call[list[WorkflowTypeInfo]]:
        return Call("GET", "/v1/workflow-types", _types)

    @staticmethod
    def _ready() -> Call[bool]:
        return Call("GET", "/readyz", lambda response: response.status_code == 200)

    # --- events ---

    @staticmethod
    def _events(workflow_id: str) -> Call[EventsOut]:
        return Call("GET", f"/v1/workflows/{seg(workflow_id)}/events", model(EventsOut))

    @staticmethod
    def _event(workflow_id: str, key: str, wait: float, after_version: int | None) -> Call[EventOut]:
        params: dict[str, Any] = {"timeout": wait}
        if after_version is not None:
            params["after_version"] = after_version
        return Call(
            "GET", f"/v1/workflows/{seg(workflow_id)}/events/{seg(key)}", model(EventOut), params=params, wait=wait
        )

    def _watch(self, workflow_id: str, keys: list[str] | None, after_version: int | None) -> tuple[str, VersionCursor]:
        url = self._url(f"/v1/workflows/{seg(workflow_id)}/events/live")
        return url, VersionCursor(workflow_id, after_version=after_version, keys=list(keys) if keys else None)

    def _feed(
        self,
        workflow_id: str,
        cursor: str | None,
        events: list[str] | None,
        streams: list[str] | None,
        status: bool,
    ) -> tuple[str, FeedCursor]:
        url = self._url(f"/v1/workflows/{seg(workflow_id)}/feed")
        return url, FeedCursor(
            cursor,
            events=None if events is None else list(events),
            streams=None if streams is None else list(streams),
            status=status,
        )

    # --- messages ---

    @staticmethod
    def _send(workflow_id: str, message: Any, topic: str, idempotency_key: str | None) -> Call[SendResult]:
        body: dict[str, Any] = {"topic": topic, "message": message}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return Call("POST", f"/v1/workflows/{seg(workflow_id)}/messages", model(SendResult), body=body)

    # --- the inbox (requests for human input) ---

    @staticmethod
    def _inbox(status: str, application: str | None, assignee: str | None, limit: int) -> Call[InboxList]:
        params: dict[str, Any] = {"status": status, "limit": limit}
        params |= {k: v for k, v in (("application", application), ("assignee", assignee)) if v}
        return Call("GET", "/v1/inbox", model(InboxList), params=params)

    @staticmethod
    def _request(workflow_id: str, topic: str) -> Call[InboxItem]:
        return Call("GET", f"/v1/workflows/{seg(workflow_id)}/requests/{seg(topic)}", model(InboxItem))

    @staticmethod
    def _answer(workflow_id: str, topic: str, answer: Any, via: str) -> Call[AnswerResult]:
        path = f"/v1/workflows/{seg(workflow_id)}/requests/{seg(topic)}/answer"
        body = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
        return Call("POST", path, model(AnswerResult), params={"via": via}, body=body)

    # --- streams ---

    @staticmethod
    def _streams(workflow_id: str) -> Call[StreamList]:
        return Call("GET", f"/v1/workflows/{seg(workflow_id)}/streams", model(StreamList))

    @staticmethod
    def _stream(workflow_id: str, key: str, offset: int, limit: int) -> Call[StreamSnapshot]:
        return Call(
            "GET",
            f"/v1/workflows/{seg(workflow_id)}/streams/{seg(key)}",
            model(StreamSnapshot),
            params={"offset": offset, "limit": limit},
        )

    def _tail(self, workflow_id: str, key: str, offset: int) -> tuple[str, OffsetCursor[StreamItem]]:
        url = self._url(f"/v1/workflows/{seg(workflow_id)}/streams/{seg(key)}/live")
        return url, OffsetCursor(offset, lambda at, value: StreamItem(offset=at, value=value))

    # --- sessions ---

    @staticmethod
    def _session_post(session_id: str, type_name: str, data: Any, event_id: str | None) -> Call[SessionPostResult]:
        body: dict[str, Any] = {"type": type_name, "data": data}
        if event_id is not None:
            body["id"] = event_id
        return Call("POST", f"/v1/sessions/{seg(session_id)}/events", model(SessionPostResult), body=body)

    @staticmethod
    def _session_events(session_id: str, offset: int, limit: int) -> Call[SessionSnapshot]:
        return Call(
            "GET",
            f"/v1/sessions/{seg(session_id)}/events",
            model(SessionSnapshot),
            params={"offset": offset, "limit": limit},
        )

    def _session_tail(self, session_id: str, offset: int) -> tuple[str, OffsetCursor[SessionItem]]:
        url = self._url(f"/v1/sessions/{seg(session_id)}/live")
        return url, OffsetCursor(offset, lambda at, value: SessionItem.model_validate({"offset": at, "value": value}))

    # --- schedules ---

    @staticmethod
    def _schedule_create(spec: ScheduleCreate) -> Call[ScheduleInfo]:
        body = spec.model_dump(mode="json", exclude_none=True)
        return Call("POST", "/v1/schedules", model(ScheduleInfo), body=body)

    @staticmethod
    def _schedule_list(status: str | None, type_name: str | None) -> Call[ScheduleList]:
        params = {k: v for k, v in (("status", status), ("type", type_name)) if v}
        return Call("GET", "/v1/schedules", model(ScheduleList), params=params)

    @staticmethod
    def _schedule_describe(name: str, runs: int, upcoming: int) -> Call[ScheduleDetail]:
        params = {"runs": runs, "upcoming": upcoming}
        return Call("GET", f"/v1/schedules/{seg(name)}", model(ScheduleDetail), params=params)

    @staticmethod
    def _schedule_pause(name: str, note: str | None) -> Call[ScheduleInfo]:
        body = {"note": note} if note is not None else None
        return Call("POST", f"/v1/schedules/{seg(name)}/pause", model(ScheduleInfo), body=body)

    @staticmethod
    def _schedule_resume(name: str) -> Call[ScheduleInfo]:
        return Call("POST", f"/v1/schedules/{seg(name)}/resume", model(ScheduleInfo))

    @staticmethod
    def _schedule_trigger(name: str) -> Call[ScheduleRuns]:
        return Call("POST", f"/v1/schedules/{seg(name)}/trigger", model(ScheduleRuns))

    @staticmethod
    def _schedule_update(name: str, changes: ScheduleUpdate) -> Call[ScheduleInfo]:
        # Only the fields given: the server keeps every omitted one.
        body = changes.model_dump(mode="json", exclude_unset=True)
        return Call("PATCH", f"/v1/schedules/{seg(name)}", model(ScheduleInfo), body=body)

    @staticmethod
    def _schedule_delete(name: str) -> Call[None]:
        return Call("DELETE", f"/v1/schedules/{seg(name)}", lambda response: None)

    @staticmethod
    def _schedule_backfill(name: str, start: datetime, end: datetime) -> Call[ScheduleRuns]:
        body = BackfillRequest(start=start, end=end).model_dump(mode="json")
        return Call("POST", f"/v1/schedules/{seg(name)}/backfill", model(ScheduleRuns), body=body)

    @staticmethod
    def _schedule_runs(name: str, limit: int) -> Call[ScheduleRunList]:
        return Call("GET", f"/v1/schedules/{seg(name)}/runs", model(ScheduleRunList), params={"limit": limit})

    @staticmethod
    def _schedule_run(name: str, dispatch_id: str, wait: float) -> Call[ScheduleRunResult]:
        path = f"/v1/schedules/{seg(name)}/runs/{seg(dispatch_id)}"
        return Call("GET", path, model(ScheduleRunResult), params={"timeout": wait}, wait=wait)


def schedule_spec(
    name: str,
    type_name: str,
    *,
    input: dict[str, Any] | None = None,
    cron: str | None = None,
    interval_minutes: int | None = None,
    timezone: str | None = None,
    queue: str | None = None,
    paused: bool = False,
    automatic_backfill: bool = False,
) -> ScheduleCreate:
    """A schedule to create (validated here, so a bad spec fails before any request)."""
    return ScheduleCreate(
        name=name,
        type=type_name,
        input=input or {},
        cron=cron,
        interval_minutes=interval_minutes,
        timezone=timezone,
        queue=queue,
        paused=paused,
        automatic_backfill=automatic_backfill,
    )
