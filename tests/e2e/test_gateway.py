"""Gateway mode: a separate DBOS application — its own code in a temp dir, its own name and queue —
shares the system database; this server starts its workflows by name, tails, messages, controls and finishes them
by id, and answers a clear 4xx for values it cannot decode."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from communication.client import Client
from tests.support.logged_process import LoggedProcess
from tests.support.server_proc import ServerProcess

#: The other application. It knows nothing of this project: plain DBOS, its own class, its own queue.
OTHER_APP = '''
import os
import signal
import threading

from dbos import DBOS, WorkflowSerializationFormat

PORTABLE = WorkflowSerializationFormat.PORTABLE
DBOS(config={
    "name": "other-app",
    "system_database_url": os.environ["OTHER_DB_URL"],
    "executor_id": "other-1",
    "notification_listener_polling_interval_sec": 0.01,
})


class Receipt:
    """A class only this application can import: pickled values of it cannot be decoded elsewhere."""

    def __init__(self, amount):
        self.amount = amount


def fake_model(prompt, max_tokens):
    """A deterministic stand-in for an LLM: echoes the prompt's words, then 'done'."""
    words = prompt.split()
    return [f"{w} " for w in words][:max_tokens] + ["done"]


@DBOS.step()
async def think(prompt, max_tokens):
    return fake_model(prompt, max_tokens)


@DBOS.workflow(name="agent_run", serialization_type=PORTABLE)
async def agent_run(prompt: str, max_tokens: int = 8) -> dict:
    tokens = await think(prompt, max_tokens)
    for token in tokens:
        await DBOS.write_stream_async("tokens", token)
    await DBOS.close_stream_async("tokens")
    await DBOS.set_event_async("status", "awaiting_feedback")
    feedback = await DBOS.recv_async("feedback", timeout_seconds=120)
    await DBOS.set_event_async("status", "done")
    return {"text": "".join(tokens), "feedback": feedback}


