"""Seed 000's own Python client (tests/support/seed_clients/monty_client.py), run unchanged as a subprocess against
a real ``python server.py``: httpx's default 5 s read timeout must survive sleeps longer than 5 s, and each quote must
print exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server_proc import ROOT, ServerProcess

pytestmark = pytest.mark.backend_independent

CLIENT = ROOT / "tests" / "support" / "seed_clients" / "monty_client.py"


def _run_seed_client(server: ServerProcess, timeout: float) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(CLIENT), server.url], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert proc.returncode == 0, f"seed client failed:\n{proc.stdout}\n{proc.stderr}\n{server.log_tail()}"
    return proc.stdout.splitlines()


def _check_three_quotes_then_completed(lines: list[str]) -> None:
    quotes = [line.split(": ", 1)[1] for line in lines if line.startswith("Quote ")]
    assert [line.split(":")[0] for line in lines if line.startswith("Quote ")] == ["Quote 1", "Quote 2", "Quote 3"]
    assert "Stop: signal sent" in lines
    result = json.loads(next(line for line in lines if line.startswith("Completed: ")).split(": ", 1)[1])
    assert result["final_status"] == "gracefully_terminated" and result["quotes"] == quotes
    assert any(" progress=" in line for line in lines), "progress frames arrived while sleeping"


def test_seed_monty_client_prints_three_quotes_and_stops_through_sleeps_longer_than_httpx_read_timeout(
    database_url: str, tmp_path: Path
) -> None:
    # 6 s sleeps: longer than httpx's 5 s default read timeout, so only the 0.5 s progress frames keep it alive.
    env = {"COMM_MONTY_MIN_SLEEP_SECONDS": "6", "COMM_MONTY_MAX_SLEEP_SECONDS": "6"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
        _check_three_quotes_then_completed(_run_seed_client(server, timeout=90))


@pytest.mark.skipif(not os.environ.get("RUN_SLOW"), reason="default 5-30 s sleeps take up to 95 s; set RUN_SLOW=1")
@pytest.mark.timeout(240)
def test_seed_monty_client_with_default_sleeps(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path) as server:
        _check_three_quotes_then_completed(_run_seed_client(server, timeout=200))
