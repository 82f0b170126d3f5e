"""A fresh system database per test, copied from one migrated once per test process.

Backend: SQLite files under the test's tmp_path by default. With ``TEST_POSTGRES_URL`` set (an admin URL such as
``postgresql://postgres@127.0.0.1:5432/postgres``) every test gets a new Postgres database on that server instead,
dropped afterwards. ``.ci/run`` runs the same ``pytest`` command both ways.

DBOS migrates a new system database at launch (125 migrations, about a second). A test pays that once per test
process: the schema is migrated into a template with DBOS's own ``dbos migrate`` command, and each test gets a
copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on Postgres). ``fresh_database_url`` is the unmigrated
kind, for tests of what a first launch does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The admin URL of the test Postgres server, or None when tests run on SQLite."""
    return os.environ.get(POSTGRES_ENV) or None


def with_database(admin_url: str, name: str) -> str:
    """``admin_url`` pointing at database ``name``."""
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def _migrate(url: str) -> None:
    dbos = Path(sys.executable).parent / "dbos"
    command = [str(dbos)] if dbos.exists() else [sys.executable, "-m", "dbos.cli.cli"]
    done = subprocess.run([*command, "migrate", "-s", url], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dbos migrate failed on {url}:\n{done.stdout}\n{done.stderr}")


def _create(admin: str, name: str, template: str | None = None) -> None:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(statement)


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A system database migrated once for this test process: a SQLite file path or a Postgres database name."""
    admin = postgres_admin_url()
    if admin is None:
        path = tmp_path_factory.mktemp("template") / "system.sqlite"
        _migrate(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"comm_tpl_{uuid.uuid4().hex[:12]}"
    _create(admin, name)
    try:
        _migrate(with_database(admin, name))
        yield name
    finally:
        _drop(admin, name)


@contextmanager
def copied_database(template: str, directory: Path, prefix: str = "comm_test") -> Iterator[str]:
    """A migrated system database nobody else uses, copied from ``template`` (see :func:`migrated_template`): an
    SQLite file in ``directory``, or a new Postgres database named ``<prefix>_<random>``, dropped afterwards."""
    admin = postgres_admin_url()
    if admin is None:
        target = directory / "system.sqlite"
        shutil.copyfile(template, target)
        target.chmod(0o600)
        yield f"sqlite:///{target}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _create(admin, name, template=template)
    try:
        yield with_database(admin, name)
    finally:
        _drop(admin, name)


@pytest.fixture
def database_url(tmp_path: Path, migrated_template: str) -> Iterator[str]:
    """A migrated system database URL nobody else uses: SQLite under tmp_path, or a new Postgres database."""
    with copied_database(migrated_template, tmp_path) as url:
        yield url


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty system database URL (not migrated): for tests of what a first launch does."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path / 'system.sqlite'}"
        return
    name = f"comm_test_{uuid.uuid4().hex[:12]}"
    _create(admin, name)
    try:
        yield with_database(admin, name)
    finally:
        _drop(admin, name)
