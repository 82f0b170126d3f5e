"""A lean SSE response for the live hot path: writes pre-encoded frames, with heartbeats, disconnect handling,
a send timeout and shutdown draining.

Deliberate divergence from sse-starlette's ``EventSourceResponse`` (no longer a dependency):
profiling 1,000 subscribers of one stream (py-spy, see README "Performance") showed its per-event machinery -
an anyio cancel scope per send, ``ensure_bytes`` and a debug log call per chunk, and a task group of three tasks
per connection - dominating the server's CPU once values are encoded once per feed. Here a connection is one
task (the response) plus one task waiting for the client's disconnect; heartbeats, the send timeout and server
shutdown are handled for *all* connections by one ticker per event loop, so a value costs one ``send`` per
subscriber and an idle connection costs no timer of its own.

Behaviour kept from sse-starlette: ``text/event-stream`` with ``Cache-Control: no-cache``, ``Connection:
keep-alive``, ``X-Accel-Buffering: no``; heartbeat comments (``: ping - <UTC time>``) after
``heartbeat`` seconds without a write; a client that does not take a frame within ``send_timeout`` seconds is
disconnected; on server shutdown every stream ends without a terminal event, so clients reconnect and resume; HEAD
answers headers only. The shutdown is the server's own flag (:func:`communication.http.shutdown.begin_shutdown`, set
by its signal handler on the application the stream belongs to), not sse-starlette's ``AppStatus``, which only flips
because that package patches uvicorn when imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from communication.http.entry_send import ENTRY_SEND
from communication.http.shutdown import shutting_down

if TYPE_CHECKING:
    from communication.http.direct_sse import SseSink

log = logging.getLogger("communication.http.sse_response")

_MAX_TICK = 0.5  # how late a heartbeat, a send timeout or a shutdown may be noticed


class FrameStream(Response):
    """Stream pre-encoded SSE frames (``bytes``) to one client."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        heartbeat: float,
        send_timeout: float,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
        sink: SseSink | None = None,
    ) -> None:
        """Args:
        frames: complete SSE blocks, each ending with a blank line.
        heartbeat: seconds without a write after which a ``: ping`` comment is sent (0 disables).
        send_timeout: seconds one write may take before the client is considered gone.
        headers: extra response headers.
        status_code: the response's status (FastAPI's OpenAPI reads the default of this parameter).
        sink: the subscription's direct-delivery sink (``communication.http.direct_sse``), bound to this
            response's ``send`` once it has started.
        """
        self.frames = frames
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.status_code = status_code
        self.background = None
        base = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
        self.init_headers({**base, **(headers or {})})
        self.last_write = time.monotonic()
        self.write_started: float | None = None
        self.stop_reason: str | None = None
        self._send: Send | None = None
        self._task: asyncio.Task[None] | None = None
        self._done = False
        self._pinging = False
        self._app: Any = None
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        self._send = send
        self._app = scope.get("app")
        self._task = asyncio.current_task()
        if self.sink is not None:
            # Body chunks may skip the application's middleware, which saw the start (http.entry_send).
            self.sink.bind(self, scope.get(ENTRY_SEND, send))
        watcher = asyncio.create_task(self._watch_disconnect(receive))
        ticker = _Ticker.of_running_loop()
        ticker.add(self)
        try:
            async for chunk in self.frames:
                await self._write(chunk)
            self._done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if self.stop_reason is None:
                raise  # cancelled from outside (e.g. the server's forced shutdown): not ours to swallow
            if self._task is not None:
                self._task.uncancel()
            if self.stop_reason == "shutdown":
                # End the response cleanly (the client reconnects and resumes); a client gone or not reading
                # gets its connection closed by the server instead.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        send({"type": "http.response.body", "body": b"", "more_body": False}), self.send_timeout
                    )
        except OSError:
            pass  # the peer went away mid-write
        finally:
            self._done = True
            if self.sink is not None:
                self.sink.close()
            ticker.discard(self)
            watcher.cancel()
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()  # releases the hub subscription at once

    async def _write(self, chunk: bytes) -> None:
        assert self._send is not None
        self.write_started = time.monotonic()
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.last_write = time.monotonic()
        self.write_started = None

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.stop("disconnect")
                return

    def server_stopping(self) -> bool:
        """Whether the application serving this stream has begun its shutdown."""
        return self._app is not None and shutting_down(self._app)

    def stop(self, reason: str) -> None:
        """End the response (client gone, send timed out, or server shutting down)."""
        if self.stop_reason is None and not self._done and self._task is not None:
            self.stop_reason = reason
            self._task.cancel()

    async def ping(self) -> None:
        """Send one heartbeat comment (from the ticker; frames are whole chunks, so writes never interleave)."""
        if self._done or self._pinging:
            return
        self._pinging = True
        try:
            await self._write(f": ping - {datetime.now(UTC)}\r\n\r\n".encode())
        except Exception:  # noqa: BLE001 - the main task notices a dead client on its own
            pass
        finally:
            self._pinging = False


class _Ticker:
    """One task per event loop serving every open :class:`FrameStream`: heartbeats, send timeouts, shutdown."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Ticker] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.streams: set[FrameStream] = set()
        self.task: asyncio.Task[None] | None = None
        self._pings: set[asyncio.Task[None]] = set()

    @classmethod
    def of_running_loop(cls) -> _Ticker:
        loop = asyncio.get_running_loop()
        ticker = cls._by_loop.get(loop)
        if ticker is None:
            ticker = cls._by_loop[loop] = cls()
        return ticker

    def add(self, stream: FrameStream) -> None:
        self.streams.add(stream)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, stream: FrameStream) -> None:
        self.streams.discard(stream)

    async def _run(self) -> None:
        while self.streams:
            period = min([_MAX_TICK, *(s.heartbeat / 2 for s in self.streams if s.heartbeat > 0)])
            await asyncio.sleep(max(period, 0.01))
            now = time.monotonic()
            for stream in list(self.streams):
                if stream.server_stopping():
                    stream.stop("shutdown")
                elif stream.write_started is not None and now - stream.write_started > stream.send_timeout:
                    log.info("SSE client stopped reading for %.1f s: disconnecting", now - stream.write_started)
                    stream.stop("send_timeout")
                elif stream.heartbeat > 0 and now - stream.last_write >= stream.heartbeat:
                    stream.last_write = now  # one ping per period even if this one is slow to go out
                    task = asyncio.create_task(stream.ping())
                    self._pings.add(task)
                    task.add_done_callback(self._pings.discard)
        self.task = None
