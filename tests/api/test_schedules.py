"""Schedules over HTTP: create, list, describe, pause, resume, trigger, update, delete, backfill, and their errors.

Runs are produced with trigger and backfill, never by waiting for a cron fire.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from communication.core.schedules import check_cron, interval_to_cron, next_fire_times
from communication.protocol.errors import InvalidCron
from tests.support.inprocess import app_client, result

NIGHTLY = "0 3 * * *"  # never fires during a test


def create(client: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": "events", "input": {"n_steps": 1}, "cron": NIGHTLY, **fields}
    r = client.post("/v1/schedules", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/schedules/{name}"
    data: dict[str, Any] = r.json()
    return data


def finish(client: TestClient, name: str, run: dict[str, Any]) -> dict[str, Any]:
    """Wait (bounded) for a triggered or backfilled run, then return its workflow's result body."""
    r = client.get(f"/v1/schedules/{name}/runs/{run['dispatch_id']}", params={"timeout": 30})
    assert r.status_code == 200, r.text
    assert r.json()["done"] is True and r.json()["workflow_id"] == run["workflow_id"]
    return result(client, run["workflow_id"])


def test_interval_and_cron_helpers() -> None:
    assert [interval_to_cron(m) for m in (1, 5, 60, 120, 1440)] == [
        "* * * * *",
        "*/5 * * * *",
        "0 * * * *",
        "0 */2 * * *",
        "0 0 * * *",
    ]
    for minutes in (7, 90, 300):
        with pytest.raises(InvalidCron):
            interval_to_cron(minutes)
    assert check_cron("  */10  * * * * * ") == "*/10 * * * * *"
    for bad in ("* * * *", "61 * * * *", "0 0 30 2 *", "* * * * * * *", "not a cron"):
        with pytest.raises(InvalidCron):
            check_cron(bad)
    after = datetime(2025, 1, 1, 0, 0, 30, tzinfo=ZoneInfo("UTC"))
    fires = next_fire_times("*/15 * * * * *", None, 3, after=after)
    assert [f.second for f in fires] == [45, 0, 15]


def test_create_interval_schedule_then_list_and_describe(client: TestClient) -> None:
    info = create(client, "every-5", cron=None, interval_minutes=5)
    assert (info["cron"], info["interval_minutes"], info["status"], info["timezone"]) == (
        "*/5 * * * *",
        5,
        "ACTIVE",
        "UTC",
    )
    assert info["type"] == "events" and info["input"] == {"n_steps": 1, "step_delay_seconds": 0.0}
    assert info["queue"] is None and info["managed"] is True
    names = [s["name"] for s in client.get("/v1/schedules").json()["schedules"]]
    assert "every-5" in names
    detail = client.get("/v1/schedules/every-5", params={"upcoming": 4}).json()
    fires = [datetime.fromisoformat(t) for t in detail["next_fire_times"]]
    assert len(fires) == 4 and all(f.minute % 5 == 0 and f.second == 0 for f in fires)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(fires))
    # Live every five minutes: a boundary may pass during the test, so only its own fires may be listed.
    assert all(datetime.fromisoformat(r["scheduled_at"]).minute % 5 == 0 for r in detail["recent_runs"])


def test_timezone_applies_to_next_fire_times(client: TestClient) -> None:
    create(client, "paris-9", cron="0 9 * * *", timezone="Europe/Paris")
    detail = client.get("/v1/schedules/paris-9", params={"upcoming": 2}).json()
    assert detail["timezone"] == "Europe/Paris"
    for text in detail["next_fire_times"]:
        assert datetime.fromisoformat(text).astimezone(ZoneInfo("Europe/Paris")).hour == 9


def test_trigger_runs_the_type_and_describe_shows_the_run(client: TestClient) -> None:
    create(client, "pipe", type="pipeline", input={"sources": [{"name": "s", "items": 2}]})
    r = client.post("/v1/schedules/pipe/trigger")
    assert r.status_code == 202
    run = r.json()["runs"][0]
    assert run["dispatch_id"].startswith("sched-pipe-trigger-")
    body = finish(client, "pipe", run)
    assert body["status"] == "SUCCESS" and body["output"]["item_count"] == 2
    stream = client.get(f"/v1/workflows/{run['workflow_id']}/streams/progress_stream").json()
    assert stream["closed"] is True
    recent = client.get("/v1/schedules/pipe").json()["recent_runs"]
    assert [(r["dispatch_id"], r["workflow_id"], r["status"]) for r in recent] == [
        (run["dispatch_id"], run["workflow_id"], "SUCCESS")
    ]
    assert recent[0]["scheduled_at"] is not None
    listed = client.get("/v1/schedules/pipe/runs").json()
    assert listed["runs"] == recent
    assert client.get("/v1/schedules/pipe", params={"runs": 0}).json()["recent_runs"] == []
    assert (
        client.get("/v1/workflows", params={"type": "pipeline"}).json()["workflows"][0]["workflow_id"]
        == (run["workflow_id"])
    )


def test_pause_with_note_trigger_while_paused_and_resume(client: TestClient) -> None:
    info = create(client, "p1", paused=True)
    assert info["status"] == "PAUSED"
    assert client.get("/v1/schedules/p1").json()["next_fire_times"] == []
    paused = client.post("/v1/schedules/p1/pause", json={"note": "source down"}).json()
    assert paused["status"] == "PAUSED" and paused["note"] == "source down" and paused["paused_at"]
    assert [s["name"] for s in client.get("/v1/schedules", params={"status": "PAUSED"}).json()["schedules"]] == ["p1"]
    assert client.get("/v1/schedules", params={"status": "ACTIVE"}).json()["schedules"] == []
    run = client.post("/v1/schedules/p1/trigger").json()["runs"][0]
    assert finish(client, "p1", run)["status"] == "SUCCESS"
    resumed = client.post("/v1/schedules/p1/resume").json()
    assert (resumed["status"], resumed["note"], resumed["paused_at"]) == ("ACTIVE", None, None)
    assert len(client.get("/v1/schedules/p1").json()["next_fire_times"]) == 5


