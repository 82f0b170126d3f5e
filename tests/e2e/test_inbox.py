"""Human input end to end, against a real ``python server.py --workflows tests.support.inbox_workflows``: a workflow
that asks is listed (also live), answered once through the CLI, the client and the signed link, survives a
``kill -9`` of the server while it waits, and the inbox also lists the requests of a second DBOS application on the
same database."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from communication.client import Client
from communication.client.errors import AlreadyAnswered, AnswerInvalid
from communication.core.security.webhooks import WebhookVerifier
from communication.core.settings import Settings
from tests.support.byo_support import python_path
from tests.support.cli_runner import Wfc
from tests.support.inbox_workflows import ASK_TOPIC
from tests.support.server_proc import ROOT, ServerProcess

SECRET = "inbox-e2e-secret-0123456789abcdef"
VALID = {"approved": True, "amount": 40, "priority": "high", "note": "ok"}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "COMM_WORKFLOWS": "tests.support.inbox_workflows",
        "COMM_SERVER_SECRET": SECRET,
        "COMM_INBOX_POLL_SECONDS": "0.1",
        "PYTHONPATH": python_path(ROOT),
    }
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        yield proc


def _start(url: str, workflow_id: str, **inputs: Any) -> None:
    r = httpx.post(f"{url}/v1/workflows", json={"type": "inbox_ask", "input": inputs, "workflow_id": workflow_id})
    assert r.status_code == 201, r.text


def live_until(url: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> list[dict[str, Any]]:
    """Read ``GET /v1/inbox/live`` until a snapshot satisfies ``done``; return that snapshot's requests."""
    with httpx.stream("GET", f"{url}/v1/inbox/live", timeout=httpx.Timeout(10, read=timeout)) as live:
        for line in live.iter_lines():
            if line.startswith("data: "):
                requests: list[dict[str, Any]] = json.loads(line[6:])["requests"]
                if done(requests):
                    return requests
    pytest.fail("the live inbox ended before the expected state")


