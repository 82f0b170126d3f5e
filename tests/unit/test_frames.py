"""The one frame mapper: frames byte-for-byte as before (sse-starlette's layout, ``json.dumps`` compact), and each
value encoded once per feed however many subscribers share it.

``_block`` is sse-starlette's ``ServerSentEvent.encode`` layout written out: the wire stays what it was after the
package was dropped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from communication.compat import frames as seed_frames
from communication.core.live.hub import End, Item
from communication.http import frames


def _old_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _block(data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None) -> bytes:
    lines = [f"id: {id}"] if id is not None else []
    lines += [f"event: {event}"] if event is not None else []
    lines.append(f"data: {data}")
    lines += [f"retry: {retry}"] if retry is not None else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


VALUES: list[Any] = [
    {"i": 1, "t": 1764500000.25, "text": "héllo ✓ \n line", "nested": {"a": [1, None, True]}},
    "plain",
    None,
    12345678901234567890,
    1e16,
]


@pytest.mark.parametrize("value", VALUES)
def test_sse_value_frames_keep_sse_starlettes_layout(value: Any) -> None:
    item = Item(7, value)
    expected = _block(_old_json(value), event="value", id="7")
    assert frames.sse_item(item, "value") == expected
    first = _block(_old_json(value), event="value", id="7", retry=1000)
    assert frames.with_retry(frames.sse_item(item, "value")) == first


def test_end_overflow_and_comment_frames_are_byte_identical() -> None:
    end = End("closed", 5, "SUCCESS")
    body = {"reason": "closed", "workflow_status": "SUCCESS", "next_offset": 5}
    assert frames.sse_end(end, with_offset=True) == _block(_old_json(body), event="end")
    over = End("overflow", 9, None)
    assert frames.sse_overflow(over) == _block(_old_json({"next_offset": 9}), event="overflow")
    assert frames.CONNECTED == b": connected\r\n\r\n"


@pytest.mark.parametrize("value", VALUES)
def test_websocket_frames_equal_json_dumps_of_the_old_dicts(value: Any) -> None:
    item = Item(3, value)
    assert frames.ws_value(item, "s1") == _old_json({"type": "value", "sub": "s1", "offset": 3, "value": value})
    event = Item(4, {"key": "k", "value": value, "version": 4})
    assert frames.ws_event(event, 'e"1') == _old_json(
        {"type": "event", "sub": 'e"1', "key": "k", "value": value, "version": 4}
    )
    end = End("workflow_finished", 4, "SUCCESS")
    assert frames.ws_end(end, "s1", with_offset=False) == _old_json(
        {"type": "end", "sub": "s1", "reason": "workflow_finished", "workflow_status": "SUCCESS"}
    )


async def test_a_value_is_encoded_once_for_every_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = frames.encode_json

    def counting(value: Any) -> str:
        nonlocal calls
        calls += 1
        return real(value)

    monkeypatch.setattr(frames, "encode_json", counting)
    shared = [Item(i, {"i": i}) for i in range(3)]  # a feed hands the same Item objects to every subscriber

    async def items() -> AsyncIterator[Item | End]:
        for it in shared:
            yield it
        yield End("closed", 3, "SUCCESS")

    outputs = [[chunk async for chunk in frames.sse_live(items(), "value")] for _ in range(50)]
    assert all(out == outputs[0] for out in outputs)
    assert calls == 3 + 50  # one encode per value, plus each subscriber's own terminal frame


def test_seed_frames_are_unnamed_payloads_unless_named() -> None:
    stored = {"type": "thinking", "data": None, "id": "e1", "timestamp": 1.0, "payload": {"type": "thinking", "x": 1}}
    item = Item(0, stored)
    assert seed_frames._seed_frame(item, named=False) == b'id: 0\r\ndata: {"type":"thinking","x":1}\r\n\r\n'
    assert (
        seed_frames._seed_frame(item, named=True)
        == b'id: 0\r\nevent: thinking\r\ndata: {"type":"thinking","x":1}\r\n\r\n'
    )
    idle = {"type": "timeout", "data": {"reason": "idle"}, "id": None, "timestamp": 2.0}
    assert seed_frames.seed_payload(idle) == {"type": "timeout", "data": {"reason": "idle"}}
