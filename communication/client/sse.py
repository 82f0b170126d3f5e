"""Live iterators over Server-Sent Events that resume by themselves (docs/live-contract.md).

One loop, in a sync and an async flavour, drives three kinds of tail: a stream tail and a session tail (positions
are durable offsets) and an event watch (positions are event versions). A *cursor* remembers the last position
the caller was given; each (re)connection asks the server to continue after it (``Last-Event-ID`` plus the
equivalent query parameter), and frames at or before it are dropped. So a dropped connection, a server restart
or an ``overflow`` frame never repeats or skips a value.

Retry policy: a failed connection attempt (refused, dropped, 502/503/504, a response that ends without the
terminal ``end`` frame) is retried after an exponential backoff; the count of consecutive failures resets
whenever a value arrives. After ``RetryPolicy.max_attempts`` consecutive failures the iterator raises
:class:`~communication.client.errors.ReconnectsExhausted`. Other error answers (404 workflow_not_found,
401, 422 ...) are raised at once: reconnecting cannot fix them.

SSE parsing is httpx-sse's; what a frame *means* is here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import httpx
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse, connect_sse

from communication.client.errors import (
    ApiError,
    ConnectionLost,
    ProtocolError,
    ReconnectsExhausted,
    ServiceUnavailable,
    error_from_response,
    transport_error,
)
from communication.client.models import LiveEnd
from communication.protocol.models import EventOut

log = logging.getLogger("communication.client._sync_client")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: HTTP statuses a live iterator retries: the server (or a proxy in front of it) is restarting or overloaded.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How live iterators reconnect.

    With the defaults a tail rides out about 20 s of unavailability (0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5 + 5 + 5 s),
    enough for a server restart.
    """

    max_attempts: int = 8
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the attempt that follows ``failures`` consecutive failures (≥ 1)."""
        return min(self.max_backoff, self.initial_backoff * self.multiplier ** max(0, failures - 1))


@dataclass(frozen=True)
class Yield(Generic[T_co]):
    """A frame carrying an item for the caller."""

    item: T_co


class _Stop:
    """The terminal frame: the iterator ends."""


class _Reconnect:
    """The server asked the client to reconnect (``overflow``)."""


STOP = _Stop()
RECONNECT = _Reconnect()
Action = Yield[T] | _Stop | _Reconnect | None


def _data(sse: ServerSentEvent) -> Any:
    try:
        return sse.json()
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"SSE frame {sse.event!r} carries invalid JSON: {sse.data[:100]!r}") from exc


def _position(sse: ServerSentEvent) -> int:
    try:
        return int(sse.id)
    except ValueError:
        raise ProtocolError(f"SSE frame {sse.event!r} has a non-integer id {sse.id!r}") from None


@dataclass
class OffsetCursor(Generic[T]):
    """Position of a stream or session tail: the next durable offset the caller has not been given.

    Args:
        next_offset: the first offset wanted.
        build: turns ``(offset, data)`` of a ``value`` frame into the item yielded.
    """

    next_offset: int
    build: Callable[[int, Any], T]
    end: LiveEnd | None = None

    def params(self) -> dict[str, Any]:
        """Query parameters of the next connection."""
        return {"offset": self.next_offset}

    def headers(self) -> dict[str, str]:
        """``Last-Event-ID`` of the next connection (the offset before the next one), when there is one."""
        return {"Last-Event-ID": str(self.next_offset - 1)} if self.next_offset > 0 else {}

    def accept(self, sse: ServerSentEvent) -> Action[T]:
        """Interpret one frame.

        Raises:
            ProtocolError: a value frame arrived beyond the next offset (the server skipped values).
        """
        if sse.event == "value":
            offset = _position(sse)
            if offset < self.next_offset:
                return None  # already yielded before a reconnect: never repeat
            if offset > self.next_offset:
                raise ProtocolError(f"offset gap: expected {self.next_offset}, server sent {offset}")
            item = self.build(offset, _data(sse))
            self.next_offset = offset + 1
            return Yield(item)
        if sse.event == "end":
            self.end = LiveEnd.model_validate(_data(sse))
            return STOP
        if sse.event == "overflow":
            return RECONNECT
        return None  # the initial retry hint, heartbeats and frame types this client does not know


@dataclass
class VersionCursor:
    """Position of an event watch: the newest event version the caller has been given."""

    workflow_id: str
    after_version: int | None = None
    keys: list[str] | None = None
    end: LiveEnd | None = None

    def params(self) -> dict[str, Any]:
        """Query parameters of the next connection."""
        params: dict[str, Any] = {}
        if self.after_version is not None:
            params["after_version"] = self.after_version
        if self.keys:
            params["keys"] = ",".join(self.keys)
        return params

    def headers(self) -> dict[str, str]:
        """``Last-Event-ID`` of the next connection."""
        return {} if self.after_version is None else {"Last-Event-ID": str(self.after_version)}

    def accept(self, sse: ServerSentEvent) -> Action[EventOut]:
        """Interpret one frame."""
        if sse.event == "event":
            data = _data(sse)
            if not isinstance(data, dict) or "key" not in data:
                raise ProtocolError(f"event frame without a key: {sse.data[:100]!r}")
            version = int(data.get("version", _position(sse)))
            if self.after_version is not None and version <= self.after_version:
                return None
            self.after_version = version
            event = EventOut(workflow_id=self.workflow_id, key=data["key"], value=data.get("value"), version=version)
            return Yield(event)
        if sse.event == "end":
            self.end = LiveEnd.model_validate(_data(sse))
            return STOP
        if sse.event == "overflow":
            return RECONNECT
        return None


class Cursor(Protocol[T_co]):
    """What the live loop needs from a position: request parameters, and the meaning of each frame."""

    end: LiveEnd | None

    def params(self) -> dict[str, Any]:
        """Query parameters of the next connection."""
        ...

    def headers(self) -> dict[str, str]:
        """Headers (``Last-Event-ID``) of the next connection."""
        ...

    def accept(self, sse: ServerSentEvent) -> Action[T_co]:
        """Interpret one frame, advancing the position past a yielded item."""
        ...


def _check_opened(source: EventSource, what: str) -> None:
    """Raise unless the response is an open SSE stream (the body of an error response must be read first)."""
    response = source.response
    if response.status_code != 200:
        raise error_from_response(response)
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        raise ProtocolError(f"{what}: expected text/event-stream, got {content_type or 'no content type'!r}")


def _retryable(error: ApiError) -> bool:
    return error.status in RETRYABLE_STATUSES or isinstance(error, ServiceUnavailable)


class _Attempt:
    """Bookkeeping shared by both loops: consecutive failures and the last failure."""

    def __init__(self, what: str, retry: RetryPolicy) -> None:
        self.what = what
        self.retry = retry
        self.failures = 0
        self.last: BaseException | None = None

    def progressed(self) -> None:
        """A value arrived: the connection works, so the failure count starts over."""
        self.failures = 0
        self.last = None

    def failed(self, error: BaseException) -> float:
        """Record a failed attempt and return the backoff before the next one.

        Raises:
            ReconnectsExhausted: the retry budget is spent.
        """
        self.failures += 1
        self.last = error
        if self.failures > self.retry.max_attempts:
            raise ReconnectsExhausted(
                f"{self.what}: gave up after {self.failures} failed connection attempts (last: {error})",
                attempts=self.failures,
                last_error=error,
            ) from error
        delay = self.retry.delay(self.failures)
        log.warning(
            "%s: %s; reconnecting in %.1f s (attempt %d of %d)",
            self.what,
            error,
            delay,
            self.failures,
            self.retry.max_attempts,
        )
        return delay


class LiveIterator(Iterator[T]):
    """A synchronous live tail or watch. Iterate it; ``end`` holds the terminal frame once iteration stopped.

    Leave the ``for`` loop or call :meth:`close` to drop the connection.
    """

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        cursor: Cursor[T],
        *,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        retry: RetryPolicy,
    ) -> None:
        self._cursor = cursor
        self._gen = self._run(http, url, headers, timeout, retry)

    @property
    def end(self) -> LiveEnd | None:
        """The ``end`` frame's contents, once the iterator has finished normally."""
        return self._cursor.end

    @property
    def cursor(self) -> Cursor[T]:
        """The position reached (``next_offset`` or ``after_version``); a later tail can resume from it."""
        return self._cursor

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        """Drop the connection and stop."""
        self._gen.close()

    def __enter__(self) -> LiveIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(
        self, http: httpx.Client, url: str, headers: dict[str, str], timeout: httpx.Timeout, retry: RetryPolicy
    ) -> Generator[T, None, None]:
        cursor = self._cursor
        attempt = _Attempt(f"live GET {url}", retry)
        while True:
            got_value = False
            action: Action[T] = None
            try:
                with connect_sse(
                    http, "GET", url, params=cursor.params(), headers={**headers, **cursor.headers()}, timeout=timeout
                ) as source:
                    if source.response.status_code != 200:
                        source.response.read()
                    _check_opened(source, url)
                    for sse in source.iter_sse():
                        action = cursor.accept(sse)
                        if isinstance(action, Yield):
                            got_value = True
                            attempt.progressed()
                            yield action.item
                        elif action is STOP:
                            return
                        elif action is RECONNECT:
                            break
                if got_value and action is RECONNECT:
                    continue  # overflow: we were too slow; the server is fine, so reconnect at once
                error: BaseException = ConnectionLost("the response ended without an end frame")
            except ApiError as exc:
                if not _retryable(exc):
                    raise
                error = exc
            except httpx.TransportError as exc:
                error = transport_error(exc)
            time.sleep(attempt.failed(error))  # backoff before reconnecting (client behaviour, not a test wait)


