"""The seed's SSE frames: ``GET /stream/{sid}`` serves exactly what the producer posted (seed 004).

Built on the one mapper (:mod:`communication.http.frames`): each frame is encoded once per feed and cached on the item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from communication.core.live.hub import End, Item
from communication.http.frames import CONNECTED, _cached, encode_json, record_delivery, sse_frame, sse_overflow


def seed_payload(value: Any) -> Any:
    """What a producer posted, rebuilt from a stored session event (its ``data`` and ``posted`` recipe, see
    :func:`communication.core.sessions.posted_recipe`; events stored with a whole ``payload`` are served as is).

    Events the server writes itself (the idle ``timeout``) have neither: they are shown as ``type`` and ``data``.
    """
    if isinstance(value, dict):
        recipe = value.get("posted")
        if recipe == "data":
            return value.get("data")
        if isinstance(recipe, dict) and isinstance(recipe.get("template"), dict):
            return {k: (value.get("data") if k == "data" else v) for k, v in recipe["template"].items()}
        if isinstance(recipe, dict) and "whole" in recipe:
            return recipe["whole"]
        if "payload" in value:
            return value["payload"]
        return {"type": value.get("type"), "data": value.get("data")}
    return value


def _seed_frame(item: Item, named: bool) -> bytes:
    event = None
    if named:
        event = str(item.value.get("type", "message")) if isinstance(item.value, dict) else "message"
    return sse_frame(encode_json(seed_payload(item.value)), event=event, id=str(item.position))


def seed_item(item: Item, named: bool) -> bytes:
    """The seed ``GET /stream/{sid}`` frame of one session event, cached per item."""
    return _cached(item, f"seed:{named}", lambda it: _seed_frame(it, named))  # type: ignore[no-any-return]


async def sse_seed_session(items: AsyncIterator[Item | End], *, named: bool) -> AsyncIterator[bytes]:
    """Seed 004 ``GET /stream/{sid}`` frames: ``data:`` is exactly what the producer posted, ``id:`` the durable
    offset; unnamed (``EventSource.onmessage``) unless ``named``, then ``event:`` is the event's type. The
    ``done`` / ``timeout`` frame is the last; the response then ends."""
    yield CONNECTED
    async for out in items:
        if isinstance(out, Item):
            yield seed_item(out, named)
            record_delivery(out, "sse")
        elif out.reason == "overflow":
            yield sse_overflow(out)
        # closed/finished: the closing event was the last frame; shutdown: the client reconnects
