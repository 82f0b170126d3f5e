"""A real ``python server.py`` ends its SSE tails on its own shutdown signal, long before the shutdown grace runs
out, and without a terminal event (clients reconnect and resume elsewhere)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.support.server_proc import ServerProcess

GRACE_SECONDS = 60  # uvicorn would hold an open tail this long if the tail did not end by itself


def test_an_sse_tail_ends_promptly_when_the_server_receives_sigterm(database_url: str, tmp_path: Path) -> None:
    env = {"COMM_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
        posted = httpx.post(f"{server.url}/v1/sessions/s1/events", json={"type": "progress", "data": 1}, timeout=30)
        assert posted.status_code == 202, posted.text
        timeout = httpx.Timeout(10, read=GRACE_SECONDS / 2)  # a tail still open then fails the test
        with httpx.stream("GET", f"{server.url}/v1/sessions/s1/live", timeout=timeout) as tail:
            lines = tail.iter_lines()
            assert any(line.startswith("data:") for line in lines)  # stops at the first value
            assert server.pid is not None
            signalled = time.monotonic()
            os.kill(server.pid, signal.SIGTERM)
            rest = list(lines)  # until the server ends the response
            ended_after = time.monotonic() - signalled
        assert ended_after < GRACE_SECONDS / 4, ended_after
        assert not any(line.startswith("event: end") for line in rest), rest
