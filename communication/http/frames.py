"""The one mapper from hub items (``Item`` / ``End``) to wire frames: SSE (v1 and seed) and WebSocket.

Contract: docs/live-contract.md. Why this module exists: a feed hands the *same* ``Item`` object to every
subscriber, so each frame is encoded once per feed and cached on the item (``Item.frames``, keyed by frame kind);
1,000 subscribers of one stream cost one ``json`` encode per value, not 1,000. Per-subscriber parts (the WebSocket
``sub`` id, the first frame's ``retry:`` hint) are spliced around the cached bytes.

JSON is the standard library's compact encoding (``separators=(",", ":")``, ``default=str``, ASCII escapes), kept
byte-for-byte as before, except that ``NaN`` and ``±Infinity`` (a workflow may store them) are written ``null``,
as the snapshot routes (pydantic) write them: ``JSON.parse`` and every strict parser reject the bare literals.
``orjson`` was measured (0.14 µs vs 2.2 µs per typical value) but, encoded once per feed, the 2 µs saved per
value do not show in any figure, while its output differs (UTF-8 instead of ``\\u`` escapes,
``1e16`` instead of ``1e+16``, no NaN): not worth a dependency and a changed wire.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from communication.core.live.hub import End, Item
from communication.core.ops.metrics import DELIVERY_LATENCY, DIRECT_DELIVERIES, STREAM_VALUES_DELIVERED

_encoder = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)
RECONNECT_MS = 1000
CONNECTED = b": connected\r\n\r\n"


# Labelled metric children bound once: ``labels()`` per delivered frame was ~8% of the server's event-loop time
# with 1,000 subscribers (py-spy).
_DELIVERED = {t: STREAM_VALUES_DELIVERED.labels(transport=t) for t in ("sse", "websocket")}
_LATENCY = {t: DELIVERY_LATENCY.labels(transport=t) for t in ("sse", "websocket")}
_DIRECT = {t: DIRECT_DELIVERIES.labels(transport=t) for t in ("sse", "websocket")}


def record_delivery(item: Item, transport: str, count: int = 1, *, direct: bool = False) -> None:
    """Count ``count`` sends of one value to live clients (``sse`` / ``websocket``; ``direct``: written by the
    feed itself) and observe its hub-read → send latency (once: a direct pass sends it to ``count`` clients at the
    same moment)."""
    _DELIVERED[transport].inc(count)
    if direct:
        _DIRECT[transport].inc(count)
    _LATENCY[transport].observe(time.monotonic() - item.read_at)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (containers copied, the rest as is)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def encode_json(value: Any) -> str:
    """Compact JSON text for a ``data:`` line, a WebSocket frame or an error envelope (never a raw newline, never
    ``NaN``/``Infinity``: those become ``null``)."""
    try:
        return _encoder.encode(value)
    except ValueError:  # "Out of range float values are not JSON compliant": rare, so the copy is paid only then
        return _encoder.encode(_finite(value))


def _cached(item: Item, kind: str, build: Callable[[Item], Any]) -> Any:
    frame = item.frames.get(kind)
    if frame is None:
        frame = item.frames[kind] = build(item)
    return frame


def value_json(item: Item) -> str:
    """The item's value as JSON text, encoded once per item."""
    return _cached(item, "json", lambda it: encode_json(it.value))  # type: ignore[no-any-return]


# -- SSE ---------------------------------------------------------------------------------------------------------
def sse_frame(data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None) -> bytes:
    """One SSE block in sse-starlette's layout: ``id``, ``event``, ``data``, ``retry`` lines, then a blank line.

    ``data`` must be one line (compact JSON is); ``event`` and ``id`` must not contain newlines (ours never do).
    """
    parts = []
    if id is not None:
        parts.append(f"id: {id}\r\n")
    if event is not None:
        parts.append(f"event: {event}\r\n")
    parts.append(f"data: {data}\r\n")
    if retry is not None:
        parts.append(f"retry: {retry}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode()


def with_retry(frame: bytes, retry_ms: int = RECONNECT_MS) -> bytes:
    """The same block with a ``retry:`` line (the reconnect hint rides on a subscriber's first real frame)."""
    return frame[:-2] + f"retry: {retry_ms}\r\n\r\n".encode()


def sse_item(item: Item, event: str | None) -> bytes:
    """``id: <position>`` / ``event: <event>`` (omitted when ``None``) / ``data: <value>``, cached per item."""
    return _cached(  # type: ignore[no-any-return]
        item, f"sse:{event}", lambda it: sse_frame(value_json(it), event=event, id=str(it.position))
    )


def sse_overflow(end: End) -> bytes:
    """``event: overflow`` / ``data: {"next_offset": N}``: the client resumes from N with a new connection."""
    return sse_frame(encode_json({"next_offset": end.next_offset}), event="overflow")


def sse_end(end: End, *, with_offset: bool) -> bytes:
    """``event: end`` with the reason and the workflow's status (and ``next_offset`` for streams)."""
    body: dict[str, Any] = {"reason": end.reason, "workflow_status": end.workflow_status}
    if with_offset:
        body["next_offset"] = end.next_offset
    return sse_frame(encode_json(body), event="end")


async def sse_live(
    items: AsyncIterator[Item | End], value_event: str, keys: frozenset[str] | None = None
) -> AsyncIterator[bytes]:
    """v1 live frames: values (``event: value`` for streams, ``event`` for event watches), then ``end`` /
    ``overflow``; nothing after ``shutdown`` (the client reconnects and resumes)."""
    # A comment first, so clients see the subscription is open before any value exists.
    yield CONNECTED
    # Browsers wait 3 s before reconnecting unless told otherwise. The hint rides on the first real frame:
    # a block holding only "retry:" is dispatched as an empty message by some clients.
    first = True
    async for out in items:
        if isinstance(out, Item):
            if keys is not None and out.value.get("key") not in keys:
                continue
            frame = sse_item(out, value_event)
            yield with_retry(frame) if first else frame
            record_delivery(out, "sse")
            first = False
        elif out.reason == "overflow":
            yield sse_overflow(out)
        elif out.reason == "shutdown":
            return
        else:
            yield sse_end(out, with_offset=value_event == "value")


# -- WebSocket ---------------------------------------------------------------------------------------------------
def ws_value(item: Item, sub: str) -> str:
    """``{"type":"value","sub":…,"offset":…,"value":…}`` with the value's cached JSON spliced in."""
    return f'{{"type":"value","sub":{encode_json(sub)},"offset":{item.position},"value":{value_json(item)}}}'


def ws_event(item: Item, sub: str) -> str:
    """``{"type":"event","sub":…,"key":…,"value":…,"version":…}``: the cached ``{"key",…}`` object spliced in."""
    return f'{{"type":"event","sub":{encode_json(sub)},{value_json(item)[1:]}'


def ws_overflow(end: End, sub: str) -> str:
    """``{"type":"overflow","sub":…,"next_offset":…}``."""
    return encode_json({"type": "overflow", "sub": sub, "next_offset": end.next_offset})


def ws_end(end: End, sub: str, *, with_offset: bool) -> str:
    """``{"type":"end","sub":…,"reason":…,"workflow_status":…}`` (+ ``next_offset`` for streams)."""
    frame: dict[str, Any] = {"type": "end", "sub": sub, "reason": end.reason, "workflow_status": end.workflow_status}
    if with_offset:
        frame["next_offset"] = end.next_offset
    return encode_json(frame)
