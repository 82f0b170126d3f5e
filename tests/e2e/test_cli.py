"""The installed ``wfc`` command, run as a subprocess against a real ``python server.py`` subprocess."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from communication.client import Client
from tests.support.cli_runner import Wfc, cli_env, wfc_executable
from tests.support.server_proc import (
    ServerProcess,
    free_port,
)

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


@pytest.fixture
def wfc(server: ServerProcess) -> Wfc:
    return Wfc(server.url)


def test_start_status_list_result_types_steps_fork_with_json_output(wfc: Wfc) -> None:
    types = {t["type"] for t in wfc.json("types")}
    assert {"events", "messaging", "streaming", "counter"} <= types
    outcome = wfc.json("start", "events", "--input", '{"n_steps": 3}', "--workflow-id", "cli-ev", "--wait")
    assert outcome["status"] == "SUCCESS" and outcome["output"]["total_steps"] == 3
    again = wfc.json("start", "events", "-i", '{"n_steps": 3}', "-w", "cli-ev")
    assert again["created"] is False
    assert wfc.json("status", "cli-ev")["output"] == outcome["output"]
    assert [w["workflow_id"] for w in wfc.json("list", "--type", "events", "--status", "SUCCESS")["workflows"]] == [
        "cli-ev"
    ]
    assert wfc.json("result", "cli-ev", "--timeout", "5")["done"] is True
    assert len(wfc.json("steps", "cli-ev")["steps"]) > 3
    forked = wfc.json("fork", "cli-ev", "--step", "2")
    assert wfc.json("result", forked["workflow_id"])["output"] == outcome["output"]
    # Human output of the same commands works too (rich tables), and global --json works before the command.
    assert wfc("status", "cli-ev").returncode == 0 and "SUCCESS" in wfc("status", "cli-ev").stdout
    assert json.loads(wfc("--json", "status", "cli-ev").stdout)["workflow_id"] == "cli-ev"


def test_approve_a_waiting_workflow_with_send_and_exit_codes_for_timeout_failure_conflict(wfc: Wfc) -> None:
    wfc.json("start", "messaging", "-w", "cli-appr")
    assert wfc.json("events", "cli-appr", "status", "--timeout", "30")["value"] == "waiting_for_approval"
    not_done = wfc("result", "cli-appr", "--timeout", "0.2")
    assert not_done.returncode == 4, not_done.stderr  # still waiting: exit 4
    sent = wfc.json("send", "cli-appr", '{"approved": true, "message": "via wfc"}', "--idempotency-key", "cli-k")
    assert sent["outcome"] == "delivered"
    outcome = wfc.json("result", "cli-appr", "--timeout", "30")
    assert outcome["status"] == "SUCCESS" and outcome["output"]["approval_message"] == "via wfc"
    late = wfc("send", "cli-appr", "{}")
    assert late.returncode == 6 and "no longer receives messages" in late.stderr  # conflict: finished
    # A cancelled workflow's result exits 8 (finished unsuccessfully).
    wfc.json("start", "messaging", "-w", "cli-cancel")
    assert wfc.json("cancel", "cli-cancel")["status"] == "CANCELLED"
    assert wfc("result", "cli-cancel").returncode == 8
    assert wfc.json("resume", "cli-cancel")["status"] in ("PENDING", "ENQUEUED")
    # Usage errors exit 2, unknown ids 3 (with a JSON error on stderr for scripts).
    assert wfc("send", "cli-cancel", "{not json").returncode == 2
    assert wfc("start", "events", "-i", '{"n_steps": 0}').returncode == 2
    missing = wfc("status", "nope", "--json")
    assert missing.returncode == 3 and json.loads(missing.stderr)["error"]["code"] == "workflow_not_found"


def test_send_duplicates_request_reply_and_event_waits(wfc: Wfc) -> None:
    wfc.json("start", "counter", "-w", "cli-cnt")
    first = wfc.json("send", "cli-cnt", '{"note": 1}', "--topic", "other", "-k", "same")
    again = wfc.json("send", "cli-cnt", '{"note": 1}', "--topic", "other", "-k", "same")
    assert (first["outcome"], again["outcome"]) == ("delivered", "duplicate")
    reply = wfc.json("request", "cli-cnt", '{"op": "add", "amount": 5}')
    assert reply["value"] == {"ok": True, "value": 5}
    piped = wfc("request", "cli-cnt", "-", "--json", stdin='{"op": "get"}')
    assert json.loads(piped.stdout)["value"]["value"] == 5
    no_reply = wfc("request", "cli-cnt", '{"op": "get"}', "--topic", "nobody", "--timeout", "0.3")
    assert no_reply.returncode == 4
    value = wfc.json("events", "cli-cnt", "value")
    assert value["value"] == 5
    assert (
        wfc("events", "cli-cnt", "value", "--after-version", str(value["version"]), "--timeout", "0.3").returncode == 4
    )
    assert wfc.json("events", "cli-cnt")["events"]["status"]["value"] == "running"
    wfc.json("request", "cli-cnt", '{"op": "stop"}')
    wfc.json("result", "cli-cnt")
    assert wfc("events", "cli-cnt", "never-set").returncode == 3  # finished without setting it


def test_events_watch_shows_a_progress_bar_until_the_workflow_ends(wfc: Wfc, server: ServerProcess) -> None:
    wfc.json("start", "events", "-i", '{"n_steps": 4, "step_delay_seconds": 0.05}', "-w", "cli-bar")
    bar = wfc("events", "cli-bar", "progress", "--watch")
    assert bar.returncode == 0, bar.stderr
    assert "100%" in bar.stdout and "workflow_finished" in bar.stderr
    updates = wfc.lines("events", "cli-bar", "progress", "--watch")
    assert updates[-1]["value"] == 100 and all(u["key"] == "progress" for u in updates)
    everything = wfc.lines("events", "cli-bar", "--watch")
    assert {u["key"] for u in everything} == {"status", "progress", "result"}


def test_stream_list_snapshot_and_follow(wfc: Wfc, server: ServerProcess) -> None:
    wfc.json("start", "streaming", "-i", '{"n_steps": 2}', "-w", "cli-st", "--wait")
    assert wfc.json("stream", "cli-st")["streams"] == [{"key": "progress_stream", "length": 6, "closed": True}]
    snapshot = wfc.json("stream", "cli-st", "progress_stream", "--from", "2")
    assert [v["offset"] for v in snapshot["values"]] == [2, 3, 4, 5] and snapshot["closed"] is True
    assert "complete" in wfc("stream", "cli-st", "progress_stream").stdout
    followed = wfc.lines("stream", "cli-st", "--follow", "--from", "1")  # the only stream: KEY may be omitted
    assert [v["offset"] for v in followed] == [1, 2, 3, 4, 5]


def _reader(pipe: IO[str], into: queue.Queue[str | None]) -> None:
    for line in pipe:
        into.put(line)
    into.put(None)


def test_stream_follow_resumes_across_a_server_restart(wfc: Wfc, server: ServerProcess) -> None:
    with Client(server.url) as client:
        client.start("counter", {}, workflow_id="cli-restart")
        for amount in (1, 2):
            client.send_and_wait("cli-restart", {"op": "add", "amount": amount})
        tail = subprocess.Popen(
            [wfc.exe, "--url", server.url, "stream", "cli-restart", "history", "--follow", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert tail.stdout is not None and tail.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(tail.stdout, lines), daemon=True).start()
        try:
            got = [json.loads(str(lines.get(timeout=30))) for _ in range(2)]
            server.restart()  # graceful: the server ends open tails; wfc reconnects to the new process
            for amount in (3, 4):
                client.send_and_wait("cli-restart", {"op": "add", "amount": amount})
            client.send_and_wait("cli-restart", {"op": "stop"})
            while (line := lines.get(timeout=60)) is not None:
                got.append(json.loads(line))
            assert tail.wait(timeout=30) == 0, tail.stderr.read()
        finally:
            tail.kill()
            tail.wait()
        assert [g["offset"] for g in got] == [0, 1, 2, 3, 4]
        assert [g["value"]["value"] for g in got] == [1, 3, 6, 10, 10]


def test_session_post_and_tail(wfc: Wfc, server: ServerProcess) -> None:
    assert wfc.json("session", "post", "cli-s", "progress", '{"pct": 50}', "--id", "e1")["outcome"] == "delivered"
    assert wfc.json("session", "post", "cli-s", "progress", '{"pct": 50}', "--id", "e1")["outcome"] == "duplicate"
    wfc.json("session", "post", "cli-s", "done")
    tailed = wfc.lines("session", "tail", "cli-s")
    assert [(t["offset"], t["value"]["type"]) for t in tailed] == [(0, "progress"), (1, "done")]
    assert len(wfc.json("session", "tail", "cli-s", "--snapshot")["values"]) == 2
    assert wfc("session", "post", "cli-s", "progress", "1").returncode == 6  # closed


def test_unreachable_server_exits_5() -> None:
    cli = Wfc(f"http://127.0.0.1:{free_port()}")
    done = cli("status", "x")
    assert done.returncode == 5 and "cannot connect" in done.stderr
    assert json.loads(cli("status", "x", "--json").stderr)["error"]["exit_code"] == 5


def test_api_key_from_the_environment(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env={"COMM_API_KEYS": "cli-key"}) as keyed:
        cli = Wfc(keyed.url)
        denied = cli("types")
        assert denied.returncode == 7, denied.stdout
        ok = subprocess.run(
            [cli.exe, "types", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(COMM_URL=keyed.url, COMM_API_KEY="cli-key"),
            check=False,
        )
        assert ok.returncode == 0 and any(t["type"] == "counter" for t in json.loads(ok.stdout))


def test_serve_runs_the_server_on_the_given_port(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(DBOS_SYSTEM_DATABASE_URL=database_url, COMM_LOG_LEVEL="warning", COMM_SHUTDOWN_GRACE_SECONDS="0")
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([wfc_executable(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        # Readiness polling of a subprocess (bounded), as in tests/support/server_proc.py.
        with httpx.Client(timeout=2) as http:
            for _ in range(1200):
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if http.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                threading.Event().wait(0.05)
            else:
                pytest.fail("wfc serve did not become ready")
        assert Wfc(f"http://127.0.0.1:{port}").json("types")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
