"""The asynchronous client driven from synchronous test code, so one suite runs against both clients.

``Blocking(portal, AsyncClient(url))`` answers every method of the :class:`~communication.client.Client` it stands
for: coroutine methods run on the portal's event loop (anyio's blocking portal, one thread), and the live iterators
they return are iterated the same way. The sync client is generated from the async one; this proxy lets the
async source itself be exercised by the very tests of the generated twin.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from anyio.from_thread import BlockingPortal, start_blocking_portal

from communication.client import AsyncClient, Client


class _BlockingIterator:
    """An async (live) iterator, iterated from synchronous code through the portal."""

    def __init__(self, portal: BlockingPortal, iterator: Any) -> None:
        self._portal = portal
        self._iterator = iterator

    def __iter__(self) -> _BlockingIterator:
        return self

    def __next__(self) -> Any:
        try:
            return self._portal.call(self._iterator.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    def __getattr__(self, name: str) -> Any:
        return _blocking(self._portal, getattr(self._iterator, name))


def _blocking(portal: BlockingPortal, attr: Any) -> Any:
    if not callable(attr):
        return attr
    if inspect.iscoroutinefunction(attr):

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wrap(portal, portal.call(functools.partial(attr, *args, **kwargs)))

        return call

    def plain(*args: Any, **kwargs: Any) -> Any:
        return _wrap(portal, attr(*args, **kwargs))

    return plain


def _wrap(portal: BlockingPortal, result: Any) -> Any:
    return _BlockingIterator(portal, result) if hasattr(result, "__anext__") else result


class Blocking:
    """An :class:`AsyncClient` with the synchronous :class:`Client`'s calling convention."""

    def __init__(self, portal: BlockingPortal, client: AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return _blocking(self._portal, getattr(self._client, name))


@contextmanager
def blocking_async_client(url: str) -> Iterator[Client]:
    """An ``AsyncClient(url)`` on its own event-loop thread, typed as the sync client it behaves as."""
    with start_blocking_portal() as portal:
        client = AsyncClient(url)
        try:
            yield cast(Client, Blocking(portal, client))
        finally:
            portal.call(client.aclose)