def test_update_changes_timing_and_input_and_keeps_the_pause(client: TestClient) -> None:
    create(client, "u1")
    client.post("/v1/schedules/u1/pause", json={"note": "editing"})
    updated = client.patch("/v1/schedules/u1", json={"cron": "0 */10 * * * *"}).json()
    assert (updated["cron"], updated["interval_minutes"], updated["status"]) == ("0 */10 * * * *", None, "PAUSED")
    assert updated["note"] == "editing"
    updated = client.patch("/v1/schedules/u1", json={"interval_minutes": 15}).json()
    assert (updated["cron"], updated["interval_minutes"]) == ("*/15 * * * *", 15)
    bad = client.patch("/v1/schedules/u1", json={"input": {"n_steps": 0}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    updated = client.patch("/v1/schedules/u1", json={"input": {"n_steps": 4}}).json()
    assert updated["input"]["n_steps"] == 4
    run = client.post("/v1/schedules/u1/trigger").json()["runs"][0]
    assert finish(client, "u1", run)["output"]["total_steps"] == 4


def test_backfill_enqueues_each_fire_once(client: TestClient) -> None:
    create(client, "hourly", cron="0 * * * *")
    window = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T03:30:00Z"}
    r = client.post("/v1/schedules/hourly/backfill", json=window)
    assert r.status_code == 202
    runs = r.json()["runs"]
    assert len(runs) == 3  # 01:00, 02:00, 03:00 (start and end exclusive)
    for run in runs:
        assert finish(client, "hourly", run)["status"] == "SUCCESS"
    again = client.post("/v1/schedules/hourly/backfill", json=window).json()["runs"]
    assert [r["dispatch_id"] for r in again] == [r["dispatch_id"] for r in runs]
    recent = client.get("/v1/schedules/hourly", params={"runs": 100}).json()["recent_runs"]
    assert len(recent) == 3  # the repeat ran nothing
    assert sorted(datetime.fromisoformat(r["scheduled_at"]).hour for r in recent) == [1, 2, 3]
    too_many = client.post("/v1/schedules/hourly/backfill", json={"start": "2000-01-01T00:00:00", "end": window["end"]})
    assert too_many.status_code == 422 and too_many.json()["error"]["details"]["limit"] == 1000
    backwards = client.post("/v1/schedules/hourly/backfill", json={"start": window["end"], "end": window["start"]})
    assert backwards.status_code == 422


def test_delete_removes_the_schedule(client: TestClient) -> None:
    create(client, "gone")
    assert client.delete("/v1/schedules/gone").status_code == 204
    assert client.get("/v1/schedules/gone").json()["error"]["code"] == "schedule_not_found"
    assert "gone" not in [s["name"] for s in client.get("/v1/schedules").json()["schedules"]]


def test_errors_have_stable_codes(client: TestClient) -> None:
    def post(**fields: Any) -> tuple[int, str]:
        body = {"name": "e1", "type": "events", "cron": NIGHTLY, **fields}
        r = client.post("/v1/schedules", json=body)
        return r.status_code, r.json()["error"]["code"]

    assert post(type="nope") == (422, "unknown_workflow_type")
    assert post(cron="61 * * * *") == (422, "invalid_cron")
    assert post(cron="* * * *") == (422, "invalid_cron")
    assert post(cron=None, interval_minutes=7) == (422, "invalid_cron")
    assert post(interval_minutes=5) == (422, "validation_error")  # both cron and interval
    assert post(cron=None) == (422, "validation_error")  # neither
    assert post(timezone="Mars/Olympus") == (422, "validation_error")
    assert post(queue="not-registered") == (422, "validation_error")
    assert post(input={"n_steps": 0}) == (422, "validation_error")
    assert post(name="bad name") == (422, "validation_error")
    create(client, "e1")
    assert post() == (409, "schedule_exists")
    for method, path, body in (
        ("GET", "/v1/schedules/missing", None),
        ("PATCH", "/v1/schedules/missing", {"cron": NIGHTLY}),
        ("DELETE", "/v1/schedules/missing", None),
        ("POST", "/v1/schedules/missing/pause", {}),
        ("POST", "/v1/schedules/missing/resume", None),
        ("POST", "/v1/schedules/missing/trigger", None),
        ("POST", "/v1/schedules/missing/backfill", {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"}),
    ):
        r = client.request(method, path, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "schedule_not_found"), (method, path)
    assert client.get("/v1/schedules", params={"status": "SOMETIMES"}).status_code == 422
    create(client, "e2")
    r = client.get("/v1/schedules/e2/runs/sched-e1-trigger-2025-01-01T00:00:00+00:00", params={"timeout": 0})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "workflow_not_found")


def test_runs_go_to_the_work_queue_by_default(database_url: str) -> None:
    with app_client(database_url, work_queue="work", execute_queue_in_http=True) as client:
        info = create(client, "queued")
        assert info["queue"] == "work"
        explicit = create(client, "internal", queue=None)
        assert explicit["queue"] is None
        run = client.post("/v1/schedules/queued/trigger").json()["runs"][0]
        assert finish(client, "queued", run)["status"] == "SUCCESS"
