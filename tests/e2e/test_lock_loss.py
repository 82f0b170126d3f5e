"""The executor lock is held for the process's life: a lost lock ends the process (exit 5, one line) and two paths
to one SQLite file share one lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from communication.node.executor_lock import EXIT_LOCK_LOST, advisory_key
from tests.support.server_proc import ROOT, ServerProcess, free_port

SERVER = str(ROOT / "server.py")


def _pg_conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _wait_exit(server: ServerProcess, timeout: float = 30.0) -> int:
    proc = server._proc
    assert proc is not None
    return proc.wait(timeout=timeout)


def _lock_backends(url: str, executor_id: str) -> list[int]:
    with psycopg.connect(_pg_conninfo(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND ((classid::bigint << 32) | objid::bigint) = %s",
            (advisory_key(executor_id),),
        ).fetchall()
    return [row[0] for row in rows]


def test_postgres_lock_backend_terminated_ends_the_server_with_exit_5_and_one_line(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("Postgres advisory lock (set TEST_POSTGRES_URL)")
    with ServerProcess(database_url, log_dir=tmp_path, env={"COMM_EXECUTOR_ID": "lost-1"}) as server:
        backends = _lock_backends(database_url, "lost-1")
        assert len(backends) == 1
        with psycopg.connect(_pg_conninfo(database_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backends[0],))
        status = _wait_exit(server)
        log = server.log_tail()
    assert status == EXIT_LOCK_LOST, log
    lines = [line for line in log.splitlines() if "executor lock lost" in line]
    assert len(lines) == 1 and "'lost-1'" in lines[0] and "no workflow runs twice" in lines[0], log


def test_postgres_lock_lost_while_a_workflow_runs_stops_before_a_second_process_takes_over(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("Postgres advisory lock (set TEST_POSTGRES_URL)")
    env = {"COMM_EXECUTOR_ID": "lost-2"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            start = {"type": "messaging", "input": {"n_steps": 1}, "workflow_id": "lost-wf"}
            assert http.post("/v1/workflows", json=start).status_code == 201
        with psycopg.connect(_pg_conninfo(database_url), autocommit=True) as admin:
            for pid in _lock_backends(database_url, "lost-2"):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert _wait_exit(server) == EXIT_LOCK_LOST, server.log_tail()
        # The first process is gone, so a second one with the same id may now take the lock and recover.
        (tmp_path / "second").mkdir()
        with ServerProcess(database_url, log_dir=tmp_path / "second", env=env) as second:
            assert httpx.get(f"{second.url}/v1/workflows/lost-wf", timeout=10).status_code == 200


def _second(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.update(
        {
            "DBOS_SYSTEM_DATABASE_URL": database_url,
            "COMM_HOST": "127.0.0.1",
            "COMM_PORT": str(free_port()),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, SERVER], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=90
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize("alias", ["symlink", "dotdot"])
def test_second_sqlite_path_to_the_same_file_is_refused_with_exit_4(tmp_path: Path, alias: str) -> None:
    (tmp_path / "real").mkdir()
    db = tmp_path / "real" / "system.sqlite"
    if alias == "symlink":  # the probe's shape: a symlink to the same database file
        other = tmp_path / "link.sqlite"
        db.touch()
        other.symlink_to(db)
    else:  # a variant: the same file through a directory symlink and ".."
        (tmp_path / "sub").mkdir()
        (tmp_path / "dirlink").symlink_to(tmp_path / "real", target_is_directory=True)
        other = tmp_path / "sub" / ".." / "dirlink" / "system.sqlite"
    env = {"COMM_EXECUTOR_ID": "same"}
    with ServerProcess(f"sqlite:///{db}", log_dir=tmp_path, env=env) as first:
        second = _second(f"sqlite:///{other}", **env)
        assert second.returncode == 4, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "executor id 'same' is in use" in lines[0], second.stderr
        assert f"pid {first.pid}" in lines[0]


@pytest.mark.backend_independent
def test_sqlite_lock_file_removed_ends_the_server_with_exit_5(tmp_path: Path) -> None:
    db = tmp_path / "system.sqlite"
    with ServerProcess(f"sqlite:///{db}", log_dir=tmp_path, env={"COMM_EXECUTOR_ID": "gone"}) as server:
        lock = tmp_path / "system.sqlite.executor-gone.lock"
        assert lock.exists()
        lock.unlink()  # the next process would open a new file there and get a lock of its own
        status = _wait_exit(server)
        log = server.log_tail()
    assert status == EXIT_LOCK_LOST, log
    lines = [line for line in log.splitlines() if "executor lock lost" in line]
    assert len(lines) == 1 and "'gone'" in lines[0] and "was removed" in lines[0], log


def test_graceful_stop_is_not_reported_as_a_lost_lock(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, log_dir=tmp_path, env={"COMM_EXECUTOR_ID": "calm"})
    server.start()
    proc = server._proc
    assert proc is not None
    server.stop()
    assert proc.returncode == 0, server.log_tail()
    assert "executor lock lost" not in server.log_tail()
