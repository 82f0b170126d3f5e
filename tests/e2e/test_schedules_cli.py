"""Schedules from ``wfc schedules`` and from both clients, against a real ``python server.py`` (seed 003's journey)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from communication.client import AsyncClient, Client
from communication.client.errors import ApiError
from tests.support.cli_runner import Wfc
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.backend_independent


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


def _triggered(recent_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs a trigger made (``sched-<name>-trigger-<time>``), not the fires that follow the clock."""
    return [run for run in recent_runs if "-trigger-" in run["dispatch_id"]]


def test_wfc_schedules_journey_create_interval_list_describe_pause_unpause_trigger_update_delete(
    server: ServerProcess,
) -> None:
    wfc = Wfc(server.url)
    made = wfc.json("schedules", "create", "report", "events", "--interval", "5", "--input", '{"n_steps": 1}')
    assert (made["name"], made["interval_minutes"], made["cron"]) == ("report", 5, "*/5 * * * *")
    assert made["status"] == "ACTIVE"
    assert [s["name"] for s in wfc.json("schedules", "list")["schedules"]] == ["report"]
    detail = wfc.json("schedules", "describe", "report")
    # The schedule is live: a five-minute boundary may pass while the test runs, and its fire is a run too.
    assert len(detail["next_fire_times"]) == 5 and _triggered(detail["recent_runs"]) == []
    paused = wfc.json("schedules", "pause", "report", "--note", "maintenance window")
    assert (paused["status"], paused["note"]) == ("PAUSED", "maintenance window")
    assert wfc.json("schedules", "list", "--status", "PAUSED")["schedules"][0]["note"] == "maintenance window"
    assert wfc.json("schedules", "unpause", "report")["status"] == "ACTIVE"
    runs = wfc.json("schedules", "trigger", "report")["runs"]
    assert len(runs) == 1 and runs[0]["dispatch_id"].startswith("sched-report-")
    with Client(server.url) as client:
        assert client.schedule_run("report", runs[0]["dispatch_id"], timeout=30).done
    recent = wfc.json("schedules", "describe", "report")["recent_runs"]
    assert [r["dispatch_id"] for r in _triggered(recent)] == [runs[0]["dispatch_id"]]
    updated = wfc.json("schedules", "update", "report", "--cron", "0 3 * * *")
    assert (updated["cron"], updated["interval_minutes"]) == ("0 3 * * *", None)
    assert updated["input"]["n_steps"] == 1, "update keeps what it was not given"
    human = wfc("schedules", "describe", "report")
    assert human.returncode == 0 and "report" in human.stdout and "cron '0 3 * * *'" in human.stdout
    assert wfc.json("schedules", "delete", "report") == {"deleted": "report"}
    missing = wfc("schedules", "describe", "report", "--json")
    assert missing.returncode == 3 and "schedule_not_found" in missing.stdout + missing.stderr
    usage = wfc("schedules", "create", "x", "events")
    assert usage.returncode == 2 and "--interval" in usage.stderr


def test_wfc_schedules_backfill_runs_each_fire_in_the_range(server: ServerProcess) -> None:
    wfc = Wfc(server.url)
    wfc.json("schedules", "create", "hourly", "events", "--cron", "0 * * * *", "--paused")
    end = datetime(2025, 1, 1, 3, 30, tzinfo=UTC)
    runs = wfc.json(
        "schedules", "backfill", "hourly", "--start", (end - timedelta(hours=3)).isoformat(), "--end", end.isoformat()
    )["runs"]
    assert len(runs) == 3
    wfc.json("schedules", "delete", "hourly")


def test_sync_client_schedule_methods(server: ServerProcess) -> None:
    with Client(server.url) as client:
        info = client.create_schedule("sync-1", "events", input={"n_steps": 1}, interval_minutes=15, paused=True)
        assert (info.status, info.cron) == ("PAUSED", "*/15 * * * *")
        updated = client.update_schedule("sync-1", input={"n_steps": 2})
        assert updated.input is not None and updated.input["n_steps"] == 2 and updated.status == "PAUSED"
        assert client.resume_schedule("sync-1").status == "ACTIVE"
        assert client.pause_schedule("sync-1", "note").note == "note"
        assert "sync-1" in [s.name for s in client.list_schedules(status="PAUSED").schedules]
        run = client.trigger_schedule("sync-1").runs[0]
        assert client.schedule_run("sync-1", run.dispatch_id, timeout=30).status == "SUCCESS"
        assert [r.dispatch_id for r in client.schedule_runs("sync-1").runs] == [run.dispatch_id]
        client.delete_schedule("sync-1")
        with pytest.raises(ApiError) as info_err:
            client.describe_schedule("sync-1")
        assert info_err.value.code == "schedule_not_found"


async def test_async_client_schedule_methods(server: ServerProcess) -> None:
    async with AsyncClient(server.url) as client:
        await client.create_schedule("async-1", "events", cron="0 0 * * *")
        detail = await client.describe_schedule("async-1", upcoming=2)
        assert len(detail.next_fire_times) == 2
        start = datetime(2025, 1, 1, tzinfo=UTC)
        runs = await client.backfill_schedule("async-1", start, start + timedelta(days=2, hours=1))
        assert len(runs.runs) == 2
        await client.delete_schedule("async-1")
        assert "async-1" not in [s.name for s in (await client.list_schedules()).schedules]
