"""How many items of a page fit a byte budget (``COMM_PAGE_MAX_BYTES``).

A page always carries at least one item, even one larger than the budget alone: otherwise a single large value
could never be read. The page stops before the item that would cross the budget and says so (``truncated``) with
where to continue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json


def fitting(sizes: Iterable[int], max_bytes: int) -> int:
    """The number of leading items whose sizes add up to at most ``max_bytes`` (at least 1 if there are any)."""
    total = 0
    count = 0
    for size in sizes:
        total += size
        if count and total > max_bytes:
            break
        count += 1
        if total >= max_bytes:
            break
    return count


def json_size(item: Any) -> int:
    """The JSON length of one item of a page (a model or a plain value)."""
    if isinstance(item, BaseModel):
        return len(item.model_dump_json())
    return len(to_json(item, fallback=str))


def cut(items: list[Any], max_bytes: int) -> tuple[list[Any], bool]:
    """``items`` cut at the budget, and whether anything was left out."""
    count = fitting((json_size(item) for item in items), max_bytes)
    return items[:count], count < len(items)
