"""Start-up of ``python server.py``: one live process per executor id, the database reached before "serving on",
an unreachable database in one line, condensed DBOS migration logs, each warning once, offline API docs, and a
README configuration table that lists every setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from communication.compat.settings import CompatSettings
from communication.core.ops.config_check import env_name
from communication.core.settings import Settings
from tests.support.server_proc import ROOT, ServerProcess, free_port

SERVER = str(ROOT / "server.py")


def _run_second(server: ServerProcess, **env: str) -> subprocess.CompletedProcess[str]:
    """Another ``python server.py`` on ``server``'s database, on another port (bounded)."""
    environment = server.environment()
    environment.update({"COMM_PORT": str(free_port()), "COMM_LOG_LEVEL": "info", **env})
    return subprocess.run(
        [sys.executable, SERVER], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=90
    )


def test_second_process_with_the_same_executor_id_refuses_before_recovering_anything(
    database_url: str, tmp_path: Path
) -> None:
    env = {"COMM_EXECUTOR_ID": "node-x"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as first:
        with httpx.Client(base_url=first.url, timeout=30) as http:
            start = {"type": "messaging", "input": {"n_steps": 1}, "workflow_id": "held-1"}
            assert http.post("/v1/workflows", json=start).status_code == 201
            assert http.get("/v1/workflows/held-1/events/status", params={"timeout": 10}).status_code == 200
            second = _run_second(first, COMM_EXECUTOR_ID="node-x")
            assert second.returncode == 4, second.stdout + second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert "executor id 'node-x' is in use" in lines[0] and "COMM_EXECUTOR_ID=" in lines[0]
            if database_url.startswith("sqlite"):
                assert f"pid {first.pid}" in lines[0]
            else:
                assert "node-x" in lines[0] and "backend pid" in lines[0]
            assert "Recovering" not in second.stdout + second.stderr and "DBOS launched" not in second.stdout
            # The first server is unaffected and its workflow still runs there.
            assert http.get("/v1/workflows/held-1").json()["status"] == "PENDING"
        first.stop(graceful=False)
        (tmp_path / "again").mkdir()  # a crash frees the lock (the kernel / the database session drops it)
        with ServerProcess(database_url, log_dir=tmp_path / "again", env=env) as again:
            assert httpx.get(f"{again.url}/readyz", timeout=10).status_code == 200


def test_worker_with_a_server_s_executor_id_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env={"COMM_EXECUTOR_ID": "shared"}) as server:
        env = {**server.environment(), "COMM_EXECUTOR_ID": "shared", "COMM_WORK_QUEUE": "work"}
        proc = subprocess.run(
            [sys.executable, SERVER, "--worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
        )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "executor id 'shared' is in use" in proc.stderr and "Recovering" not in proc.stdout + proc.stderr


def test_distinct_executor_ids_share_a_database(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    with (
        ServerProcess(database_url, log_dir=tmp_path, env={"COMM_EXECUTOR_ID": "a"}),
        ServerProcess(database_url, log_dir=tmp_path / "b", env={"COMM_EXECUTOR_ID": "b"}) as b,
    ):
        assert httpx.get(f"{b.url}/readyz", timeout=10).status_code == 200


def test_unreachable_database_exits_3_with_one_line_and_no_serving_line(tmp_path: Path) -> None:
    env = dict(os.environ, DBOS_SYSTEM_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere", PYTHONUNBUFFERED="1")
    env["COMM_EXECUTOR_ID"] = "x"
    proc = subprocess.run([sys.executable, SERVER], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.strip().startswith("error: cannot reach the Postgres system database")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "serving on" not in proc.stdout + proc.stderr


@pytest.fixture
def info_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"COMM_LOG_LEVEL": "info"}
    if database_url.startswith("sqlite"):
        env["COMM_WORK_QUEUE"] = "work"  # SQLite + work queue: a configuration warning at start
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
        yield server


def test_serving_line_follows_dbos_launch_migrations_are_one_line_and_warnings_print_once(
    info_server: ServerProcess,
) -> None:
    log = info_server.log_tail(200_000)
    launched, serving = log.find("DBOS launched on"), log.find("serving on http://127.0.0.1:")
    assert 0 <= launched < serving, log
    assert f"serving on http://127.0.0.1:{info_server.port} " in log
    assert not re.search(r"schema migration \d+\n", log), "one line per migration at the default level"
    assert len(re.findall(r"applied \d+ DBOS schema migrations", log)) == 1
    warnings = [line.split(" WARNING ", 1)[1] for line in log.splitlines() if " WARNING " in line]
    assert warnings and len(warnings) == len(set(warnings)), warnings


def test_readme_configuration_table_lists_every_setting() -> None:
    rows = "\n".join(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `"))
    names = [env_name(name).split(" ")[0] for name in Settings.model_fields]
    names += ["COMM_COMPAT" if name == "enabled" else f"COMM_{name.upper()}" for name in CompatSettings.model_fields]
    missing = [name for name in names if f"`{name}`" not in rows]
    assert not missing, f"README's configuration tables miss {missing}"
