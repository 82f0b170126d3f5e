"""Hops and throughput over HTTP against a running server (``url``); latencies in seconds."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect as ws_connect

from bench.lean_http import LeanClient


async def _start(api: httpx.AsyncClient, type_name: str, wid: str, inputs: dict[str, Any]) -> None:
    (await api.post("/v1/workflows", json={"type": type_name, "workflow_id": wid, "input": inputs})).raise_for_status()
    (await api.get(f"/v1/workflows/{wid}/events/status", params={"timeout": 60})).raise_for_status()


async def _sse(api: httpx.AsyncClient, path: str, event: str, connected: asyncio.Event, on_value: Any) -> None:
    async with api.stream("GET", path, headers={"Accept": "text/event-stream"}, timeout=None) as response:
        current = ""
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("event:"):
                current = line[6:].strip()
            elif line.startswith("data:") and current == event:
                on_value(json.loads(line[5:]))
            elif line.startswith("data:") and current == "end":
                return


async def hops(url: str, n: int, interval_ms: float) -> dict[str, list[float]]:
    """message→recv, event→blocked GET, event→SSE watch, stream→SSE, stream→WebSocket, stream→500 ms polling."""
    out: dict[str, list[float]] = {
        k: [] for k in ("msg_recv", "event_get", "event_sse", "stream_sse", "stream_ws", "stream_poll")
    }
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        await _start(api, "bench_echo", "hop-echo", {"n": n})
        for seq in range(n):
            t0 = time.time()
            (await api.post("/v1/workflows/hop-echo/messages", json={"topic": "ping", "message": {"seq": seq}}))
            got = await api.get(f"/v1/workflows/hop-echo/events/recv-{seq}", params={"timeout": 30})
            out["msg_recv"].append(got.json()["value"] - t0)

        await _start(api, "bench_ticks", "hop-ticks", {"n": n, "interval_ms": interval_ms})
        connected = asyncio.Event()
        watch = asyncio.create_task(
            _sse(
                api,
                "/v1/workflows/hop-ticks/events/live?keys=tick",
                "event",
                connected,
                lambda v: out["event_sse"].append(time.time() - v["value"]["t"]),
            )
        )
        await connected.wait()

        async def get_ticks() -> None:
            for i in range(n):
                r = await api.get(f"/v1/workflows/hop-ticks/events/tick-{i}", params={"timeout": 30})
                out["event_get"].append(time.time() - r.json()["value"])

        getter = asyncio.create_task(get_ticks())
        await asyncio.sleep(0.2)  # the first blocked GET is waiting before the first set (benchmark pacing)
        await api.post("/v1/workflows/hop-ticks/messages", json={"topic": "go", "message": 1})
        await getter
        await api.post("/v1/workflows/hop-ticks/cancel")  # ends the watch
        await watch

        await _start(api, "bench_stream", "hop-stream", {"n": n, "interval_ms": interval_ms})
        connected = asyncio.Event()
        sse = asyncio.create_task(
            _sse(
                api,
                "/v1/workflows/hop-stream/streams/bench/live",
                "value",
                connected,
                lambda v: out["stream_sse"].append(time.time() - v["t"]),
            )
        )
        await connected.wait()
        ws_url = url.replace("http", "ws") + "/v1/workflows/hop-stream/ws"
        async with ws_connect(ws_url) as ws:
            await ws.recv()
            await ws.send(json.dumps({"op": "subscribe_stream", "sub": "s", "key": "bench"}))

            async def ws_reader() -> None:
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame["type"] == "value":
                        out["stream_ws"].append(time.time() - frame["value"]["t"])
                    elif frame["type"] == "end":
                        return

            async def poller() -> None:
                # The seed's demos: poll the non-blocking stream read every 500 ms.
                offset = 0
                while True:
                    page = (
                        await api.get(
                            "/v1/workflows/hop-stream/streams/bench", params={"offset": offset, "limit": 1000}
                        )
                    ).json()
                    now = time.time()
                    out["stream_poll"].extend(now - v["value"]["t"] for v in page["values"])
                    offset = page["next_offset"]
                    if page["complete"]:
                        return
                    await asyncio.sleep(0.5)

            tasks = [asyncio.create_task(ws_reader()), asyncio.create_task(poller())]
            await asyncio.sleep(0.2)
            await api.post("/v1/workflows/hop-stream/messages", json={"topic": "go", "message": 1})
            await asyncio.gather(sse, *tasks)
    return out


async def throughput(url: str, total: int, concurrency: list[int]) -> dict[str, dict[int, float]]:
    """Workflow starts/s and messages/s over HTTP by number of concurrent clients, each client one keep-alive
    connection of :class:`bench.lean_http.LeanClient` (the server's cost, not httpx's)."""
    result: dict[str, dict[int, float]] = {"starts": {}, "messages": {}}
    async with httpx.AsyncClient(base_url=url, timeout=120) as api:
        await _start(api, "messaging", "tp-sink", {"n_steps": 1, "timeout_seconds": 3600})
    for c in concurrency:
        clients = [LeanClient(url) for _ in range(c)]
        for client in clients:
            await client.__aenter__()
        try:
            counter = iter(range(total))

            async def starter(client: LeanClient, counter: Any = counter, prefix: str = f"tp-start-{c}") -> None:
                for i in counter:
                    body = {"type": "events", "workflow_id": f"{prefix}-{i}", "input": {"n_steps": 1}}
                    status, text = await client.post("/v1/workflows", body)
                    assert status in (200, 201, 202), text

            t0 = time.perf_counter()
            await asyncio.gather(*(starter(client) for client in clients))
            result["starts"][c] = total / (time.perf_counter() - t0)
            counter = iter(range(total))

            async def sender(client: LeanClient, counter: Any = counter, c: int = c) -> None:
                for i in counter:
                    body = {"topic": "sink", "message": {"i": i}, "idempotency_key": f"m-{c}-{i}"}
                    status, text = await client.post("/v1/workflows/tp-sink/messages", body)
                    assert status == 202, text

            t0 = time.perf_counter()
            await asyncio.gather(*(sender(client) for client in clients))
            result["messages"][c] = total / (time.perf_counter() - t0)
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)
    return result
