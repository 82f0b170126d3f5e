"""The ``dbos`` CLI inspects workflows that the server ran, through ``-s <database url>``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.inprocess import app_client, result, start


def _dbos(*args: str) -> str:
    exe = shutil.which("dbos") or str(Path(sys.executable).with_name("dbos"))
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_dbos_cli_lists_gets_and_shows_steps_of_server_workflows(database_url: str) -> None:
    with app_client(database_url) as client:
        start(client, "events", "cli-events", n_steps=2)
        result(client, "cli-events")
    listed = json.loads(_dbos("workflow", "list", "-s", database_url))
    assert "cli-events" in {w["workflow_id"] for w in listed}
    got = json.loads(_dbos("workflow", "get", "cli-events", "-s", database_url))
    assert got["status"] == "SUCCESS" and got["name"] == "events"
    steps = json.loads(_dbos("workflow", "steps", "cli-events", "-s", database_url))
    assert [s["function_name"] for s in steps].count("compute_fibonacci") == 2
