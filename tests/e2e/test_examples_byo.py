"""The bring-your-own-workflows examples run as their docstrings and README document them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from communication.client import Client
from tests.support.byo_support import python_path
from tests.support.logged_process import LoggedProcess
from tests.support.server_proc import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.backend_independent

EXAMPLES = ROOT / "examples"


def test_workflows_module_example_served_by_configuration(database_url: str, tmp_path: Path) -> None:
    env = {"PYTHONPATH": python_path(EXAMPLES), "COMM_WORKFLOWS": "workflows,summarize_flows"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server, Client(server.url) as client:
        client.start("summarize", {"text": "durable", "times": 3, "style": {"upper": True}}, workflow_id="s-1")
        assert [i.value for i in client.tail_stream("s-1", "words")] == ["DURABLE"] * 3
        assert client.get_event("s-1", "status", timeout=30).value == "awaiting_review"
        client.send("s-1", "looks good")
        assert client.result("s-1", timeout=60).output == {"summary": "DURABLE DURABLE DURABLE", "review": "looks good"}


@pytest.fixture
def mounted_app(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {"DBOS_SYSTEM_DATABASE_URL": database_url, "PYTHONPATH": python_path(EXAMPLES), "PORT": str(port)}
    app = LoggedProcess([sys.executable, "examples/mounted_app.py"], env, tmp_path / "mounted.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/comm/v1/workflow-types", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if app.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mounted app did not start:\n{app.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)  # readiness polling of a subprocess, not test synchronisation
        yield url
    finally:
        app.stop()


def test_mounted_app_example_serves_its_routes_and_the_api(mounted_app: str) -> None:
    assert httpx.get(f"{mounted_app}/hello", timeout=5).json() == {"hello": "world"}
    assert httpx.get(f"{mounted_app}/comm/ui/", timeout=5).status_code == 200  # the dashboard, mounted too
    with Client(f"{mounted_app}/comm") as client:
        client.start("summarize", {"text": "m", "times": 2}, workflow_id="mounted-1")
        assert [i.value for i in client.tail_stream("mounted-1", "words")] == ["m", "m"]
        client.send("mounted-1", "ok")
        assert client.result("mounted-1", timeout=60).output == {"summary": "m m", "review": "ok"}


def test_agent_gateway_example_streams_tokens_through_the_gateway(database_url: str, tmp_path: Path) -> None:
    agent = LoggedProcess(
        [sys.executable, "examples/agent_gateway/agent_app.py"],
        {"DBOS_SYSTEM_DATABASE_URL": database_url},
        tmp_path / "agent.log",
    )
    try:
        agent.wait_for("agent-app ready")
        env = {"COMM_WORKFLOWS": "", "COMM_GATEWAY_WORKFLOWS": "agents:agent_run"}
        with ServerProcess(database_url, log_dir=tmp_path, env=env) as gateway:
            ask = subprocess.run(
                [sys.executable, "examples/agent_gateway/ask.py", "--url", gateway.url, "one two three"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    finally:
        agent.stop()
    assert ask.returncode == 0, ask.stdout + ask.stderr
    lines = ask.stdout.splitlines()
    assert lines[1] == "three two one <end>"
    assert lines[2] == "result SUCCESS: {'answer': 'three two one', 'feedback': {'helpful': True}}"
