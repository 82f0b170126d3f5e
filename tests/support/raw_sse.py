"""An SSE tail over a plain socket, for tests of direct delivery (``tests/e2e/test_direct_delivery.py``,
``tests/e2e/test_feed_direct.py``): it decodes HTTP chunked framing and SSE blocks itself and can stop reading with
a small receive buffer (its socket buffers then fill and the server's transport stops taking frames), which no SSE
client library lets a test do.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any


class RawTail:
    """One SSE tail over a plain socket: ``frames`` is every ``(id, event, data)`` block received, in order.

    ``headers``: extra request headers; ``rcvbuf``: the socket's receive buffer; ``pause_after``: stop reading
    (clear ``reading``, set ``paused``) once that many frames are in, until the test sets ``reading`` again.
    """

    def __init__(
        self,
        port: int,
        path: str,
        *,
        last_event_id: str | None = None,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
        pause_after: int | None = None,
    ):
        self.port, self.path, self.last_event_id, self.rcvbuf = port, path, last_event_id, rcvbuf
        self.headers = headers or {}
        self.pause_after = pause_after
        self.frames: list[tuple[str | None, str | None, str]] = []
        self.status = b""
        self.reading = asyncio.Event()
        self.reading.set()
        self.paused = asyncio.Event()

    async def open(self) -> None:
        sock = socket.socket()
        if self.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=2**20)
        extra = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id is not None else ""
        extra += "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.status = head.split(b"\r\n", 1)[0]

    async def read_all(self) -> None:
        """Read until the response ends (the terminal ``end`` frame, then the last chunk)."""
        buf = b""
        try:
            while True:
                await self.reading.wait()
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                buf += (await self.reader.readexactly(size + 2))[:-2]
                *blocks, buf = buf.split(b"\r\n\r\n")
                for block in blocks:
                    self._frame(block)
                if self.pause_after is not None and len(self.frames) >= self.pause_after and not self.paused.is_set():
                    self.reading.clear()
                    self.paused.set()
        finally:
            self.writer.close()

    def _frame(self, block: bytes) -> None:
        fields: dict[str, str] = {}
        for line in block.decode().split("\r\n"):
            if line.startswith(":"):
                continue  # comments: ": connected", heartbeats
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            self.frames.append((fields.get("id"), fields.get("event"), fields["data"]))

    def values(self) -> list[tuple[int, dict[str, Any]]]:
        return [(int(i), json.loads(d)) for i, e, d in self.frames if e == "value" and i is not None]

    def end(self) -> dict[str, Any]:
        last = self.frames[-1]
        assert last[1] == "end", last
        body: dict[str, Any] = json.loads(last[2])
        return body
