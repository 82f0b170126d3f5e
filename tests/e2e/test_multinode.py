"""Many nodes on one Postgres: two HTTP servers and a worker, a worker killed mid-workflow and restarted.

Node A takes the start (enqueued on the work queue), the worker runs it, node B tails its stream over SSE, node A
delivers the approval while the worker is dead (kill -9), node B reads the result after the worker restarted and
recovered the workflow. Checked: the stream has no gap and no duplicate, and the acknowledged message was consumed
exactly once. Loopback only; every process is killed in teardown.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server_proc import ServerProcess
from tests.support.worker_proc import WorkerProcess

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_POSTGRES_URL"),
    reason="needs Postgres (set TEST_POSTGRES_URL): several processes share one database, which SQLite is not for",
)

COMMON = {"COMM_WORK_QUEUE": "work", "COMM_QUEUE_POLLING_INTERVAL_SEC": "0.05", "COMM_SSE_HEARTBEAT_SECONDS": "1"}
PIPELINE_INPUT = {
    "sources": [
        {"name": "a", "items": 2},
        {"name": "b", "items": 3, "fail_times": 1},
        {"name": "c", "always_fail": True},
    ],
    "max_attempts": 2,
    "retry_interval_seconds": 0.05,
    "require_approval": True,
}
EXPECTED_TYPES = [
    "start",
    "config_loaded",
    "source_collected",
    "source_collected",
    "source_failed",
    "awaiting_approval",
    "approved",
    "published",
    "complete",
]


def sse_frames(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Server-sent event frames (``id``, ``event``, ``data``) of a streaming response; comments are skipped."""
    frame: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            frame[field] = value.removeprefix(" ")


class StreamTail(threading.Thread):
    """Tails ``GET .../streams/{key}/live`` over SSE, resuming with ``Last-Event-ID`` if the connection drops.

    Every ``(offset, value)`` is put on :attr:`values` as it arrives, so the test can wait on a value; the
    ``end`` frame's data is kept in :attr:`end`.
    """

    def __init__(self, url: str) -> None:
        super().__init__(name="sse-tail", daemon=True)
        self.url = url
        self.values: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.received: list[tuple[int, dict[str, Any]]] = []
        self.end: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        last: int | None = None
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0, read=30.0)) as http:
                while self.end is None and not self.stop.is_set():
                    headers = {"Last-Event-ID": str(last)} if last is not None else {}
                    try:
                        with http.stream("GET", self.url, headers=headers) as response:
                            response.raise_for_status()
                            for frame in sse_frames(response):
                                if frame.get("event") == "value":
                                    last = int(frame["id"])
                                    item = (last, json.loads(frame["data"]))
                                    self.received.append(item)
                                    self.values.put(item)
                                elif frame.get("event") == "end":
                                    self.end = json.loads(frame["data"])
                                    return
                    except httpx.TransportError:
                        continue  # dropped: reconnect from the last offset received
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc

    def wait_for(self, kind: str, timeout: float = 90.0) -> dict[str, Any]:
        """Block until a value of type ``kind`` arrives (bounded)."""
        while True:
            try:
                _, value = self.values.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {kind!r} value within {timeout:g} s (error: {self.error!r})") from None
            if value.get("type") == kind:
                return value


