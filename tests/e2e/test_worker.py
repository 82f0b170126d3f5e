"""Worker processes, the work queue, graceful shutdown, recovery of a dead executor, and start-up validation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dbos import DBOS

import server
from communication.core.ops.config_check import ConfigError, check_database_url, check_settings, load_settings, mask_url
from communication.core.settings import Settings
from communication.http.shutdown import begin_shutdown
from tests.support.inprocess import app_client, result, start, wait_event
from tests.support.server_proc import ROOT, ServerProcess, free_port
from tests.support.worker_proc import WorkerProcess, wait_ready

# The test process registers test-only workflow types, so its computed DBOS application version differs from a
# subprocess's: both sides pin one, as a real deployment pins it during a rolling upgrade.
VERSION = "test-worker-v1"
QUEUE = {"work_queue": "work", "app_version": VERSION, "queue_polling_interval_sec": 0.05}
WORKER_ENV = {"COMM_APP_VERSION": VERSION, "COMM_SHUTDOWN_GRACE_SECONDS": "3"}


# --- configuration ---------------------------------------------------------------------------------------------


def test_mask_url_hides_passwords_and_secret_parameters() -> None:
    url = "postgresql://app:s3cr%40t@db.example:5432/comm?sslmode=verify-full&sslpassword=hunter2&application_name=x"
    masked = mask_url(url)
    assert "s3cr" not in masked and "hunter2" not in masked
    assert masked.startswith("postgresql://app:***@db.example:5432/comm?")
    assert "sslmode=verify-full" in masked and "sslpassword=***" in masked and "application_name=x" in masked
    assert mask_url("postgresql://app@db/comm") == "postgresql://app@db/comm"
    assert mask_url("sqlite:///data/x.sqlite") == "sqlite:///data/x.sqlite"


def test_tls_parameters_are_validated(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "client.pem", "client.key"))
    for f in (ca, cert, key):
        f.write_text("-----BEGIN-----\n")
    good = f"postgresql://u@h:5432/d?sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"
    assert check_database_url(good) == []
    assert check_database_url("postgresql://u@h/d?sslrootcert=system&sslmode=verify-full") == []

    def messages(url: str) -> list[str]:
        problems = check_database_url(url)
        assert all(p.setting.startswith("DBOS_SYSTEM_DATABASE_URL") for p in problems)
        return [p.message for p in problems]

    assert "sslmode 'strict' is not one of" in messages("postgresql://u@h/d?sslmode=strict")[0]
    assert "does not exist" in messages(f"postgresql://u@h/d?sslrootcert={tmp_path / 'missing.pem'}")[0]
    assert "together" in messages(f"postgresql://u@h/d?sslcert={cert}")[0]
    assert "SQLite" in messages(f"sqlite:///{tmp_path}/x.sqlite?sslmode=require")[0]
    assert "no database" in messages("postgresql://u@h:5432")[0]


def test_worker_mode_needs_a_queue_and_errors_name_the_setting(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite")
    with pytest.raises(ConfigError, match="COMM_WORK_QUEUE: must be set in worker mode"):
        check_settings(settings, mode="worker")
    check_settings(settings, mode="server")
    with pytest.raises(ConfigError, match="COMM_EXECUTE_QUEUE_IN_HTTP"):
        check_settings(Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite", execute_queue_in_http=True))


def test_load_settings_reports_every_bad_variable_without_echoing_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMM_PORT", "70000")
    monkeypatch.setenv("COMM_WORKER_CONCURRENCY", "zero")
    monkeypatch.setenv("DBOS_SYSTEM_DATABASE_URL", "mysql://root:topsecret@h/d")
    with pytest.raises(ConfigError) as info:
        load_settings()
    settings = {p.setting for p in info.value.problems}
    assert {"COMM_PORT", "COMM_WORKER_CONCURRENCY", "DBOS_SYSTEM_DATABASE_URL (or COMM_DATABASE_URL)"} <= settings
    assert "topsecret" not in str(info.value)


@pytest.mark.parametrize("command", [["server.py"], ["-m", "communication.node.worker"]])
def test_invalid_configuration_exits_2_with_one_line_per_problem(command: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, DBOS_SYSTEM_DATABASE_URL="postgresql://u:pw@127.0.0.1:1/d?sslmode=sometimes")
    env.pop("COMM_WORK_QUEUE", None)
    proc = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "DBOS_SYSTEM_DATABASE_URL (or COMM_DATABASE_URL): sslmode 'sometimes' is not one of" in proc.stderr
    assert "pw@" not in proc.stderr


def test_server_main_dispatches_worker_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        server.main(["--worker", "--help"])
    assert info.value.code == 0 and "--recover EXECUTOR_ID" in capsys.readouterr().out


# --- the work queue in one process -------------------------------------------------------------------------------


def test_http_node_can_enqueue_and_execute_its_own_queue_with_limits(database_url: str) -> None:
    with app_client(database_url, execute_queue_in_http=True, worker_concurrency=2, global_concurrency=5, **QUEUE) as c:
        info = start(c, "events", "q-1", n_steps=2)
        assert info["queue_name"] == "work"
        assert result(c, "q-1")["status"] == "SUCCESS"
        queue = DBOS.retrieve_queue("work")
        assert queue is not None
        assert (queue.worker_concurrency, queue.concurrency) == (2, 5)


def test_readyz_turns_503_as_soon_as_shutdown_begins(database_url: str) -> None:
    with app_client(database_url) as client:
        assert client.get("/readyz").status_code == 200
        begin_shutdown(client.app, 0.5)  # type: ignore[arg-type]
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["details"]["reason"] == "shutting_down"
        assert client.get("/healthz").status_code == 200


# --- worker processes --------------------------------------------------------------------------------------------


def test_worker_runs_enqueued_workflows_shuts_down_gracefully_and_recovers(database_url: str, tmp_path: Path) -> None:
    worker = WorkerProcess(database_url, log_dir=tmp_path, executor_id="worker-1", env=WORKER_ENV)
    with app_client(database_url, **QUEUE) as client, worker:
        start(client, "events", "w-short", n_steps=3, step_delay_seconds=0.3)
        start(client, "messaging", "w-long", n_steps=1)
        wait_event(client, "w-short", "status", "processing_step_1")
        wait_event(client, "w-long", "status", "waiting_for_approval")
        assert client.get("/v1/workflows/w-long").json()["executor_id"] == "worker-1"
        assert 'comm_workflows_finished_total{status="SUCCESS",type="events"}' not in worker.metrics()

        assert worker.terminate() == 0, worker.log_tail()  # SIGTERM: exit 0 after the grace
        # The short workflow finished within the grace; the one waiting for approval was left for recovery.
        assert client.get("/v1/workflows/w-short").json()["status"] == "SUCCESS"
        assert client.get("/v1/workflows/w-long").json()["status"] == "PENDING"
        sent = client.post("/v1/workflows/w-long/messages", json={"message": {"approved": True, "message": "ok"}})
        assert sent.json()["outcome"] == "delivered"  # stored durably while no process runs the workflow

        worker.start()  # same executor id: DBOS recovers its pending workflow at launch
        body = result(client, "w-long")
        assert body["status"] == "SUCCESS" and body["output"]["approval_message"] == "ok"
        assert 'comm_workflows_finished_total{status="SUCCESS",type="messaging"} 1.0' in worker.metrics()


def test_workflows_of_a_dead_executor_are_recovered_by_another_process(database_url: str, tmp_path: Path) -> None:
    worker = WorkerProcess(database_url, log_dir=tmp_path, executor_id="dead-1", env=WORKER_ENV)
    with app_client(database_url, **QUEUE) as client, worker:
        start(client, "messaging", "d-1", n_steps=1)
        wait_event(client, "d-1", "status", "waiting_for_approval")
        assert client.get("/v1/workflows/d-1").json()["executor_id"] == "dead-1"
        worker.kill()  # the node never comes back
    with app_client(database_url, execute_queue_in_http=True, **QUEUE) as client:
        own = client.post("/v1/admin/recover", json={"executor_ids": ["local"]})
        assert own.status_code == 422 and own.json()["error"]["code"] == "validation_error"
        recovered = client.post("/v1/admin/recover", json={"executor_ids": ["dead-1", "nobody"]})
        assert recovered.status_code == 200 and recovered.json()["recovered"] == ["d-1"]
        client.post("/v1/workflows/d-1/messages", json={"message": {"approved": True, "message": "adopted"}})
        body = result(client, "d-1")
        assert body["status"] == "SUCCESS" and body["output"]["approval_message"] == "adopted"
        assert client.get("/v1/workflows/d-1").json()["executor_id"] == "local"
        again = client.post("/v1/admin/recover", json={"executor_ids": ["dead-1"]}).json()
        assert again["recovered"] == []  # idempotent: nothing of dead-1 is pending any more


def test_server_exits_0_on_sigterm_after_finishing_in_flight_work(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        DBOS_SYSTEM_DATABASE_URL=database_url,
        COMM_HOST="127.0.0.1",
        COMM_PORT=str(port),
        COMM_SHUTDOWN_GRACE_SECONDS="5",
        COMM_LOG_LEVEL="warning",
    )
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, tmp_path / "server.log")
        body = {"type": "events", "input": {"n_steps": 3, "step_delay_seconds": 0.3}, "workflow_id": "s-1"}
        assert httpx.post(f"{url}/v1/workflows", json=body, timeout=60).status_code == 201
        httpx.get(f"{url}/v1/workflows/s-1/events/status", params={"timeout": 10}, timeout=60).raise_for_status()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "server.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
    with ServerProcess(database_url, log_dir=tmp_path) as again:
        assert httpx.get(f"{again.url}/v1/workflows/s-1", timeout=60).json()["status"] == "SUCCESS"


def test_ctrl_c_ends_the_server_at_once_while_a_workflow_waits_and_the_workflow_resumes(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        DBOS_SYSTEM_DATABASE_URL=database_url,
        COMM_HOST="127.0.0.1",
        COMM_PORT=str(port),
        COMM_SHUTDOWN_GRACE_SECONDS="60",  # what SIGTERM would wait; Ctrl-C uses COMM_INTERRUPT_GRACE_SECONDS (1)
        COMM_LOG_LEVEL="warning",
    )
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, tmp_path / "server.log")
        body = {"type": "messaging", "input": {"n_steps": 1}, "workflow_id": "ctrl-c"}
        assert httpx.post(f"{url}/v1/workflows", json=body, timeout=60).status_code == 201
        httpx.get(f"{url}/v1/workflows/ctrl-c/events/status", params={"timeout": 10}, timeout=60).raise_for_status()
        proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        assert proc.wait(timeout=30) == 0, (tmp_path / "server.log").read_text()
        # Far below the 60 s SIGTERM grace; generous against a loaded machine (the grace itself is 1 s).
        assert time.monotonic() - began < 10, (tmp_path / "server.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
    with ServerProcess(database_url, log_dir=tmp_path) as again, httpx.Client(base_url=again.url, timeout=60) as http:
        assert http.post(
            "/v1/workflows/ctrl-c/messages", json={"topic": "notification", "message": {"approved": True}}
        ).status_code in (200, 202)
        done = http.get("/v1/workflows/ctrl-c/result", params={"timeout": 30}).json()
        assert done["status"] == "SUCCESS", done
