"""Every page stops at a byte budget (``COMM_PAGE_MAX_BYTES``), at least one item, and says where to continue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server_proc import ServerProcess

BUDGET = 65_536


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"COMM_PAGE_MAX_BYTES": str(BUDGET), "COMM_WORKFLOWS": "workflows,tests.support.bulky_workflow"}
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        yield proc


def _run_bulky(http: httpx.Client, workflow_id: str, **params: Any) -> None:
    start = {"type": "bulky", "input": params, "workflow_id": workflow_id}
    assert http.post("/v1/workflows", json=start).status_code == 201
    done = http.get(f"/v1/workflows/{workflow_id}/result", params={"timeout": 60}).json()
    assert done["status"] == "SUCCESS", done


def test_stream_snapshot_of_large_values_stops_at_the_budget_and_continues(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _run_bulky(http, "bulk-stream", count=12, size=20_000, events=False, steps=False)
        url = "/v1/workflows/bulk-stream/streams/bulk"
        first = http.get(url, params={"limit": 1000})
        body = first.json()
        assert body["truncated"] is True and body["complete"] is False and body["closed"] is False
        assert 1 <= len(body["values"]) < 12 and body["next_offset"] == len(body["values"])
        assert len(first.content) < BUDGET + 25_000  # the budget plus framing; never the whole stream
        seen = [item["value"]["i"] for item in body["values"]]
        offset = body["next_offset"]
        while not body["complete"]:
            body = http.get(url, params={"offset": offset, "limit": 1000}).json()
            seen += [item["value"]["i"] for item in body["values"]]
            offset = body["next_offset"]
        assert seen == list(range(12)) and body["closed"] is True and body["truncated"] is False


def test_one_value_larger_than_the_budget_comes_alone(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _run_bulky(http, "bulk-huge", count=3, size=3 * BUDGET, events=False, steps=False)
        body = http.get("/v1/workflows/bulk-huge/streams/bulk", params={"limit": 10}).json()
        assert [item["offset"] for item in body["values"]] == [0] and body["truncated"] is True
        last = http.get("/v1/workflows/bulk-huge/streams/bulk", params={"offset": 2, "limit": 10}).json()
        assert [item["offset"] for item in last["values"]] == [2] and last["complete"] is True
        assert last["truncated"] is False


def test_events_list_stops_at_the_budget_and_continues_after_key(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _run_bulky(http, "bulk-events", count=8, size=20_000, steps=False)
        body = http.get("/v1/workflows/bulk-events/events").json()
        assert body["truncated"] is True and 1 <= len(body["events"]) < 8
        keys = list(body["events"])
        while body["truncated"]:
            body = http.get("/v1/workflows/bulk-events/events", params={"after_key": body["next_key"]}).json()
            keys += list(body["events"])
        assert [k for k in keys if k.startswith("k")] == [f"k{i:04d}" for i in range(8)]


def test_steps_stop_at_the_budget_and_continue_from_next_offset(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _run_bulky(http, "bulk-steps", count=8, size=20_000, events=False)
        body = http.get("/v1/workflows/bulk-steps/steps").json()
        assert body["truncated"] is True and 1 <= len(body["steps"]) < 8
        outputs = [s["output"] for s in body["steps"] if s["name"].endswith("_bulky_step")]
        while body["truncated"]:
            body = http.get("/v1/workflows/bulk-steps/steps", params={"offset": body["next_offset"]}).json()
            outputs += [s["output"] for s in body["steps"] if s["name"].endswith("_bulky_step")]
        assert [o[0] for o in outputs] == [str(i) for i in range(8)]


def test_workflow_list_and_session_pages_carry_the_budget_fields(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        page = http.get("/v1/workflows", params={"limit": 5}).json()
        assert page["truncated"] is False and page["next_offset"] == len(page["workflows"])
        for i in range(4):
            posted = http.post(
                "/v1/sessions/budget-s/events", json={"type": "msg", "data": "x" * 30_000, "id": f"e{i}"}
            )
            assert posted.status_code == 202, posted.text
        events = http.get("/v1/sessions/budget-s/events", params={"limit": 100}).json()
        assert events["truncated"] is True and 1 <= len(events["values"]) < 4


def test_fitting_keeps_at_least_one_item_and_stops_before_the_budget() -> None:
    from communication.protocol.page_budget import fitting

    assert fitting([], 10) == 0
    assert fitting([50], 10) == 1  # one item larger than the budget comes alone
    assert fitting([4, 4, 4], 10) == 2
    assert fitting([5, 5, 5], 10) == 2  # exactly the budget
    assert fitting([1, 1], 10) == 2
