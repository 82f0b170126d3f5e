"""The Python client of the communication server: :class:`Client` (blocking) and :class:`AsyncClient` (awaited).

Knows only HTTP (httpx, httpx-sse) and the wire models of :mod:`communication.protocol`: installing and importing
the client never imports FastAPI or DBOS. ``Client`` is generated from ``AsyncClient``'s source (``_async/``) by
``python .ci/gen_sync_client.py``, so the two cannot drift apart.
"""

from communication.client._async.client import AsyncClient
from communication.client._async.live import AsyncLiveIterator
from communication.client._sync.client import Client
from communication.client._sync.live import LiveIterator
from communication.client.errors import ClientError

__all__ = ["AsyncClient", "AsyncLiveIterator", "Client", "ClientError", "LiveIterator"]
