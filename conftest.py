"""Shared test fixtures: a fresh database per test on the chosen backend, an in-process app, a real server.

Backend: SQLite files under tmp_path by default. With ``TEST_POSTGRES_URL`` set (an admin URL such as
``postgresql://postgres@127.0.0.1:5432/postgres``) every test instead gets a freshly created Postgres database
on that server, dropped afterwards. ``.ci/run`` runs the same ``pytest`` command both ways.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The admin URL of the test Postgres server, or None when tests run on SQLite."""
    return os.environ.get(POSTGRES_ENV) or None


def _with_database(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A system database URL nobody else uses: SQLite under tmp_path, or a new Postgres database."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path / 'system.sqlite'}"
        return
    name = f"comm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests whose behaviour does not depend on the database backend."""
    config.addinivalue_line(
        "markers",
        "backend_independent: HTTP-level behaviour (client, CLI, dashboard, auth, fuzzing): run once, on SQLite",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On Postgres, deselect backend-independent tests: the SQLite run already ran them (CI runs both backends).

    ``TEST_ALL_ON_POSTGRES=1`` keeps them, e.g. to check one on Postgres by hand.
    """
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
