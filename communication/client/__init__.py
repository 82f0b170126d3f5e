"""The Python client of the communication server: :class:`Client` (blocking) and :class:`AsyncClient` (awaited).

Knows only HTTP (httpx, httpx-sse) and the wire models of :mod:`communication.protocol`: installing and importing
the client never imports FastAPI or DBOS.
"""

from communication.client._async_client import AsyncClient
from communication.client._sync_client import Client
from communication.client.errors import ClientError

__all__ = ["AsyncClient", "Client", "ClientError"]
