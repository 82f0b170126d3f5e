"""Seed habits that must work as printed: ``python test_communication.py [BASE_URL]``, the ``dbos`` CLI recipes of
QUICK_REFERENCE.md, and a DBOSClient tour that calls only what DBOS 3.4's ``DBOSClient`` has."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dbos import DBOSClient

from tests.support.server_proc import ROOT, ServerProcess


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("COMM_E2E_URL", "COMM_URL", "COMM_API_KEY")}


@pytest.mark.backend_independent
def test_test_communication_py_with_a_url_runs_the_suite_against_that_server_repeatedly(server: ServerProcess) -> None:
    for _ in range(2):  # fresh workflow ids per run: a long-lived server can be tested again
        proc = subprocess.run(
            [sys.executable, "test_communication.py", server.url, "-q"],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert re.search(r"\b8 passed\b", proc.stdout), proc.stdout[-2000:]


@pytest.mark.backend_independent
def test_test_communication_py_without_a_url_launches_its_own_server(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "test_communication.py", "-q", "-k", "health"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"\b1 passed\b", proc.stdout)


def _recipes() -> list[str]:
    text = (ROOT / "QUICK_REFERENCE.md").read_text()
    section = text.split("## `dbos` CLI recipes", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("dbos ")]


def test_quick_reference_dbos_cli_recipes_work_as_printed(server: ServerProcess, database_url: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/start-workflow-events/wf-events-1/3").status_code == 200
        assert http.get("/v1/workflows/wf-events-1/result", params={"timeout": 30}).json()["status"] == "SUCCESS"
        assert http.post("/start-workflow-messaging/wf-msg-1/3").status_code == 200
        assert http.get("/workflow-events/wf-msg-1/status", params={"timeout": 10}).status_code == 200
    recipes = _recipes()
    assert len(recipes) >= 6
    bindir = str(Path(sys.executable).parent)
    env = {**_env(), "DBOS_SYSTEM_DATABASE_URL": database_url, "PATH": f"{bindir}:{os.environ['PATH']}"}
    for recipe in recipes:
        done = subprocess.run(["bash", "-c", recipe], env=env, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"{recipe}\n{done.stdout}\n{done.stderr}"
    # What QUICK_REFERENCE warns about: without -s the dbos CLI ignores DBOS_SYSTEM_DATABASE_URL.
    dbos = shutil.which("dbos", path=env["PATH"])
    assert dbos is not None
    bare = subprocess.run(
        [dbos, "workflow", "get", "wf-events-1"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert bare.returncode != 0


@pytest.mark.backend_independent
def test_dbos_client_tour_calls_only_methods_dbos_client_has() -> None:
    tree = ast.parse((ROOT / "example_client_lib.py").read_text())
    tour = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "dbos_client_tour")
    called = {
        node.func.attr
        for node in ast.walk(tour)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "client"
    }
    assert {"enqueue", "get_event", "send", "read_stream"} <= called
    assert not [name for name in called if not hasattr(DBOSClient, name)], called
    anywhere = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "get_all_events" not in anywhere, "DBOS 3.4's DBOSClient has no get_all_events"