def metric(text: str, line_prefix: str) -> float:
    """The value of the first sample line starting with ``line_prefix`` (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.timeout(420)
def test_two_nodes_and_a_killed_worker_complete_a_workflow_exactly_once(database_url: str, tmp_path: Path) -> None:
    for name in ("a", "b", "w"):
        (tmp_path / name).mkdir()
    node_a = ServerProcess(database_url, log_dir=tmp_path / "a", env={**COMMON, "COMM_EXECUTOR_ID": "node-a"})
    node_b = ServerProcess(database_url, log_dir=tmp_path / "b", env={**COMMON, "COMM_EXECUTOR_ID": "node-b"})
    worker = WorkerProcess(database_url, log_dir=tmp_path / "w", executor_id="worker-1", queue="work")
    tail: StreamTail | None = None
    with node_a, node_b, worker, httpx.Client(timeout=90.0) as http:
        try:
            # Started through node A: enqueued on the work queue, executed by the worker.
            r = http.post(
                f"{node_a.url}/v1/workflows",
                json={"type": "pipeline", "input": PIPELINE_INPUT, "workflow_id": "mn-1"},
            )
            assert r.status_code == 201, r.text
            assert r.json()["queue_name"] == "work"

            # Tailed live from node B.
            tail = StreamTail(f"{node_b.url}/v1/workflows/mn-1/streams/progress_stream/live")
            tail.start()
            tail.wait_for("awaiting_approval")
            status = http.get(f"{node_b.url}/v1/workflows/mn-1").json()
            assert (status["status"], status["executor_id"]) == ("PENDING", "worker-1")

            # The worker dies mid-workflow; the approval is acknowledged by node A while no process runs it.
            worker.kill()
            approval = {"message": {"approved": True, "message": "ship it"}, "idempotency_key": "approve-mn-1"}
            first = http.post(f"{node_a.url}/v1/workflows/mn-1/messages", json=approval)
            assert first.status_code in (200, 202), first.text
            assert first.json()["outcome"] == "delivered"
            assert http.post(f"{node_a.url}/v1/workflows/mn-1/messages", json=approval).json()["outcome"] == (
                "duplicate"
            )

            # Restarted with the same executor id, the worker recovers the workflow; the result is read on node B.
            worker.start()
            done = http.get(f"{node_b.url}/v1/workflows/mn-1/result", params={"timeout": 90})
            assert done.status_code == 200, done.text
            body = done.json()
            assert body["status"] == "SUCCESS", body
            out = body["output"]
            assert (out["success"], out["published"], out["item_count"]) == (True, True, 5)
            assert [e["source"] for e in out["errors"]] == ["c"]
            assert out["approval"] == {"approved": True, "message": "ship it"}

            # The live tail saw every value once, in order, then the end of the stream.
            tail.join(timeout=60)
            assert not tail.is_alive() and tail.error is None, tail.error
            assert tail.end is not None and tail.end["reason"] == "closed"
            offsets = [offset for offset, _ in tail.received]
            assert offsets == list(range(len(offsets))), offsets  # no gap, no duplicate
            assert [value["type"] for _, value in tail.received] == EXPECTED_TYPES
            snapshot = http.get(f"{node_b.url}/v1/workflows/mn-1/streams/progress_stream").json()
            assert [v["value"] for v in snapshot["values"]] == [value for _, value in tail.received]
            assert snapshot["closed"] is True

            # The acknowledged message was consumed exactly once.
            steps = http.get(f"{node_b.url}/v1/workflows/mn-1/steps").json()["steps"]
            assert sum("recv" in s["name"].lower() for s in steps) == 1, [s["name"] for s in steps]
            final = http.get(f"{node_b.url}/v1/workflows/mn-1").json()
            assert final["executor_id"] == "worker-1"

            # Each process counts what it did.
            a_metrics = http.get(f"{node_a.url}/metrics").text
            assert metric(a_metrics, 'comm_workflows_started_total{type="pipeline"}') == 1
            assert metric(a_metrics, 'comm_messages_sent_total{outcome="delivered"}') == 1
            assert metric(a_metrics, 'comm_messages_sent_total{outcome="duplicate"}') == 1
            w_metrics = worker.metrics()
            assert metric(w_metrics, 'comm_workflows_finished_total{status="SUCCESS",type="pipeline"}') == 1
        except BaseException:
            for proc_log in (node_a.log_tail(), node_b.log_tail(), worker.log_tail()):
                print(proc_log)  # shown by pytest on failure: the three processes' logs
            raise
        finally:
            if tail is not None:
                tail.stop.set()
