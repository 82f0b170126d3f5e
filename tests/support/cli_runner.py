"""Running the ``wfc`` command line as a user would: the installed console script, as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def wfc_executable() -> str:
    """The ``wfc`` console script installed next to this interpreter (``pip install -e .``)."""
    beside = Path(sys.executable).parent / "wfc"
    found = str(beside) if beside.exists() else shutil.which("wfc")
    if found is None:
        pytest.fail("the wfc command is not installed: run `pip install -e .`")
    return found


def cli_env(**extra: str) -> dict[str, str]:
    """This environment without the client's own variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMM_URL", "COMM_API_KEY")}
    env.update(extra)
    return env


class Wfc:
    """Runs ``wfc --url <server> ...`` and returns the completed process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.exe = wfc_executable()

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, "--url", self.url, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(),
            check=False,
        )

    def json(self, *args: str, code: int = 0) -> Any:
        """Run with ``--json``; assert the exit code; parse stdout."""
        done = self(*args, "--json")
        assert done.returncode == code, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        return json.loads(done.stdout)

    def lines(self, *args: str) -> list[Any]:
        """Run with ``--json`` (JSON Lines output) and parse every line."""
        done = self(*args, "--json")
        assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
