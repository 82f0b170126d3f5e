"""A command run as a subprocess with its output in a log file: waited on by a line it prints, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.server_proc import ROOT


class LoggedProcess:
    """``args`` run in ``cwd`` with ``env`` added to this environment, stdout and stderr into ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, *, cwd: Path = ROOT) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Return once ``text`` is in the log; fail the test (with the log's tail) if the process ends first."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{text!r} never appeared:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)  # readiness polling of a subprocess, not test synchronisation

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
