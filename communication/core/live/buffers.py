"""The hub's building blocks: delivered items, the terminal item, one feed's bounded buffer, and the
subscription handle that holds a slot of the caps (see :mod:`communication.core.live.hub` for how they work together).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from communication.core.live.direct import DirectSinks, Sink, SinkSlot
from communication.protocol.errors import ValidationFailed, ValueNotDecodable
from communication.protocol.validation import MAX_POSITION


@dataclass(frozen=True)
class End:
    """Terminal item of a subscription: why it ended and where a reader would continue."""

    reason: str  # "closed" | "workflow_finished" | "overflow" | "shutdown" | "error" | "value_not_decodable"
    next_offset: int
    workflow_status: str | None


@dataclass(frozen=True)
class Item:
    """One delivered value at its durable position (stream offset, or event version).

    ``read_at`` (monotonic clock) is when the hub read the committed value from the database: the start of the
    delivery-latency histogram. ``size`` is the length of the value's JSON encoding, measured once when a feed
    reads it (what the feed's byte budget counts). ``frames`` caches the item's encoded wire frames by kind
    (filled lazily by ``communication.http.frames``): every subscriber of a feed gets the same Item object, so
    each value is encoded once per feed, not once per subscriber.
    """

    position: int
    value: Any
    read_at: float = field(default_factory=time.monotonic, compare=False)
    size: int = field(default=0, compare=False)
    frames: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


CatchUp = tuple[list[Item], End | None]


def json_size(value: Any) -> int:
    """Length of ``value``'s compact JSON encoding (what a frame carries)."""
    return len(json.dumps(value, separators=(",", ":"), default=str))


def check_position(position: int, field_name: str = "offset") -> int:
    """``position`` if storage can hold it (``0 <= position <= MAX_POSITION``), else ValidationFailed (422)."""
    if not 0 <= position <= MAX_POSITION:
        raise ValidationFailed(f"{field_name} must be between 0 and {MAX_POSITION}", field=field_name)
    return position


class Feed:
    """Shared state of one durable reader: a bounded buffer of recent items and a change signal."""

    def __init__(self, kind: str, workflow_id: str, key: str | None, capacity: int, byte_budget: int) -> None:
        self.kind = kind  # "stream" | "events"
        self.workflow_id = workflow_id
        self.key = key
        self.items: list[Item] = []  # ascending positions
        self.bytes = 0
        self.capacity = capacity
        self.byte_budget = byte_budget
        self.located = False  # start position read from storage
        self.next_position = 0  # first position not yet read (streams: next offset)
        self.covered_from = 0  # the buffer holds every item with covered_from <= position < next_position
        self.status: str | None = None
        self.ended: End | None = None
        self.subscribers = 0
        self.wake = asyncio.Event()
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.direct = DirectSinks()  # caught-up subscribers written to in one pass (see core.live.direct)
        self._fresh: list[Item] = []  # appended since the last publish: what the direct pass hands over

    @property
    def base(self) -> int:
        """Lowest position the buffer still answers for (positions may be sparse, e.g. event versions)."""
        return self.covered_from

    def start_at(self, position: int) -> None:
        self.next_position = self.covered_from = position
        self.located = True

    def append(self, item: Item) -> None:
        self.items.append(item)
        self._fresh.append(item)
        self.bytes += item.size
        # Amortised trims keep appends O(1): by count at twice the capacity (down to it), by bytes at the budget
        # (down to three quarters of it). The newest item always stays.
        if len(self.items) > 2 * self.capacity or self.bytes > self.byte_budget:
            keep_bytes = self.byte_budget * 3 // 4
            cut, remaining, n = 0, self.bytes, len(self.items)
            while cut < n - 1 and (n - cut > self.capacity or remaining > keep_bytes):
                remaining -= self.items[cut].size
                cut += 1
            del self.items[:cut]
            self.bytes = remaining
            self.covered_from = self.items[0].position

    def first_from(self, position: int) -> Item | None:
        """The buffered item at or after ``position`` (O(log n)); one at a time, so a stalled subscriber pins one
        value, not a slice of the buffer."""
        i = bisect_left(self.items, position, key=lambda it: it.position)
        return self.items[i] if i < len(self.items) else None

    def changed(self) -> asyncio.Event:
        """The event set at the next change; await it after finding nothing new."""
        return self._changed

    def publish(self) -> None:
        """Tell every subscriber what changed: new items go straight to the attached sinks, in one pass; the
        others (and any sink detached by it) are woken through the change signal."""
        fresh, self._fresh = self._fresh, []
        if len(self.direct):
            self.direct.push(fresh)
            if self.ended is not None:
                self.direct.detach_all()
        old, self._changed = self._changed, asyncio.Event()
        old.set()


class Subscription:
    """An open live subscription: an async iterator of :class:`Item` then one :class:`End`.

    It holds one slot of the hub's caps from the moment it is opened until it ends, is closed, or is dropped
    without ever being iterated.
    """

    def __init__(
        self, items: AsyncIterator[Item | End], release: Callable[[], None], slot: SinkSlot | None = None
    ) -> None:
        self._items = items
        self._release_fn: Callable[[], None] | None = release
        self._loop = asyncio.get_running_loop()
        self._slot = slot

    def deliver_to(self, sink: Sink) -> bool:
        """Let the feed write this subscription's items straight to ``sink`` whenever it is caught up (see
        :mod:`communication.core.live.direct`); call before the first iteration. False when this kind of
        subscription has no direct path (its items then flow only through the iterator)."""
        if self._slot is None:
            return False
        self._slot.sink = sink
        return True

    def _release(self) -> None:
        fn, self._release_fn = self._release_fn, None
        if fn is not None:
            fn()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item | End:
        try:
            return await self._items.__anext__()
        except BaseException:
            self._release()
            raise

    async def aclose(self) -> None:
        """End the subscription now (releases its slot and its feed)."""
        try:
            await self._items.aclose()  # type: ignore[attr-defined]
        finally:
            self._release()

    def __del__(self) -> None:
        # The garbage collector may run this on any thread; the hub's counters belong to its event loop.
        if self._release_fn is None or self._loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._release()
        else:
            with contextlib.suppress(RuntimeError):  # the loop stopped in between
                self._loop.call_soon_threadsafe(self._release)


def event_change(key: str, value: Any, version: int, error: ValueNotDecodable | None = None) -> dict[str, Any]:
    """One event-watch item: ``{"key", "value", "version"}``, plus ``error`` (value null) when this one value
    cannot be decoded, so a watch reports it and carries on with the other keys."""
    if error is None:
        return {"key": key, "value": value, "version": version}
    return {"key": key, "value": None, "version": version, "error": error.to_dict()}
