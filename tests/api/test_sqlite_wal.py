"""A SQLite system database runs in write-ahead-log mode (``COMM_SQLITE_WAL``, on by default)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from communication.core.ops.private_files import sqlite_path
from communication.core.ops.sqlite_wal import use_wal
from tests.support.databases import postgres_admin_url
from tests.support.inprocess import app_client, start

pytestmark = pytest.mark.skipif(
    postgres_admin_url() is not None, reason="journal modes are SQLite's (this run: Postgres)"
)


def _mode(url: str) -> str:
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def test_the_server_puts_its_sqlite_database_in_wal_mode_and_works_on_it(database_url: str) -> None:
    assert _mode(database_url) == "delete"  # the migrated copy, as `dbos migrate` left it
    with app_client(database_url) as client:
        assert _mode(database_url) == "wal"
        start(client, "events", "wal-1", n_steps=2)
        done = client.get("/v1/workflows/wal-1/result", params={"timeout": 30}).json()
        assert done["status"] == "SUCCESS"
    assert _mode(database_url) == "wal"  # a property of the file: every later process opens it in WAL mode


def test_comm_sqlite_wal_false_leaves_the_journal_mode_alone(database_url: str) -> None:
    with app_client(database_url, sqlite_wal=False) as client:
        assert _mode(database_url) == "delete"
        assert client.get("/readyz").status_code == 200


def test_use_wal_ignores_what_is_not_an_sqlite_file(tmp_path: Path) -> None:
    assert use_wal("postgresql://postgres@127.0.0.1:5432/none") is False
    assert use_wal("sqlite:///:memory:") is False
    assert use_wal(f"sqlite:///{tmp_path / 'new.sqlite'}") is True
