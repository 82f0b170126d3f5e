"""``example_client_lib.py`` end to end: run as a subprocess against a real server on the test's database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server_proc import ROOT, ServerProcess

pytestmark = pytest.mark.backend_independent


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


def test_example_tour_runs_clean_over_http_and_with_dbos_client(server: ServerProcess, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COMM_URL", "COMM_API_KEY", "COMM_WORK_QUEUE")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "example_client_lib.py"), server.url, database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}\nserver log:\n{server.log_tail()}"
    # 1. events + progress bar
    assert "status → completed" in out and "100%" in out and "total_fibonacci = 12" in out
    assert "all events: progress (v" in out and "result (v" in out and "status (v" in out
    # 2. approval by message
    assert "status: waiting_for_approval" in out and "approval message: delivered" in out
    assert "completed ('Approved by example_client_lib')" in out
    # 3. live stream tail: every offset, then the end
    for offset in range(8):
        assert f"  [{offset}] " in out
    assert "stream ended: closed, 8 values" in out
    # 4. request/reply, with a retried request answered once
    assert "(delivered); retried → {'ok': True, 'value': 42} (duplicate)" in out
    # 5-7. the same through DBOSClient
    assert "progress 100%, total_fibonacci = 12" in out
    assert "completed ('Approved through DBOSClient')" in out
    assert "stream ended after 8 values" in out
    assert "tour complete" in out