class AsyncLiveIterator(AsyncIterator[T]):
    """The asynchronous :class:`LiveIterator`: ``async for`` it; ``await aclose()`` drops the connection."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        cursor: Cursor[T],
        *,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        retry: RetryPolicy,
    ) -> None:
        self._cursor = cursor
        self._gen = self._run(http, url, headers, timeout, retry)

    @property
    def end(self) -> LiveEnd | None:
        """The ``end`` frame's contents, once the iterator has finished normally."""
        return self._cursor.end

    @property
    def cursor(self) -> Cursor[T]:
        """The position reached; a later tail can resume from it."""
        return self._cursor

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Drop the connection and stop."""
        await self._gen.aclose()

    async def __aenter__(self) -> AsyncLiveIterator[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(
        self,
        http: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        retry: RetryPolicy,
    ) -> AsyncGenerator[T, None]:
        cursor = self._cursor
        attempt = _Attempt(f"live GET {url}", retry)
        while True:
            got_value = False
            action: Action[T] = None
            try:
                async with aconnect_sse(
                    http, "GET", url, params=cursor.params(), headers={**headers, **cursor.headers()}, timeout=timeout
                ) as source:
                    if source.response.status_code != 200:
                        await source.response.aread()
                    _check_opened(source, url)
                    async for sse in source.aiter_sse():
                        action = cursor.accept(sse)
                        if isinstance(action, Yield):
                            got_value = True
                            attempt.progressed()
                            yield action.item
                        elif action is STOP:
                            return
                        elif action is RECONNECT:
                            break
                if got_value and action is RECONNECT:
                    continue
                error: BaseException = ConnectionLost("the response ended without an end frame")
            except ApiError as exc:
                if not _retryable(exc):
                    raise
                error = exc
            except httpx.TransportError as exc:
                error = transport_error(exc)
            await asyncio.sleep(attempt.failed(error))