@DBOS.workflow(name="legacy_receipt")  # DBOS's default serialization: pickle
async def legacy_receipt(amount: int):
    await DBOS.set_event_async("receipt", Receipt(amount))
    await DBOS.write_stream_async("receipts", Receipt(amount))
    await DBOS.close_stream_async("receipts")
    return Receipt(amount)


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
DBOS.launch()
DBOS.register_queue("agents", polling_interval_sec=0.05)
print("READY", flush=True)
stop.wait()
DBOS.destroy(workflow_completion_timeout_sec=0)
'''


class OtherApp(LoggedProcess):
    """The other application as a subprocess; ready once it printed READY (after launch and queue registration)."""

    def __init__(self, database_url: str, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "other_app.py").write_text(OTHER_APP)
        super().__init__(
            [sys.executable, "other_app.py"], {"OTHER_DB_URL": database_url}, directory / "other_app.log", cwd=directory
        )
        self.wait_for("READY")


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, OtherApp]]:
    other = OtherApp(database_url, tmp_path / "other")
    try:
        # A pure gateway: none of its own workflow modules.
        env = {"COMM_WORKFLOWS": "", "COMM_GATEWAY_WORKFLOWS": "agents:agent_run,agents:legacy_receipt"}
        with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
            yield server, other
    finally:
        other.stop()


def _start(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/workflows", json=body, timeout=30)


def test_gateway_starts_tails_messages_and_finishes_another_apps_workflow(
    gateway: tuple[ServerProcess, OtherApp],
) -> None:
    server, _ = gateway
    body = {"type": "agent_run", "queue": "agents", "input": {"prompt": "hello durable world"}, "workflow_id": "g-1"}
    first = _start(server.url, body)
    assert first.status_code == 201, first.text
    assert first.json()["type"] == "agent_run" and first.json()["queue_name"] == "agents"
    again = _start(server.url, body)
    assert again.status_code == 200 and again.json()["workflow_id"] == "g-1"  # idempotent by workflow_id

    with Client(server.url) as client:
        tokens = [item.value for item in client.tail_stream("g-1", "tokens")]
        assert tokens == ["hello ", "durable ", "world ", "done"]
        assert client.get_event("g-1", "status", timeout=30).value == "awaiting_feedback"
        assert client.send("g-1", {"rating": 5}, topic="feedback", idempotency_key="fb-1").outcome == "delivered"
        assert client.send("g-1", {"rating": 5}, topic="feedback", idempotency_key="fb-1").outcome == "duplicate"
        outcome = client.result("g-1", timeout=60)
        assert outcome.status == "SUCCESS"
        assert outcome.output == {"text": "hello durable world done", "feedback": {"rating": 5}}
        info = client.status("g-1")
        assert info.executor_id == "other-1" and info.input == {"prompt": "hello durable world"}
        assert client.steps("g-1").steps[0].name.endswith("think")

    # Positional arguments, by name, through the Python client.
    with Client(server.url) as client:
        positional = client.start("agent_run", queue="agents", args=["a b c", 1])
        assert positional.created and positional.queue_name == "agents"
        wid = positional.workflow_id
        assert [i.value for i in client.tail_stream(wid, "tokens")] == ["a ", "done"]
        client.send(wid, "fine", topic="feedback")
        assert client.result(wid, timeout=60).output == {"text": "a done", "feedback": "fine"}


def test_gateway_cancels_resumes_and_forks_another_apps_workflow(gateway: tuple[ServerProcess, OtherApp]) -> None:
    server, _ = gateway
    assert _start(server.url, {"type": "agent_run", "queue": "agents", "input": {"prompt": "x"}, "workflow_id": "g-2"})
    with Client(server.url) as client:
        assert client.get_event("g-2", "status", timeout=30).value == "awaiting_feedback"
        assert client.cancel("g-2").status == "CANCELLED"
        client.resume("g-2")
        client.send("g-2", "after resume", topic="feedback", idempotency_key="r-1")
        outcome = client.result("g-2", timeout=60)
        assert outcome.status == "SUCCESS" and outcome.output["feedback"] == "after resume"
        fork = client.fork("g-2", 2)
        client.send(fork.workflow_id, "forked", topic="feedback")
        forked = client.result(fork.workflow_id, timeout=60)
        assert forked.status == "SUCCESS" and forked.output == {"text": "x done", "feedback": "forked"}


def test_values_another_app_pickled_answer_value_not_decodable(gateway: tuple[ServerProcess, OtherApp]) -> None:
    server, _ = gateway
    started = _start(server.url, {"type": "legacy_receipt", "queue": "agents", "args": [42], "workflow_id": "g-3"})
    assert started.status_code == 201, started.text
    done = httpx.get(f"{server.url}/v1/workflows/g-3/result", params={"timeout": 60}, timeout=90)
    # Finished (the long-poll returned), but its output is a pickled Receipt: a clear 422, not DBOS's stand-in text.
    assert done.status_code == 422, done.text
    assert done.json()["error"]["code"] == "value_not_decodable"
    details = done.json()["error"]["details"]
    assert details == {**details, "workflow_id": "g-3", "key": "output", "kind": "output"}
    assert httpx.get(f"{server.url}/v1/workflows/g-3", timeout=10).json()["status"] == "SUCCESS"
    everything = httpx.get(f"{server.url}/v1/workflows/g-3/events", timeout=30)
    assert everything.json()["events"]["receipt"]["error"]["code"] == "value_not_decodable"  # only that key
    for path in ("events/receipt", "streams/receipts"):
        r = httpx.get(f"{server.url}/v1/workflows/g-3/{path}", params={"timeout": 5}, timeout=30)
        assert r.status_code == 422, (path, r.text)
        error = r.json()["error"]
        assert error["code"] == "value_not_decodable"
        assert error["details"]["workflow_id"] == "g-3"
        assert error["details"]["key"] in ("receipt", "receipts")
        assert "portable JSON" in error["message"]
    # A live tail reports it in its terminal frame instead of a broken connection.
    with httpx.stream("GET", f"{server.url}/v1/workflows/g-3/streams/receipts/live", timeout=30) as live:
        text = "".join(live.iter_text())
    assert live.status_code == 200, text
    end = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    assert end[-1]["reason"] == "value_not_decodable" and end[-1]["next_offset"] == 0, text
    # Listing and status stay readable.
    assert httpx.get(f"{server.url}/v1/workflows/g-3", timeout=10).status_code == 200
    listed = httpx.get(f"{server.url}/v1/workflows", params={"type": "legacy_receipt"}, timeout=10).json()
    assert [w["workflow_id"] for w in listed["workflows"]] == ["g-3"]
    mine = httpx.get(f"{server.url}/v1/workflows", params={"application": "dbos-comm"}, timeout=10).json()
    assert mine["workflows"] == []  # the filter by owning application
    assert json.dumps(listed)  # serialisable: no pickled object leaked into the answer
