"""``python server.py`` / ``wfc serve`` command line: flags, the configuration order, usage errors, worker mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from communication.core.ops.config_check import load_settings
from communication.node.entry import build_parser, overrides_of
from tests.support.server_proc import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.backend_independent

SERVER = str(ROOT / "server.py")
WFC = str(Path(sys.executable).with_name("wfc"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMM_") and k != "DBOS_SYSTEM_DATABASE_URL"}
    env.update({"PYTHONUNBUFFERED": "1", **extra})
    return env


def test_help_prints_every_option_and_exits_0_without_serving(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, SERVER, "--help"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("--host", "--port", "--reload", "--log-level", "--worker", "--workflows", "--env-file"):
        assert option in proc.stdout
    assert not (tmp_path / "data").exists(), "--help must not start anything"


def test_unknown_flag_exits_2_with_usage(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, SERVER, "--prot", "18299"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python server.py") and "unrecognized arguments: --prot" in proc.stderr


def test_wfc_serve_takes_exactly_the_options_of_server_py(tmp_path: Path) -> None:
    ours = subprocess.run([WFC, "serve", "--help"], env=_env(), capture_output=True, text=True, timeout=60)
    theirs = subprocess.run([sys.executable, SERVER, "--help"], env=_env(), capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0
    assert ours.stdout.replace("wfc serve", "python server.py").split() == theirs.stdout.split()
    bad = subprocess.run([WFC, "serve", "--nope"], env=_env(), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unrecognized arguments: --nope" in bad.stderr


def test_flags_override_environment_which_overrides_dotenv_which_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("COMM_HOST=10.0.0.1\nCOMM_PORT=1111\nCOMM_LOG_LEVEL=debug\nCOMM_APP_NAME=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    for name in ("COMM_HOST", "COMM_PORT", "COMM_LOG_LEVEL", "COMM_APP_NAME", "COMM_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMM_PORT", "2222")
    monkeypatch.setenv("COMM_LOG_LEVEL", "error")
    args = build_parser().parse_args(["--log-level", "warning", "--workflows", "workflows,bench.workflows"])
    settings = load_settings(overrides_of(args))
    assert settings.log_level == "warning"  # flag > environment
    assert settings.port == 2222  # environment > .env
    assert settings.host == "10.0.0.1" and settings.app_name == "from-dotenv"  # .env > default
    assert settings.data_dir == Path("data")  # default
    assert settings.workflows == ["workflows", "bench.workflows"]
    other = tmp_path / "other.env"
    other.write_text("COMM_HOST=10.0.0.2\n")
    assert load_settings({}, env_file=other).host == "10.0.0.2"  # --env-file replaces ./.env


def test_server_reads_dotenv_in_its_working_directory_and_flags_win(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(
        f"DBOS_SYSTEM_DATABASE_URL=sqlite:///{tmp_path / 'from-dotenv.sqlite'}\nCOMM_PORT=1\nCOMM_HOST=127.0.0.1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", str(port), "--workflows", "workflows", "--log-level", "warning"],
        cwd=tmp_path,
        env=_env(COMM_SHUTDOWN_GRACE_SECONDS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx.Client(timeout=2.0) as http:
            for _ in range(600):  # readiness polling of a subprocess, bounded
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                try:
                    if http.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)  # readiness polling of a subprocess, not test synchronisation
            else:
                pytest.fail("server never became ready")
        assert (tmp_path / "from-dotenv.sqlite").exists(), "the database URL came from .env"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_workflows_flag_naming_a_missing_module_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, SERVER, "--workflows", "workflows,no_such_module_xyz"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot import workflow module 'no_such_module_xyz'" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_flag_runs_a_worker_with_the_same_options(tmp_path: Path) -> None:
    env_file = tmp_path / "worker.env"
    env_file.write_text(f"DBOS_SYSTEM_DATABASE_URL=sqlite:///{tmp_path / 'w.sqlite'}\nCOMM_WORK_QUEUE=work\n")
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--worker", "--env-file", str(env_file), "--log-level", "info"],
        cwd=tmp_path,
        env=_env(COMM_SHUTDOWN_GRACE_SECONDS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # bounded by the test timeout; the worker logs this once it runs
            if "executing queue 'work'" in line:
                break
        else:
            pytest.fail("worker exited before running")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_reload_serves_through_a_reloading_child_with_the_flags(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--reload", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env=_env(DBOS_SYSTEM_DATABASE_URL=f"sqlite:///{tmp_path / 'r.sqlite'}", COMM_SHUTDOWN_GRACE_SECONDS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx.Client(timeout=2.0) as http:
            for _ in range(600):  # readiness polling of a subprocess, bounded
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                try:
                    if http.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)  # readiness polling of a subprocess, not test synchronisation
            else:
                pytest.fail("--reload server never became ready")
            assert http.get(f"http://127.0.0.1:{port}/v1/workflow-types").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_an_invalid_compat_setting_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, SERVER],
        cwd=tmp_path,
        env=_env(COMM_MONTY_MIN_SLEEP_SECONDS="soon"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "COMM_MONTY_MIN_SLEEP_SECONDS" in proc.stderr and "Traceback" not in proc.stderr


def test_comm_compat_false_serves_no_seed_path(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env={"COMM_COMPAT": "false"}) as server:
        assert httpx.get(f"{server.url}/workflow-stream/x", timeout=30).status_code == 404
        assert httpx.post(f"{server.url}/events/s1", json={"type": "x"}, timeout=30).status_code == 404
        assert httpx.get(f"{server.url}/v1/workflow-types", timeout=30).status_code == 200
