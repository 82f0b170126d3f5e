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

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from httpx_sse import EventSource, ServerSentEvent

from communication.client.errors import (
    ApiError,
    ProtocolError,
    ReconnectsExhausted,
    ServiceUnavailable,
    error_from_response,
)
from communication.client.models import FeedFrame, LiveEnd
from communication.protocol.models import EventOut

log = logging.getLogger("communication.client")

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


@dataclass
class FeedCursor:
    """Position of a workflow feed: the opaque ``id`` of the last frame the caller was given.

    Frames are unnamed; the server resumes exactly after ``last_id`` (``Last-Event-ID``), so nothing is dropped
    here. The ``end`` frame is yielded like the others, then the iterator stops (``end`` is set).
    """

    last_id: str | None = None
    events: list[str] | None = None
    streams: list[str] | None = None
    status: bool = True
    end: LiveEnd | None = None

    def params(self) -> dict[str, Any]:
        """Query parameters of the next connection (the filters; the position travels in ``Last-Event-ID``)."""
        params: dict[str, Any] = {}
        if self.events is not None:
            params["events"] = ",".join(self.events)
        if self.streams is not None:
            params["streams"] = ",".join(self.streams)
        if not self.status:
            params["status"] = 0
        return params

    def headers(self) -> dict[str, str]:
        """``Last-Event-ID`` of the next connection."""
        return {} if self.last_id is None else {"Last-Event-ID": self.last_id}

    def accept(self, sse: ServerSentEvent) -> Action[FeedFrame]:
        """Interpret one frame."""
        if sse.event != "message":
            return None  # named frames (a read token's ``error``) are not feed frames
        data = _data(sse)
        if not isinstance(data, dict) or "kind" not in data or not sse.id:
            raise ProtocolError(f"feed frame without kind or id: {sse.data[:100]!r}")
        self.last_id = sse.id
        frame = FeedFrame.model_validate({**data, "id": sse.id})
        if frame.kind == "end":
            self.end = LiveEnd(reason="workflow_finished", workflow_status=frame.status)
        return Yield(frame)


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


def check_opened(source: EventSource, what: str) -> None:
    """Raise unless the response is an open SSE stream (the body of an error response must be read first)."""
    response = source.response
    if response.status_code != 200:
        raise error_from_response(response)
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        raise ProtocolError(f"{what}: expected text/event-stream, got {content_type or 'no content type'!r}")


def retryable(error: ApiError) -> bool:
    return error.status in RETRYABLE_STATUSES or isinstance(error, ServiceUnavailable)


class Attempt:
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
