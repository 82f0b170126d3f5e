"""Documented patterns for every identifier that crosses the HTTP boundary.

Kept in one place so the API's OpenAPI schema, the handlers and the docs agree.
"""

from __future__ import annotations

import re
from typing import Any

from communication.protocol.errors import MalformedJSON, ValidationFailed

#: Workflow ids: 1-128 chars, letters, digits and ``._:-``, starting with a letter or digit.
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: Event keys, message topics and stream keys: 1-128 chars of letters, digits and ``._:-``,
#: starting with a letter, digit or underscore.
KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$"
#: Idempotency keys: 1-200 printable ASCII characters without spaces.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"

#: Largest stream offset / event version storage can hold (BIGINT): every position from a client is checked
#: against it (``0 <= position <= MAX_POSITION``) before it reaches a query.
MAX_POSITION = 2**63 - 1

_KEY_RE = re.compile(KEY_PATTERN)
_WORKFLOW_ID_RE = re.compile(WORKFLOW_ID_PATTERN)


def check_workflow_id(value: str) -> str:
    """Return ``value`` if it is a valid workflow id, else raise :class:`ValidationFailed`."""
    if not _WORKFLOW_ID_RE.match(value):
        raise ValidationFailed("invalid workflow id", field="workflow_id", pattern=WORKFLOW_ID_PATTERN)
    return value


def check_key(value: str, field: str = "key") -> str:
    """Return ``value`` if it is a valid event key / topic / stream key."""
    if not _KEY_RE.match(value):
        raise ValidationFailed(f"invalid {field}", field=field, pattern=KEY_PATTERN)
    return value


def json_depth(value: Any, limit: int) -> int:
    """Depth of a decoded JSON value, iteratively (a deep document cannot blow the stack).

    Raises:
        MalformedJSON: when the depth exceeds ``limit``.
    """
    depth = 0
    frontier: list[tuple[Any, int]] = [(value, 1)]
    while frontier:
        node, level = frontier.pop()
        if isinstance(node, dict | list):
            depth = max(depth, level)
            if depth > limit:
                raise MalformedJSON(f"JSON nests deeper than {limit} levels", max_depth=limit)
            children = node.values() if isinstance(node, dict) else node
            frontier.extend((child, level + 1) for child in children)
    return depth
