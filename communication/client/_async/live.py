"""Live iterators over Server-Sent Events that resume by themselves (written once, in ``_async``).

``communication/client/_sync/live.py`` is generated from ``_async/live.py`` by ``python .ci/gen_sync_client.py``.
The cursors (what to resume from, what each frame means) are shared, in :mod:`communication.client.sse`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

import httpx
from httpx_sse import aconnect_sse

from communication.client.errors import ApiError, ConnectionLost, transport_error
from communication.client.models import LiveEnd
from communication.client.sse import (
    RECONNECT,
    STOP,
    Action,
    Attempt,
    Cursor,
    RetryPolicy,
    Yield,
    check_opened,
    retryable,
)

T = TypeVar("T")


class AsyncLiveIterator(AsyncIterator[T]):
    """A live tail or watch. Iterate it; ``end`` holds the terminal frame once iteration stopped.

    Leave the loop or call :meth:`aclose` (sync: ``close``) to drop the connection.
    """

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
        """The position reached (``next_offset`` or ``after_version``); a later tail can resume from it."""
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
        attempt = Attempt(f"live GET {url}", retry)
        while True:
            got_value = False
            action: Action[T] = None
            try:
                async with aconnect_sse(
                    http, "GET", url, params=cursor.params(), headers={**headers, **cursor.headers()}, timeout=timeout
                ) as source:
                    if source.response.status_code == 204:
                        return  # the SSE standard's "stop": nothing will ever follow this position
                    if source.response.status_code != 200:
                        await source.response.aread()
                    check_opened(source, url)
                    async for sse in source.aiter_sse():
                        action = cursor.accept(sse)
                        if isinstance(action, Yield):
                            got_value = True
                            attempt.progressed()
                            yield action.item
                            if cursor.end is not None:
                                return  # the item was the terminal frame itself (the workflow feed's end)
                        elif action is STOP:
                            return
                        elif action is RECONNECT:
                            break
                if got_value and action is RECONNECT:
                    continue  # overflow: we were too slow; the server is fine, so reconnect at once
                error: BaseException = ConnectionLost("the response ended without an end frame")
            except ApiError as exc:
                if not retryable(exc):
                    raise
                error = exc
            except httpx.TransportError as exc:
                error = transport_error(exc)
            await asyncio.sleep(
                attempt.failed(error)
            )  # backoff before reconnecting (client behaviour, not a test wait)
