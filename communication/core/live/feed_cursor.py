"""The workflow feed's cursor: where one reader stands in every source of a workflow, as a short opaque string.

A position is the newest event version delivered, each stream's next offset, the last status delivered and
whether the end was delivered. Streams are named in the cursor by an 8-character hash of their key (48 bits of
BLAKE2b), so the cursor stays short whatever the key lengths: with :data:`MAX_FEED_STREAMS` streams it is at most
:data:`MAX_CURSOR_CHARS` characters. The wire form is the URL-safe base64 (no padding) of a compact JSON object
``{"e": version, "s": {hash: offset}, "t": status, "x": 1}`` (absent members: defaults). It is opaque to clients:
they hand back the ``id:`` of the last frame they received (``Last-Event-ID`` or ``?cursor=``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field

from communication.protocol.errors import ValidationFailed
from communication.protocol.validation import MAX_STORED_INT

#: Most stream keys one workflow feed follows (ascending key order); the cursor's size is bounded by it.
MAX_FEED_STREAMS = 32
#: Longest cursor the server produces (and accepts): 32 streams at the largest offsets, the longest status.
MAX_CURSOR_CHARS = 1100

_HASH_RE = re.compile(r"^[A-Za-z0-9_-]{8}$")
_STATUS_RE = re.compile(r"^[A-Z_]{1,40}$")


def key_hash(key: str) -> str:
    """The 8-character name of a stream key inside a cursor."""
    digest = hashlib.blake2b(key.encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


@dataclass
class Position:
    """Where a reader of a workflow's feed stands (see the module docstring)."""

    events: int = -1
    streams: dict[str, int] = field(default_factory=dict)  # key hash -> next offset
    status: str | None = None
    ended: bool = False

    def copy(self) -> Position:
        """An independent copy."""
        return Position(self.events, dict(self.streams), self.status, self.ended)

    def offset(self, key: str) -> int:
        """The next offset of stream ``key`` (0 when the cursor does not name it)."""
        return self.streams.get(key_hash(key), 0)

    def covers(self, other: Position) -> bool:
        """Whether every event and stream value before ``other`` is also before this position."""
        return self.events >= other.events and all(self.streams.get(h, 0) >= n for h, n in other.streams.items())

    def encode(self) -> str:
        """The opaque wire form."""
        doc: dict[str, object] = {}
        if self.events >= 0:
            doc["e"] = self.events
        if self.streams:
            doc["s"] = self.streams
        if self.status is not None:
            doc["t"] = self.status
        if self.ended:
            doc["x"] = 1
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, field_name: str = "cursor") -> Position:
    """Parse a cursor from a client (``None`` or empty: the beginning of the workflow).

    Raises:
        ValidationFailed: not a cursor this server produces (422), naming ``field_name``.
    """
    if text is None or not text.strip():
        return Position()
    text = text.strip()

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"{field_name} is not a feed cursor ({why})", field=field_name)

    if len(text) > MAX_CURSOR_CHARS:
        raise bad(f"longer than {MAX_CURSOR_CHARS} characters")
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad("not base64url JSON") from None
    if not isinstance(doc, dict) or not set(doc) <= {"e", "s", "t", "x"}:
        raise bad("unknown members")
    events, streams, status, ended = doc.get("e", -1), doc.get("s", {}), doc.get("t"), doc.get("x", 0)
    if type(events) is not int or not -1 <= events <= MAX_STORED_INT:
        raise bad("event version out of range")
    if not isinstance(streams, dict) or len(streams) > MAX_FEED_STREAMS:
        raise bad("too many streams")
    for h, n in streams.items():
        if not _HASH_RE.match(h) or type(n) is not int or not 0 <= n <= MAX_STORED_INT:
            raise bad("bad stream position")
    if status is not None and (not isinstance(status, str) or not _STATUS_RE.match(status)):
        raise bad("bad status")
    if ended not in (0, 1):
        raise bad("bad end flag")
    return Position(events, dict(streams), status, bool(ended))
