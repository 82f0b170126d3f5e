"""The app's OpenAPI document as a lookup table: which operations exist for a path, and what bodies they take.

The document is the contract clients read; enforcing media types and answering ``Allow`` from it keeps what the
server does and what it documents the same.
"""

from __future__ import annotations

import re
from typing import Any

#: ``(METHOD, path regex, accepted body media types or None)``.
Operation = tuple[str, re.Pattern[str], frozenset[str] | None]

_PARAM_RE = re.compile(r"\\{[^}/]+\\}")


def route_table(document: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document, in document (registration) order."""
    table: list[Operation] = []
    for path, item in document.get("paths", {}).items():
        regex = re.compile(_PARAM_RE.sub("[^/]+", re.escape(path)) + r"\Z")
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            media = frozenset(str(k).lower() for k in content) or None
            table.append((method.upper(), regex, media))
    return table


def allowed_methods(document: dict[str, Any], path: str) -> list[str]:
    """The methods the document lists for ``path`` (for a 405's ``Allow`` header)."""
    return sorted({method for method, regex, _ in route_table(document) if regex.match(path)})