def _has(workflow_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda requests: any(r["workflow_id"] == workflow_id for r in requests)


def _lacks(workflow_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda requests: not any(r["workflow_id"] == workflow_id for r in requests)


def test_listed_answered_once_from_cli_and_client_and_gone_from_the_inbox(server: ServerProcess) -> None:
    _start(server.url, "e2e-cli", assignees=["ana"])
    _start(server.url, "e2e-client", assignees=["bob"])
    live_until(server.url, lambda rs: _has("e2e-cli")(rs) and _has("e2e-client")(rs))
    wfc = Wfc(server.url)
    listed = wfc.json("inbox", "--assignee", "ana")["requests"]
    assert [r["workflow_id"] for r in listed] == ["e2e-cli"] and listed[0]["workflow_name"] == "inbox_ask"
    assert wfc.json("answer", "e2e-cli", ASK_TOPIC, json.dumps(VALID))["outcome"] == "delivered"
    second = wfc("answer", "e2e-cli", ASK_TOPIC, json.dumps(VALID))
    assert second.returncode == 6 and "already" in second.stderr + second.stdout
    invalid = wfc("answer", "e2e-client", ASK_TOPIC, '{"approved": "maybe"}')
    assert invalid.returncode == 2, invalid.stderr
    with Client(server.url) as client:
        with pytest.raises(AnswerInvalid) as refused:
            client.answer("e2e-client", ASK_TOPIC, {"approved": True, "amount": -5})
        assert refused.value.details["errors"][0]["loc"] == ["amount"]
        assert client.answer("e2e-client", ASK_TOPIC, {**VALID, "amount": 7}).outcome == "delivered"
        with pytest.raises(AlreadyAnswered):
            client.answer("e2e-client", ASK_TOPIC, VALID)
        assert client.result("e2e-cli", timeout=60).output == {"answered": VALID}
        assert client.result("e2e-client", timeout=60).output == {"answered": {**VALID, "amount": 7}}
        assert {r.workflow_id for r in client.inbox(status="answered").requests} == {"e2e-cli", "e2e-client"}
    live_until(server.url, lambda rs: _lacks("e2e-cli")(rs) and _lacks("e2e-client")(rs))


def test_the_signed_link_answers_and_the_api_then_gets_already_answered(server: ServerProcess) -> None:
    _start(server.url, "e2e-link", prompt="Refund order 11?")
    (item,) = [r for r in live_until(server.url, _has("e2e-link")) if r["workflow_id"] == "e2e-link"]
    page = httpx.get(server.url + item["links"]["signed"], timeout=30)
    assert page.status_code == 200 and "Refund order 11?" in page.text
    form = {"approved": "false", "amount": "0", "priority": '"low"', "note": ""}
    done = httpx.post(server.url + item["links"]["signed"], data=form, timeout=30)
    assert done.status_code == 200 and "recorded" in done.text
    r = httpx.post(server.url + item["links"]["answer"], json=VALID, timeout=30)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_answered"
    with Client(server.url) as client:
        assert client.result("e2e-link", timeout=60).output == {
            "answered": {"approved": False, "amount": 0, "priority": "low", "note": ""}
        }


def test_a_request_survives_a_kill_of_the_server_listed_once_and_answered_after_restart(
    server: ServerProcess,
) -> None:
    _start(server.url, "e2e-crash", timeout_seconds=600)
    before = [r for r in live_until(server.url, _has("e2e-crash")) if r["workflow_id"] == "e2e-crash"]
    server.stop(graceful=False)  # SIGKILL while the workflow waits in recv
    server.start()
    after = [r for r in live_until(server.url, _has("e2e-crash")) if r["workflow_id"] == "e2e-crash"]
    assert len(after) == 1 and after[0]["seq"] == before[0]["seq"] and after[0]["deadline"] == before[0]["deadline"]
    with Client(server.url) as client:
        assert client.answer("e2e-crash", ASK_TOPIC, VALID).outcome == "delivered"
        assert client.result("e2e-crash", timeout=90).output == {"answered": VALID}
    assert httpx.get(f"{server.url}/v1/inbox", timeout=30).json()["requests"] == []


def test_a_timeout_runs_the_timeout_branch_and_a_cancel_removes_the_request(server: ServerProcess) -> None:
    _start(server.url, "e2e-late", timeout_seconds=1)
    _start(server.url, "e2e-cancel")
    with Client(server.url) as client:
        assert "timeout" in client.result("e2e-late", timeout=60).output
        live_until(server.url, _has("e2e-cancel"))
        client.cancel("e2e-cancel")
    live_until(server.url, _lacks("e2e-cancel"))
    cancelled = httpx.get(f"{server.url}/v1/inbox", params={"status": "cancelled"}, timeout=30).json()["requests"]
    assert [r["workflow_id"] for r in cancelled] == ["e2e-cancel"]


#: A second DBOS application: its own name and code, asking through the kit on the same database.
OTHER_APP = """
import os
import signal
import threading

from dbos import DBOS, SetWorkflowID, WorkflowSerializationFormat
from pydantic import BaseModel

from communication.kit import Timeout, ask

DBOS(config={
    "name": "billing-app",
    "system_database_url": os.environ["OTHER_DB_URL"],
    "executor_id": "billing-1",
    "notification_listener_polling_interval_sec": 0.01,
})


class Approval(BaseModel):
    approved: bool


@DBOS.workflow(name="billing_review", serialization_type=WorkflowSerializationFormat.PORTABLE)
async def billing_review() -> dict:
    answer = await ask("approval", Approval, prompt="Pay invoice 5?", timeout_seconds=300, assignees=["finance"])
    return {"timeout": True} if isinstance(answer, Timeout) else {"approved": answer.approved}


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
DBOS.launch()
with SetWorkflowID("billing-1-review"):
    DBOS.start_workflow(billing_review)  # an async workflow: DBOS runs it on its own event loop thread
print("READY", flush=True)
stop.wait()
DBOS.destroy(workflow_completion_timeout_sec=0)
"""


@pytest.fixture
def other_app(database_url: str, tmp_path: Path, server: ServerProcess) -> Iterator[subprocess.Popen[bytes]]:
    directory = tmp_path / "other"
    directory.mkdir()
    (directory / "billing_app.py").write_text(OTHER_APP)
    log_path = directory / "billing.log"
    env = {
        **os.environ,
        "OTHER_DB_URL": database_url,
        "COMM_SERVER_SECRET": SECRET,
        "PYTHONPATH": python_path(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "billing_app.py"], cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while "READY" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the billing application did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)  # readiness polling of a subprocess, not test synchronisation
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_the_inbox_lists_and_answers_requests_of_another_application(
    server: ServerProcess, other_app: subprocess.Popen[bytes]
) -> None:
    requests = live_until(server.url, _has("billing-1-review"))
    (item,) = [r for r in requests if r["workflow_id"] == "billing-1-review"]
    assert item["application"] == "billing-app" and item["workflow_name"] == "billing_review"
    assert item["prompt"] == "Pay invoice 5?" and item["assignees"] == ["finance"]
    assert item["schema"]["properties"]["approved"]["type"] == "boolean"
    mine = httpx.get(f"{server.url}/v1/inbox", params={"application": "billing-app"}, timeout=30).json()["requests"]
    assert [r["workflow_id"] for r in mine] == ["billing-1-review"]
    page = httpx.get(server.url + item["links"]["signed"], timeout=30)  # minted by the other app, same secret
    assert page.status_code == 200 and "Pay invoice 5?" in page.text
    with Client(server.url) as client:
        assert client.answer("billing-1-review", "approval", {"approved": True}).outcome == "delivered"
        assert client.result("billing-1-review", timeout=60).output == {"approved": True}


def test_the_refund_example_escalates_to_a_manager_after_a_timeout(database_url: str, tmp_path: Path) -> None:
    env = {"COMM_WORKFLOWS": "examples.approvals", "COMM_INBOX_POLL_SECONDS": "0.1"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
        body = {"order_id": "A-42", "amount": 120, "first_wait_seconds": 1, "manager_wait_seconds": 300}
        r = httpx.post(f"{server.url}/v1/workflows", json={"type": "refund", "input": body, "workflow_id": "rf-1"})
        assert r.status_code == 201, r.text
        requests = live_until(server.url, lambda rs: any(r["assignees"] == ["manager"] for r in rs))
        (item,) = requests
        assert item["prompt"] == "Escalated: Refund 120.00 for order A-42?" and item["topic"] == "refund"
        with Client(server.url) as client:
            assert client.answer("rf-1", "refund", {"approved": True, "amount": 100}).outcome == "delivered"
            output = client.result("rf-1", timeout=60).output
        assert output["outcome"] == "refunded" and output["receipt"] == "refunded 100.00 for order A-42"
        every = httpx.get(f"{server.url}/v1/inbox", params={"status": "all"}, timeout=30).json()["requests"]
        assert [r["status"] for r in every] == ["answered"]  # one event per topic: the latest request


class _Receiver:
    """A webhook receiver on a free port that records every delivery (headers with lower-case names, body)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.arrived:
                    outer.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout), self.deliveries
            return list(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_configured_webhook_hears_when_a_request_opens_and_expires_signed(database_url: str, tmp_path: Path) -> None:
    secret = "whsec_aW5ib3gtd2ViaG9vay1zZWNyZXQ="
    receiver = _Receiver()
    env = {
        "COMM_WORKFLOWS": "tests.support.inbox_workflows",
        "COMM_INBOX_WEBHOOK_URL": receiver.url,
        "COMM_INBOX_WEBHOOK_SECRET": secret,
    }
    try:
        with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
            _start(server.url, "e2e-hook", timeout_seconds=1, assignees=["ana"])
            with Client(server.url) as client:
                assert "timeout" in client.result("e2e-hook", timeout=60).output
            deliveries = receiver.wait_for(2)
    finally:
        receiver.close()
    verifier = WebhookVerifier(Settings(webhook_secrets_standard=[secret]))
    kinds = []
    for headers, body in deliveries:
        verified = verifier.verify("standard", headers, body)
        payload = json.loads(body)
        assert verified.signed_id == f"e2e-hook:{ASK_TOPIC}:{payload['data']['seq']}:{payload['type']}"
        assert payload["data"]["workflow_id"] == "e2e-hook" and payload["data"]["assignees"] == ["ana"]
        kinds.append(payload["type"])
    assert kinds == ["request.opened", "request.expired"]
