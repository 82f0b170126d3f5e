"""Fixtures for in-process tests, plus two workflow types that only tests register."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from pydantic import BaseModel

from communication.core.registry import registry
from tests.support import app_client


class _Empty(BaseModel):
    pass


class _GatedInput(BaseModel):
    n: int = 10
    close: bool = True


@registry.register("test_none_event", _Empty, "Test only: sets event 'maybe' to null, then waits for 'go'.")
async def none_event_workflow(params: dict[str, Any]) -> str:
    await DBOS.set_event_async("maybe", None)
    await DBOS.recv_async("go", timeout_seconds=60)
    return "done"


@registry.register("test_fail", _Empty, "Test only: fails.")
async def failing_workflow(params: dict[str, Any]) -> None:
    raise RuntimeError("boom")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--chaos-long``: run the long form of the chaos suite (tests/test_chaos.py) instead of the short one."""
    parser.addoption("--chaos-long", action="store_true", default=False, help="run the long chaos suite")


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """An app over a fresh database, DBOS launched; destroyed after the test."""
    with app_client(database_url) as c:
        yield c


@registry.register("test_gated_stream", _GatedInput, "Test only: waits for 'go', writes n values, closes.")
async def gated_stream_workflow(params: dict[str, Any]) -> int:
    p = _GatedInput.model_validate(params)
    await DBOS.set_event_async("status", "waiting")
    await DBOS.recv_async("go", timeout_seconds=120)
    for i in range(p.n):
        await DBOS.write_stream_async("numbers", {"i": i})
    if p.close:
        await DBOS.close_stream_async("numbers")
    else:
        await DBOS.recv_async("finish", timeout_seconds=120)
    return p.n
