"""The Python client of the communication server, written once: :class:`AsyncClient` here, :class:`Client` generated.

``_sync/client.py`` (:class:`communication.client.Client`) is generated from ``_async/client.py`` by
``python .ci/gen_sync_client.py`` (CI checks that it is up to date): edit the async source only. Usage::

    from communication.client import AsyncClient, Client

    with Client("http://localhost:8000") as client:
        wf = client.start("events", {"n_steps": 5})
        for event in client.watch_events(wf.workflow_id, keys=["progress"]):
            print(event.value, "%")
        print(client.result(wf.workflow_id, timeout=60).output)

    async with AsyncClient("http://localhost:8000") as client:  # the same methods, awaited
        ...

Every method raises a :class:`~communication.client.errors.ClientError` subclass on failure (see
:mod:`communication.client.errors`); none lets an ``httpx`` exception escape.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, TypeVar

import httpx

from communication.client._async.live import AsyncLiveIterator
from communication.client.base import DEFAULT_TOPIC, MAX_SERVER_WAIT, Call, ClientBase, schedule_spec
from communication.client.errors import (
    EventTimeout,
    ReplyTimeout,
    ServiceUnavailable,
    WorkflowFinished,
    transport_error,
)
from communication.client.models import (
    FeedFrame,
    Reply,
    SessionItem,
    SessionPostResult,
    SessionSnapshot,
    StartedWorkflow,
    WorkflowTypeInfo,
)
from communication.client.sse import Cursor, RetryPolicy
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
from communication.protocol.replies import REQUEST_TOPIC, make_request, new_request_id, reply_key
from communication.protocol.schedule_models import (
    ScheduleDetail,
    ScheduleInfo,
    ScheduleList,
    ScheduleRunList,
    ScheduleRunResult,
    ScheduleRuns,
    ScheduleUpdate,
)

T = TypeVar("T")


class AsyncClient(ClientBase):
    """A blocking client; use it as a context manager (or call :meth:`close`).

    Args:
        base_url: the server. Default ``$COMM_URL``, else ``http_client.base_url``, else ``http://localhost:8000``.
        api_key: sent as ``Authorization: Bearer <key>``. Default ``$COMM_API_KEY``.
        timeout: seconds for connecting and for an ordinary answer (long-polls add their wait).
        http_client: an ``httpx.Client`` to use (not closed by :meth:`close`), e.g. with custom TLS or proxies.
        transport: an httpx transport for the client this object creates (ignored with ``http_client``).
        retry: how live iterators reconnect.
        idle_timeout: seconds of silence after which a live connection is treated as dropped (heartbeats
            arrive every 15 s by default).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        idle_timeout: float = 45.0,
    ) -> None:
        injected = str(http_client.base_url) if http_client is not None and str(http_client.base_url) else None
        super().__init__(
            base_url, api_key, timeout=timeout, retry=retry, idle_timeout=idle_timeout, injected_base_url=injected
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool (unless the httpx client was injected)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method,
                self._url(call.path),
                params=call.params or None,
                json=call.body,
                headers=self._headers(call.headers),
                timeout=self._http_timeout(call.wait),
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, call.what) from exc
        return call.handle(response)

    def _live(self, url: str, cursor: Cursor[T]) -> AsyncLiveIterator[T]:
        return AsyncLiveIterator(
            self._http, url, cursor, headers=self._live_headers(), timeout=self._live_timeout(), retry=self.retry
        )

    async def ready(self) -> bool:
        """Whether the server is ready (DBOS launched, database reachable). Raises on transport failure only."""
        try:
            return await self._call(self._ready())
        except ServiceUnavailable:
            return False

    # --- workflows ---

    async def start(
        self,
        type_name: str,
        input: dict[str, Any] | None = None,
        *,
        workflow_id: str | None = None,
        queue: str | None = None,
        args: list[Any] | None = None,
    ) -> StartedWorkflow:
        """Start a workflow of a registered type, or (with ``queue``) another application's workflow by its DBOS
        name on that queue (gateway mode: ``input`` → keyword arguments, ``args`` → positional).

        Starting an id that already exists starts nothing and returns that workflow with ``created=False``.

        Raises:
            UnknownWorkflowType, ValidationFailed (bad input or id), WorkflowIdConflict (id used by another type),
            NotFound (``queue_not_found``).
        """
        return await self._call(self._start(type_name, input, workflow_id, queue, args))

    async def status(self, workflow_id: str) -> WorkflowInfo:
        """The workflow's status with input, output and error. Raises WorkflowNotFound."""
        return await self._call(self._status(workflow_id))

    async def list_workflows(
        self,
        *,
        status: str | None = None,
        type_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> WorkflowList:
        """Workflows, newest first, filtered by status (PENDING, SUCCESS, ...), type and creation time."""
        return await self._call(self._list(status, type_name, created_after, created_before, limit, offset))

    async def result(self, workflow_id: str, *, timeout: float = 30.0) -> WorkflowResult:
        """Wait up to ``timeout`` seconds for the workflow to finish; ``done`` is false if it has not.

        Waits longer than the server allows per request (120 s by default) are split into several long-polls.
        Raises WorkflowNotFound.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            outcome = await self._call(self._result(workflow_id, min(remaining, MAX_SERVER_WAIT)))
            if outcome.done or time.monotonic() >= deadline:
                return outcome

    async def cancel(self, workflow_id: str) -> WorkflowInfo:
        """Cancel the workflow (a finished one is left as it is). Raises WorkflowNotFound."""
        return await self._call(self._control(workflow_id, "cancel"))

    async def resume(self, workflow_id: str) -> WorkflowInfo:
        """Resume a cancelled or failed workflow from its last completed step. Raises WorkflowNotFound."""
        return await self._call(self._control(workflow_id, "resume"))

    async def fork(self, workflow_id: str, start_step: int) -> ForkResult:
        """Start a new workflow replaying the recorded steps before ``start_step``. Raises WorkflowNotFound."""
        return await self._call(self._fork(workflow_id, start_step))

    async def steps(self, workflow_id: str) -> StepList:
        """The workflow's recorded steps with outputs and timing. Raises WorkflowNotFound."""
        return await self._call(self._steps(workflow_id))

    async def workflow_types(self) -> list[WorkflowTypeInfo]:
        """Every workflow type the server can start, with its input JSON schema."""
        return await self._call(self._types())

    # --- events ---

    async def events(self, workflow_id: str) -> EventsOut:
        """Latest value and version of every event key (never waits). Raises WorkflowNotFound."""
        return await self._call(self._events(workflow_id))

    async def get_event(
        self, workflow_id: str, key: str, *, timeout: float = 30.0, after_version: int | None = None
    ) -> EventOut:
        """The value of event ``key``, waiting up to ``timeout`` seconds for it to be set.

        With ``after_version``, waits for a value newer than that version instead.

        Raises:
            EventTimeout: not set (or nothing newer) within ``timeout``.
            EventNotFound: the workflow finished without setting it.
            WorkflowNotFound: no such workflow.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                return await self._call(self._event(workflow_id, key, min(remaining, MAX_SERVER_WAIT), after_version))
            except EventTimeout:
                if time.monotonic() >= deadline:
                    raise

    async def wait_event(self, workflow_id: str, key: str, after_version: int, *, timeout: float = 30.0) -> EventOut:
        """The first value of ``key`` newer than ``after_version`` (a version from an earlier answer).

        Raises the same errors as :meth:`get_event`.
        """
        return await self.get_event(workflow_id, key, timeout=timeout, after_version=after_version)

    def watch_events(
        self, workflow_id: str, *, keys: list[str] | None = None, after_version: int | None = None
    ) -> AsyncLiveIterator[EventOut]:
        """Every current event, then every change, live (SSE), until the workflow finishes.

        Reconnects by itself and resumes after the last version it yielded. ``keys`` filters keys;
        ``after_version`` skips versions up to it. ``.end`` holds the terminal frame afterwards.

        Raises (while iterating): WorkflowNotFound, ReconnectsExhausted.
        """
        url, cursor = self._watch(workflow_id, keys, after_version)
        return self._live(url, cursor)

    def feed(
        self,
        workflow_id: str,
        *,
        cursor: str | None = None,
        events: list[str] | None = None,
        streams: list[str] | None = None,
        status: bool = True,
    ) -> AsyncLiveIterator[FeedFrame]:
        """Everything about one workflow, live, in commit order: status changes, event sets, stream values, then
        the ``end`` frame (final status, output or error), after which iteration stops.

        Reconnects by itself and resumes exactly after the last frame it yielded (``frame.id``; pass one as
        ``cursor`` to continue a feed read earlier). ``events`` / ``streams`` keep only those keys (``[]``: none);
        ``status=False`` leaves out status frames. A cursor that already has the end yields nothing.

        Raises (while iterating): WorkflowNotFound, ValidationFailed, ReconnectsExhausted.
        """
        url, feed_cursor = self._feed(workflow_id, cursor, events, streams, status)
        return self._live(url, feed_cursor)

    # --- messages ---

    async def send(
        self, workflow_id: str, message: Any, *, topic: str = DEFAULT_TOPIC, idempotency_key: str | None = None
    ) -> SendResult:
        """Send a message on ``topic``. With ``idempotency_key`` it is delivered at most once per workflow.

        Returns a result whose ``outcome`` is ``delivered`` or ``duplicate`` (this key was delivered before).

        Raises:
            WorkflowNotFound, WorkflowFinished (the workflow no longer receives messages), ValidationFailed.
        """
        return await self._call(self._send(workflow_id, message, topic, idempotency_key))

    async def inbox(
        self,
        *,
        status: str = "open",
        application: str | None = None,
        assignee: str | None = None,
        limit: int = 200,
    ) -> InboxList:
        """Requests for human input across every application on the server's database, latest deadline first.

        ``status``: ``open`` (default), ``answered``, ``expired``, ``cancelled`` or ``all``.
        """
        return await self._call(self._inbox(status, application, assignee, limit))

    async def request(self, workflow_id: str, topic: str) -> InboxItem:
        """The request for input on ``topic`` of ``workflow_id``. Raises RequestNotFound."""
        return await self._call(self._request(workflow_id, topic))

    async def answer(self, workflow_id: str, topic: str, answer: Any, *, via: str = "client") -> AnswerResult:
        """Answer the request on ``topic`` (a dict or a pydantic model); delivered exactly once.

        Raises:
            AnswerInvalid: the request's schema refuses it (``details["errors"]``); nothing was delivered.
            AlreadyAnswered: it was answered already (through any channel).
            RequestClosed: it expired or its workflow ended.
            RequestNotFound: no such request.
        """
        return await self._call(self._answer(workflow_id, topic, answer, via))

    async def send_and_wait(
        self,
        workflow_id: str,
        payload: Any,
        *,
        topic: str = REQUEST_TOPIC,
        timeout: float = 30.0,
        request_id: str | None = None,
    ) -> Reply:
        """Send a request into a workflow and wait for its reply (request/reply, like Temporal's updates).

        Sends ``{"request_id", "payload"}`` on ``topic`` (idempotency key = request id), then waits for the
        workflow to set event ``reply:<request_id>`` (see :mod:`communication.protocol.replies`). Calling again with the
        same ``request_id`` is safe: the request is delivered once and the same reply is returned.

        Raises:
            ReplyTimeout: no reply within ``timeout`` (the request was delivered; wait again with its id).
            EventNotFound: the workflow finished without replying.
            WorkflowNotFound, WorkflowFinished.
        """
        rid = request_id or new_request_id()
        try:
            sent = await self.send(workflow_id, make_request(payload, rid), topic=topic, idempotency_key=rid)
            outcome = sent.outcome
        except WorkflowFinished:
            if request_id is None:
                raise
            outcome = "duplicate"  # a retry after the workflow answered and finished: the reply is still there
        try:
            event = await self.get_event(workflow_id, reply_key(rid), timeout=timeout)
        except EventTimeout as exc:
            raise ReplyTimeout(exc.status, exc.code, exc.message, {**exc.details, "request_id": rid}) from exc
        return Reply(workflow_id=workflow_id, request_id=rid, value=event.value, outcome=outcome)

    # --- streams ---

    async def streams(self, workflow_id: str) -> StreamList:
        """Every stream of the workflow with its length and closed flag. Raises WorkflowNotFound."""
        return await self._call(self._streams(workflow_id))

    async def read_stream(self, workflow_id: str, key: str, *, offset: int = 0, limit: int = 100) -> StreamSnapshot:
        """Up to ``limit`` values from ``offset`` (never waits); continue from ``next_offset``."""
        return await self._call(self._stream(workflow_id, key, offset, limit))

    def tail_stream(self, workflow_id: str, key: str, *, offset: int = 0) -> AsyncLiveIterator[StreamItem]:
        """Every value from ``offset`` on, live (SSE), until the stream is closed or the workflow finishes.

        Survives dropped connections and server restarts: it reconnects with backoff and resumes after the last
        offset it yielded, so it never repeats or skips a value. ``.end`` holds the terminal frame afterwards.

        Raises (while iterating): WorkflowNotFound, ReconnectsExhausted, ProtocolError.
        """
        url, cursor = self._tail(workflow_id, key, offset)
        return self._live(url, cursor)

    # --- sessions ---

    async def post_session_event(
        self, session_id: str, type_name: str, data: Any = None, *, event_id: str | None = None
    ) -> SessionPostResult:
        """Store an event in a durable session (created by its first event); ``done``/``timeout`` close it.

        With ``event_id`` a repeated post is stored once (``outcome == 'duplicate'``). Raises SessionClosed.
        """
        return await self._call(self._session_post(session_id, type_name, data, event_id))

    async def session_events(self, session_id: str, *, offset: int = 0, limit: int = 100) -> SessionSnapshot:
        """Session events from ``offset`` (never waits)."""
        return await self._call(self._session_events(session_id, offset, limit))

    def tail_session(self, session_id: str, *, offset: int = 0) -> AsyncLiveIterator[SessionItem]:
        """Every session event from ``offset`` on, live, until the session is closed; resumes like
        :meth:`tail_stream`."""
        url, cursor = self._session_tail(session_id, offset)
        return self._live(url, cursor)

    # --- schedules ---

    async def create_schedule(
        self,
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
    ) -> ScheduleInfo:
        """Create a schedule running ``type_name`` with ``input`` on ``cron`` or every ``interval_minutes``.

        Raises: ScheduleExists (409), ValidationFailed (422: bad cron/interval, unknown type).
        """
        spec = schedule_spec(
            name,
            type_name,
            input=input,
            cron=cron,
            interval_minutes=interval_minutes,
            timezone=timezone,
            queue=queue,
            paused=paused,
            automatic_backfill=automatic_backfill,
        )
        return await self._call(self._schedule_create(spec))

    async def list_schedules(self, *, status: str | None = None, type_name: str | None = None) -> ScheduleList:
        """Every schedule, optionally only ``ACTIVE``/``PAUSED`` ones or those of one workflow type."""
        return await self._call(self._schedule_list(status, type_name))

    async def describe_schedule(self, name: str, *, runs: int = 10, upcoming: int = 5) -> ScheduleDetail:
        """A schedule with its next fire times and recent runs. Raises ScheduleNotFound."""
        return await self._call(self._schedule_describe(name, runs, upcoming))

    async def pause_schedule(self, name: str, note: str | None = None) -> ScheduleInfo:
        """Stop a schedule firing, with an optional note (shown until it is resumed)."""
        return await self._call(self._schedule_pause(name, note))

    async def resume_schedule(self, name: str) -> ScheduleInfo:
        """Let a paused schedule fire again (missed fires are not run: backfill them)."""
        return await self._call(self._schedule_resume(name))

    async def trigger_schedule(self, name: str) -> ScheduleRuns:
        """Run a schedule once now (also while paused)."""
        return await self._call(self._schedule_trigger(name))

    async def update_schedule(
        self,
        name: str,
        *,
        cron: str | None = None,
        interval_minutes: int | None = None,
        input: dict[str, Any] | None = None,
        timezone: str | None = None,
        queue: str | None = None,
    ) -> ScheduleInfo:
        """Change the given fields of a schedule; omitted ones keep their value."""
        given = {
            k: v
            for k, v in (
                ("cron", cron),
                ("interval_minutes", interval_minutes),
                ("input", input),
                ("timezone", timezone),
                ("queue", queue),
            )
            if v is not None
        }
        return await self._call(self._schedule_update(name, ScheduleUpdate(**given)))

    async def delete_schedule(self, name: str) -> None:
        """Delete a schedule (runs already enqueued are not affected). Raises ScheduleNotFound."""
        await self._call(self._schedule_delete(name))

    async def backfill_schedule(self, name: str, start: datetime, end: datetime) -> ScheduleRuns:
        """Enqueue every fire of the schedule in (start, end); fires that already ran are not run again."""
        return await self._call(self._schedule_backfill(name, start, end))

    async def schedule_runs(self, name: str, *, limit: int = 20) -> ScheduleRunList:
        """A schedule's runs, newest first."""
        return await self._call(self._schedule_runs(name, limit))

    async def schedule_run(self, name: str, dispatch_id: str, *, timeout: float = 30.0) -> ScheduleRunResult:
        """One run's outcome, waiting up to ``timeout`` (at most one server wait) for it to finish."""
        return await self._call(self._schedule_run(name, dispatch_id, min(timeout, MAX_SERVER_WAIT)))
