"""The suite's fixtures and hooks: a fresh database per test on the chosen backend (tests/support/databases.py),
an in-process app, folder markers, and two workflow types that only tests register."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from pydantic import BaseModel

from communication.core.registry import registry
from tests.support.databases import database_url, fresh_database_url, migrated_template, postgres_admin_url
from tests.support.inprocess import app_client

__all__ = ["database_url", "fresh_database_url", "migrated_template"]  # fixtures, re-exported for pytest


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
    """``--chaos-long``: run the long form of the chaos suite (tests/chaos/test_chaos.py) instead of the short one."""
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


#: The test folders, each selectable as a marker (``pytest -m unit``, ``-m "not browser"``).
FOLDER_MARKERS = {
    "unit": "no HTTP: the hub, frames, the error tree, the house rules, DBOS's private API contract",
    "api": "the API in-process (TestClient) over a real DBOS",
    "e2e": "real `python server.py`, worker and client processes",
    "browser": "real Chromium (Playwright) against a real server",
    "chaos": "database restarts, cut connections and kill -9 under load",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the folder markers and the marker of tests whose behaviour does not depend on the backend."""
    for name, what in FOLDER_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    config.addinivalue_line(
        "markers",
        "backend_independent: HTTP-level behaviour (clients, CLI, dashboard, auth, fuzzing, examples, command line, "
        "mounting in a host app): run once, on SQLite",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder; on Postgres, deselect backend-independent tests: the SQLite run already
    ran them (CI runs both backends).

    ``TEST_ALL_ON_POSTGRES=1`` keeps them, e.g. to check one on Postgres by hand.
    """
    for item in items:
        folder = Path(str(item.path)).parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
    if postgres_admin_url() is None or os.environ.get("TEST_ALL_ON_POSTGRES"):
        return
    keep: list[pytest.Item] = []
    skip: list[pytest.Item] = []
    for item in items:
        (skip if item.get_closest_marker("backend_independent") else keep).append(item)
    if skip:
        config.hook.pytest_deselected(items=skip)
        items[:] = keep


@pytest.fixture
def backend() -> str:
    """'postgres' or 'sqlite', for test ids and messages."""
    return "postgres" if postgres_admin_url() else "sqlite"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Destroy a DBOS instance that a failed test left launched.

    Its background threads (queue, scheduler, notification listener) are not daemons: left running against a
    dropped test database they would keep retrying and the interpreter would never exit after the report.
    """
    from dbos import DBOS

    from communication.adapter import lifecycle

    if lifecycle.instance_exists():
        DBOS.destroy(destroy_registry=True)
