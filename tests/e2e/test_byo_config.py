"""Workflows by configuration: a module outside the project, loaded with COMM_WORKFLOWS, served end to
end over HTTP, the Python client and ``wfc``; workers loading the same modules; mismatched versions reported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from communication.client import Client
from communication.client.errors import ValidationFailed
from tests.support.byo_support import python_path, write_module
from tests.support.cli_runner import Wfc
from tests.support.server_proc import ROOT, ServerProcess
from tests.support.worker_proc import WorkerProcess

pytestmark = pytest.mark.backend_independent


def byo_env(tmp_path: Path, workflows: str = "workflows,byo_flows", **extra: str) -> dict[str, str]:
    env = {"PYTHONPATH": python_path(write_module(tmp_path / "userland")), "COMM_WORKFLOWS": workflows}
    env.update(extra)
    return env


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path, env=byo_env(tmp_path)) as proc:
        yield proc


def test_module_outside_the_project_is_served_over_http_client_and_wfc(server: ServerProcess) -> None:
    # HTTP: the type and its schema from the signature.
    types = {t["type"]: t for t in httpx.get(f"{server.url}/v1/workflow-types").json()}
    schema = types["byo_summarize"]["input_schema"]
    assert schema["required"] == ["text"] and schema["properties"]["times"]["type"] == "integer"
    assert "events" in types  # the built-in types stay alongside

    # wfc: typed input; a bad one is refused with pydantic's errors.
    wfc = Wfc(server.url)
    started = wfc.json("start", "byo_summarize", "--input", '{"text": "hi", "times": 3}', "--workflow-id", "byo-1")
    assert started["workflow_id"] == "byo-1"
    bad = wfc("start", "byo_summarize", "--input", '{"times": "x"}', "--json")
    assert bad.returncode != 0 and "validation_error" in bad.stdout + bad.stderr

    # Client: tail the stream live, send the message, read the result.
    with Client(server.url) as client:
        tokens = [item.value for item in client.tail_stream("byo-1", "copies")]
        assert tokens == ["0:hi", "1:hi", "2:hi"]
        with pytest.raises(ValidationFailed) as info:
            client.start("byo_summarize", {"text": 5})
        assert info.value.details["type"] == "byo_summarize"
        assert client.send("byo-1", {"ok": True}, idempotency_key="approve-1").outcome == "delivered"
        outcome = client.result("byo-1", timeout=60)
    assert outcome.status == "SUCCESS"
    # configure(settings) ran before launch, with the server's settings.
    assert outcome.output == {"summary": "hi hi hi", "approval": {"ok": True}, "configured": "dbos-comm"}

    # wfc: stream follow and result of the finished workflow.
    assert [line["value"] for line in wfc.lines("stream", "byo-1", "copies", "--follow")] == ["0:hi", "1:hi", "2:hi"]
    assert wfc.json("result", "byo-1")["output"]["summary"] == "hi hi hi"


def _exit_of(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("worker", [False, True], ids=["server", "worker"])
def test_a_module_that_fails_to_import_stops_start_up_with_one_line_and_exit_2(
    tmp_path: Path, database_url: str, worker: bool
) -> None:
    broken = write_module(tmp_path / "broken", "broken_flows", "raise RuntimeError('bad config in module')\n")
    env = {
        "PYTHONPATH": python_path(broken),
        "COMM_WORKFLOWS": "workflows,broken_flows,no_such_module_here",
        "DBOS_SYSTEM_DATABASE_URL": database_url,
        "COMM_WORK_QUEUE": "work",
        "COMM_PORT": "0",
    }
    done = _exit_of(["server.py", *(["--worker"] if worker else [])], env)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "COMM_WORKFLOWS" in line]
    assert len(lines) == 2, done.stderr
    assert "cannot import workflow module 'broken_flows': RuntimeError: bad config in module" in lines[0]
    assert "cannot import workflow module 'no_such_module_here': ModuleNotFoundError" in lines[1]
    assert "Traceback" not in done.stderr


def _readyz(url: str) -> dict[str, object]:
    r = httpx.get(f"{url}/readyz", timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_worker_with_the_same_modules_runs_what_the_http_node_enqueues(database_url: str, tmp_path: Path) -> None:
    env = byo_env(tmp_path, COMM_WORK_QUEUE="work", COMM_QUEUE_POLLING_INTERVAL_SEC="0.05")
    with (
        ServerProcess(database_url, log_dir=tmp_path, env=env) as server,
        WorkerProcess(database_url, log_dir=tmp_path, env=byo_env(tmp_path)) as worker,
        Client(server.url) as client,
    ):
        client.start("byo_summarize", {"text": "w", "times": 1}, workflow_id="byo-w")
        assert [i.value for i in client.tail_stream("byo-w", "copies")] == ["0:w"]
        client.send("byo-w", "yes")
        outcome = client.result("byo-w", timeout=60)
        assert outcome.status == "SUCCESS" and outcome.output["approval"] == "yes"
        assert client.status("byo-w").executor_id == worker.executor_id
        assert "version_mismatch" not in str(_readyz(server.url))
        assert "version_mismatch" not in str(_readyz(worker.health_url))
        assert "APPLICATION VERSION MISMATCH" not in worker.log_tail() + server.log_tail()


def test_a_worker_started_after_its_own_work_was_queued_warns_nothing(database_url: str, tmp_path: Path) -> None:
    # Work of this code's version waits on the queue while no worker runs (a worker restart, a deploy gap); the
    # worker that then starts with the same code will run it: that is not a version mismatch.
    env = byo_env(tmp_path, COMM_WORK_QUEUE="work", COMM_VERSION_CHECK_SECONDS="0.01", COMM_LOG_LEVEL="info")
    worker_env = byo_env(tmp_path, COMM_VERSION_CHECK_SECONDS="0.01", COMM_VERSION_CHECK_CACHE_SECONDS="0")
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server, Client(server.url) as client:
        client.start("byo_summarize", {"text": "r", "times": 1}, workflow_id="byo-r")
        assert client.status("byo-r").status == "ENQUEUED"
        with WorkerProcess(database_url, log_dir=tmp_path, env=worker_env) as worker:
            assert "APPLICATION VERSION MISMATCH" not in worker.log_tail(20_000)
            assert [i.value for i in client.tail_stream("byo-r", "copies")] == ["0:r"]
            client.send("byo-r", "yes")
            assert client.result("byo-r", timeout=60).status == "SUCCESS"
            assert "version_mismatch" not in str(_readyz(worker.health_url))


def test_mismatched_modules_are_reported_at_start_and_in_readyz(database_url: str, tmp_path: Path) -> None:
    env = byo_env(
        tmp_path,
        COMM_WORK_QUEUE="work",
        COMM_VERSION_CHECK_CACHE_SECONDS="0",
        COMM_LOG_LEVEL="info",
    )
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server, Client(server.url) as client:
        client.start("byo_summarize", {"text": "m"}, workflow_id="byo-m")  # enqueued with the server's version
        # A worker without the user's module: another application version.
        other = byo_env(tmp_path, workflows="workflows", COMM_VERSION_CHECK_CACHE_SECONDS="0")
        with WorkerProcess(database_url, log_dir=tmp_path, env=other) as worker:
            assert "APPLICATION VERSION MISMATCH" in worker.log_tail()
            mismatch = _readyz(worker.health_url)["details"]["version_mismatch"]  # type: ignore[index]
            assert mismatch["enqueued_by_version"] and mismatch["this_version"] not in mismatch["enqueued_by_version"]
            assert any("will never run them" in p for p in mismatch["problems"])
            # The HTTP node sees that a later process registered another version.
            ready = _readyz(server.url)
            server_mismatch = ready["details"]["version_mismatch"]  # type: ignore[index]
            assert server_mismatch["this_version"] != mismatch["this_version"]
            assert mismatch["this_version"] in server_mismatch["problems"][0]
            assert ready["warnings"]
        assert client.status("byo-m").status == "ENQUEUED"  # it was never run by the mismatched worker
        # An HTTP node starting after the worker says so at start-up: the worker's version is the latest.
        server.restart()
        assert "APPLICATION VERSION MISMATCH" in server.log_tail(20_000)
