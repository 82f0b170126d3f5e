"""The dashboard's workflow view runs on one feed (the dbos-comm package's ``workflow(id).feed``): real Chromium
against a real server with real DBOS. Every request the page makes is recorded (Playwright's ``page.on("request")``)
to show there is exactly one feed connection per workflow view and no polling beside it.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Page, Request, expect

from tests.support.live_server import live_server

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

WAIT_MS = 30_000
#: How long the view is watched for polling: more than the old per-second poll, twice.
WATCH_SECONDS = 2.5


def _start_counter(http: httpx.Client) -> str:
    r = http.post("/v1/workflows", json={"type": "counter", "input": {}})
    assert r.status_code == 201, r.text
    return str(r.json()["workflow_id"])


def _send(http: httpx.Client, wid: str, request_id: str, op: str = "add") -> None:
    message = {"request_id": request_id, "payload": {"op": op, "amount": 1}}
    r = http.post(f"/v1/workflows/{wid}/messages", json={"topic": "requests", "message": message})
    assert r.status_code < 300, r.text


def test_one_feed_per_workflow_view_and_no_polling_beside_it(database_url: str, page: Page) -> None:
    with live_server(database_url) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        paths: list[str] = []

        def record(request: Request) -> None:
            paths.append(urlsplit(request.url).path)

        page.on("request", record)
        # The package is served from the Python package's own files (generated copy; no CDN).
        vendored = http.get("/ui/vendor/dbos-comm/index.js")
        assert vendored.status_code == 200 and vendored.headers["content-type"].startswith("text/javascript")
        assert vendored.text.startswith("// generated from js/ by .ci/gen_dashboard_client.py: do not edit")
        first, second = _start_counter(http), _start_counter(http)
        page.goto(f"{server.url}/ui/#/workflows/{first}")
        expect(page.locator(".wf-title")).to_have_text(first)
        expect(page.locator("#wf-events-state")).to_have_attribute("data-state", "live")
        expect(page.locator('#wf-event-rows tr[data-key="status"] .event-value')).to_have_text('"running"')

        # Values and events arrive live while the view is open; the page is watched all along.
        watched_from = len(paths)
        history = page.locator('.stream[data-stream-key="history"]')
        started = time.monotonic()
        sent = 0
        while sent < 3 or time.monotonic() - started < WATCH_SECONDS:
            assert sent < 500, "the watch never ended"
            _send(http, first, f"r{sent}")
            expect(history.locator(f'li[data-offset="{sent}"]')).to_contain_text(f'"request_id":"r{sent}"')
            expect(page.locator('#wf-event-rows tr[data-key="value"] .event-value')).to_have_text(str(sent + 1))
            sent += 1
        expect(history.locator(".tail-state")).to_have_attribute("data-state", "live")
        watched = paths[watched_from:]
        workflow_path = f"/v1/workflows/{first}"
        polls = [p for p in watched if p == workflow_path or p.startswith(f"{workflow_path}/streams")]
        assert polls == [], f"polling beside the feed: {polls}"
        assert [p for p in watched if p.startswith(workflow_path)] == [], watched

        # The end: the feed brings the final status and output; the feed connection stops.
        _send(http, first, f"r{sent}", op="stop")
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")
        expect(page.locator("#wf-events-state")).to_have_attribute("data-state", "ended")
        expect(history.locator(".tail-state")).to_have_attribute("data-state", "ended")
        expect(history.locator("li")).to_have_count(sent + 1)
        expect(page.locator("#wf-result")).to_contain_text('"value"')
        expect(page.locator('#wf-event-rows tr[data-key="status"] .event-value')).to_have_text('"stopped"')
        expect(page.locator("#wf-step-rows tr").first).to_be_visible()  # steps read once at the end

        # A second workflow view: one more feed, for that workflow.
        page.goto(f"{server.url}/ui/#/workflows/{second}")
        expect(page.locator(".wf-title")).to_have_text(second)
        expect(page.locator("#wf-events-state")).to_have_attribute("data-state", "live")
        _send(http, second, "s0")
        expect(page.locator('.stream[data-stream-key="history"] li[data-offset="0"]')).to_be_visible()

        feeds = [p for p in paths if p.endswith("/feed")]
        assert feeds == [f"/v1/workflows/{first}/feed", f"/v1/workflows/{second}/feed"], feeds
        # Nothing polls the streams at all: stream values only come from the feed.
        assert [p for p in paths if "/streams" in p] == []
