"""The asynchronous Python client: :class:`AsyncClient`, method for method the twin of
:class:`communication.client.Client` (same arguments, same results, same exceptions), awaited.

Example::

    from communication.client._async_client import AsyncClient

    async with AsyncClient("http://localhost:8000") as client:
        wf = await client.start("streaming", {"n_steps": 3})
        async for item in client.tail_stream(wf.workflow_id, "progress_stream"):
            print(item.offset, item.value)
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, TypeVar

import httpx

from communication.client.base import DEFAULT_TOPIC, MAX_SERVER_WAIT, Call, ClientBase
from communication.client.errors import (
    EventTimeout,
    ReplyTimeout,
    ServiceUnavailable,
    WorkflowFinished,
    transport_error,
)
from communication.client.models import (
    Reply,
    SessionItem,
    SessionPostResult,
    SessionSnapshot,
    StartedWorkflow,
    WorkflowTypeInfo,
)
from communication.client.sse import AsyncLiveIterator, Cursor, RetryPolicy
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

T = TypeVar("T")


class AsyncClient(ClientBase):
    """A non-blocking client; use it as an async context manager (or ``await aclose()``).

    Arguments as for :class:`communication.client.Client`, with an ``httpx.AsyncClient`` /
    ``httpx.AsyncBaseTransport`` to inject.
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
        """See :meth:`communication.client.Client.ready`."""
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
        """See :meth:`communication.client.Client.start`."""
        return await self._call(self._start(type_name, input, workflow_id, queue, args))

    async def status(self, workflow_id: str) -> WorkflowInfo:
        """See :meth:`communication.client.Client.status`."""
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
        """See :meth:`communication.client.Client.list_workflows`."""
        return await self._call(self._list(status, type_name, created_after, created_before, limit, offset))

    async def result(self, workflow_id: str, *, timeout: float = 30.0) -> WorkflowResult:
        """See :meth:`communication.client.Client.result`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            outcome = await self._call(self._result(workflow_id, min(remaining, MAX_SERVER_WAIT)))
            if outcome.done or time.monotonic() >= deadline:
                return outcome

    async def cancel(self, workflow_id: str) -> WorkflowInfo:
        """See :meth:`communication.client.Client.cancel`."""
        return await self._call(self._control(workflow_id, "cancel"))

    async def resume(self, workflow_id: str) -> WorkflowInfo:
        """See :meth:`communication.client.Client.resume`."""
        return await self._call(self._control(workflow_id, "resume"))

    async def fork(self, workflow_id: str, start_step: int) -> ForkResult:
        """See :meth:`communication.client.Client.fork`."""
        return await self._call(self._fork(workflow_id, start_step))

    async def steps(self, workflow_id: str) -> StepList:
        """See :meth:`communication.client.Client.steps`."""
        return await self._call(self._steps(workflow_id))

    async def workflow_types(self) -> list[WorkflowTypeInfo]:
        """See :meth:`communication.client.Client.workflow_types`."""
        return await self._call(self._types())

    # --- events ---

    async def events(self, workflow_id: str) -> EventsOut:
        """See :meth:`communication.client.Client.events`."""
        return await self._call(self._events(workflow_id))

    async def get_event(
        self, workflow_id: str, key: str, *, timeout: float = 30.0, after_version: int | None = None
    ) -> EventOut:
        """See :meth:`communication.client.Client.get_event`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                return await self._call(self._event(workflow_id, key, min(remaining, MAX_SERVER_WAIT), after_version))
            except EventTimeout:
                if time.monotonic() >= deadline:
                    raise

    async def wait_event(self, workflow_id: str, key: str, after_version: int, *, timeout: float = 30.0) -> EventOut:
        """See :meth:`communication.client.Client.wait_event`."""
        return await self.get_event(workflow_id, key, timeout=timeout, after_version=after_version)

    def watch_events(
        self, workflow_id: str, *, keys: list[str] | None = None, after_version: int | None = None
    ) -> AsyncLiveIterator[EventOut]:
        """See :meth:`communication.client.Client.watch_events` (iterate with ``async for``)."""
        url, cursor = self._watch(workflow_id, keys, after_version)
        return self._live(url, cursor)

    # --- messages ---

    async def send(
        self, workflow_id: str, message: Any, *, topic: str = DEFAULT_TOPIC, idempotency_key: str | None = None
    ) -> SendResult:
        """See :meth:`communication.client.Client.send`."""
        return await self._call(self._send(workflow_id, message, topic, idempotency_key))

    async def send_and_wait(
        self,
        workflow_id: str,
        payload: Any,
        *,
        topic: str = REQUEST_TOPIC,
        timeout: float = 30.0,
        request_id: str | None = None,
    ) -> Reply:
        """See :meth:`communication.client.Client.send_and_wait`."""
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
        """See :meth:`communication.client.Client.streams`."""
        return await self._call(self._streams(workflow_id))

    async def read_stream(self, workflow_id: str, key: str, *, offset: int = 0, limit: int = 100) -> StreamSnapshot:
        """See :meth:`communication.client.Client.read_stream`."""
        return await self._call(self._stream(workflow_id, key, offset, limit))

    def tail_stream(self, workflow_id: str, key: str, *, offset: int = 0) -> AsyncLiveIterator[StreamItem]:
        """See :meth:`communication.client.Client.tail_stream` (iterate with ``async for``)."""
        url, cursor = self._tail(workflow_id, key, offset)
        return self._live(url, cursor)

    # --- sessions ---

    async def post_session_event(
        self, session_id: str, type_name: str, data: Any = None, *, event_id: str | None = None
    ) -> SessionPostResult:
        """See :meth:`communication.client.Client.post_session_event`."""
        return await self._call(self._session_post(session_id, type_name, data, event_id))

    async def session_events(self, session_id: str, *, offset: int = 0, limit: int = 100) -> SessionSnapshot:
        """See :meth:`communication.client.Client.session_events`."""
        return await self._call(self._session_events(session_id, offset, limit))

    def tail_session(self, session_id: str, *, offset: int = 0) -> AsyncLiveIterator[SessionItem]:
        """See :meth:`communication.client.Client.tail_session` (iterate with ``async for``)."""
        url, cursor = self._session_tail(session_id, offset)
        return self._live(url, cursor)
