"""A lean keep-alive HTTP/1.1 JSON client for the throughput shapes (starts/s, messages/s).

Why: httpx's ``AsyncClient`` spends about 1.5 to 2 ms of the benchmark process's own CPU per request on this
machine (a ``/health`` round trip takes 2 ms with it, 0.5 ms without), so a one-client throughput figure measured
with it is half client. The in-process reference pays no client at all; this client pays the least a client can
(one ``write`` per request, the status line and ``content-length`` read by hand), so the ratio is the server's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class LeanClient:
    """One keep-alive connection; requests one at a time (use one client per concurrent caller)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST ``body`` as JSON; the status code and the response body."""
        assert self._reader is not None and self._writer is not None
        data = json.dumps(body).encode()
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self._host}:{self._port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)
