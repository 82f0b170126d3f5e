"""Schedules have a minimum period (``COMM_SCHEDULE_MIN_PERIOD_SECONDS``) and a quota (``COMM_SCHEDULE_MAX``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from communication.core.schedules import shortest_period_seconds
from tests.support.inprocess import app_client
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.backend_independent


def _post(http: Any, name: str, **timing: Any) -> httpx.Response:
    body = {"name": name, "type": "events", "input": {"n_steps": 1}, **timing}
    response: httpx.Response = http.post("/v1/schedules", json=body)
    return response


def test_shortest_period_of_crons() -> None:
    assert shortest_period_seconds("* * * * * *") == 1
    assert shortest_period_seconds("*/30 * * * * *") == 30
    assert shortest_period_seconds("0-5 9 * * *") == 60
    assert shortest_period_seconds("0 3 * * *") == 86_400


def test_every_second_schedules_are_refused_on_a_real_server(database_url: str, tmp_path: Any) -> None:
    # The probe's shape: several every-second schedules on a server with the defaults.
    with ServerProcess(database_url, log_dir=tmp_path) as server, httpx.Client(base_url=server.url) as http:
        for i in range(5):
            r = _post(http, f"fast-{i}", cron="* * * * * *")
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "schedule_too_frequent"
            assert error["details"] == {"period_seconds": 1, "min_period_seconds": 60}
        assert http.get("/v1/schedules").json()["schedules"] == []
        assert _post(http, "minutely", interval_minutes=1).status_code == 201  # exactly the minimum is fine


def test_min_period_applies_to_intervals_bursts_and_updates(database_url: str) -> None:
    with app_client(database_url, schedule_min_period_seconds=300) as client:
        assert _post(client, "i1", interval_minutes=1).json()["error"]["code"] == "schedule_too_frequent"
        burst = _post(client, "burst", cron="0-5 9 * * *")  # daily, but six fires a minute apart
        assert burst.status_code == 422 and burst.json()["error"]["details"]["period_seconds"] == 60
        assert _post(client, "ok", interval_minutes=5).status_code == 201
        patched = client.patch("/v1/schedules/ok", json={"cron": "*/10 * * * * *"})
        assert patched.status_code == 422 and patched.json()["error"]["code"] == "schedule_too_frequent"
        assert client.get("/v1/schedules/ok").json()["interval_minutes"] == 5  # unchanged


@pytest.mark.parametrize("quota", [1, 3])
def test_schedule_quota_refuses_one_more_with_409(database_url: str, quota: int) -> None:
    with app_client(database_url, schedule_max=quota) as client:
        for i in range(quota):
            assert _post(client, f"s{i}", cron="0 3 * * *").status_code == 201
        over = _post(client, "one-more", cron="0 3 * * *")
        assert over.status_code == 409, over.text
        assert over.json()["error"]["code"] == "too_many_schedules" and over.json()["error"]["details"]["max"] == quota
        assert client.delete("/v1/schedules/s0").status_code in (200, 204)
        assert _post(client, "one-more", cron="0 3 * * *").status_code == 201


def test_schedule_list_stops_at_the_page_budget_and_continues_after_name(database_url: str) -> None:
    with app_client(database_url, page_max_bytes=1024) as client:
        names = [f"budget-{i:02d}" for i in range(8)]
        for name in names:
            assert _post(client, name, cron="0 3 * * *").status_code == 201
        page = client.get("/v1/schedules").json()
        assert page["truncated"] is True and 1 <= len(page["schedules"]) < 8
        seen = [s["name"] for s in page["schedules"]]
        while page["truncated"]:
            page = client.get("/v1/schedules", params={"after_name": page["next_name"]}).json()
            seen += [s["name"] for s in page["schedules"]]
        assert seen == names and page["next_name"] is None
