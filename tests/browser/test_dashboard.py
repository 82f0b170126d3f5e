"""The dashboard driven as a person would: real headless Chromium (Playwright) against a real uvicorn
server with real DBOS. Every wait is Playwright's auto-waiting ``expect`` on page content; nothing sleeps.

Chromium comes from the system (``apt-get install -y chromium``; ``.ci/run`` installs it): Playwright cannot
download browsers here. Without it on PATH the browser tests are skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Page, Route, expect

from tests.support.inprocess import app_client
from tests.support.live_server import live_server
from tests.support.server_proc import TcpProxy

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


#: Guard for each expectation; the whole test is bounded by pytest-timeout.
WAIT_MS = 30_000
API_KEY = "dashboard-test-key"


def test_the_page_is_public_and_serves_only_its_own_files(database_url: str) -> None:
    with app_client(database_url, api_keys=[API_KEY]) as client:
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 307 and home.headers["location"] == "/ui/"
        page = client.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="js/app.js">' in page.text
        script = client.get("/ui/js/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        for outside in ("/ui/%2e%2e/ui.py", "/ui/%2e%2e/%2e%2e/server.py", "/ui/missing.js", "/ui/js"):
            r = client.get(outside)
            assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found", outside
        # The page is public; the API it calls is not.
        assert client.get("/v1/workflows").status_code == 401


def _start_from_form(page: Page, type_name: str, **fields: Any) -> str:
    """Fill the start form (generated from the type's input schema), submit, and return the new workflow id."""
    page.locator("#start-type").select_option(type_name)
    for name, value in fields.items():
        page.locator(f"#start-fields [name={name}]").fill(str(value))
    page.locator("#start-submit").click()
    expect(page).to_have_url(re.compile(r"#/workflows/[^/?]+$"))
    wid = page.locator(".wf-title").inner_text()
    assert wid
    return wid


def _stream_items(page: Page, key: str) -> list[tuple[int, Any]]:
    """The (offset, value) pairs a stream's tail shows, in page order."""
    items = page.locator(f'.stream[data-stream-key="{key}"] li')
    offsets = [int(o) for o in items.evaluate_all("els => els.map(e => e.dataset.offset)")]
    values = [json.loads(t) for t in items.locator("code.value").all_inner_texts()]
    return list(zip(offsets, values, strict=True))


def _snapshot(base_url: str, wid: str, key: str) -> list[tuple[int, Any]]:
    r = httpx.get(f"{base_url}/v1/workflows/{wid}/streams/{key}", params={"limit": 1000}, timeout=10)
    assert r.status_code == 200, r.text
    return [(v["offset"], v["value"]) for v in r.json()["values"]]


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _counter_request(page: Page, request_id: str, op: str = "add") -> None:
    """Send one request to a ``counter`` workflow from the page's message form (it appends to stream 'history')."""
    page.locator("#msg-body").fill(json.dumps({"request_id": request_id, "payload": {"op": op, "amount": 1}}))
    page.locator("#btn-send").click()
    expect(page.locator("#msg-outcome")).to_contain_text("delivered")
    page.locator("#msg-outcome").evaluate("el => { el.textContent = '' }")  # the next send shows afresh


def test_start_stream_and_approve_from_the_page(database_url: str, page: Page) -> None:
    with live_server(database_url) as server:
        page.goto(server.url + "/")  # redirected to /ui/
        expect(page.locator("#start-form")).to_be_visible()

        # A streaming workflow started from the generated form: its values appear live, in order, once each.
        wid = _start_from_form(page, "streaming", n_steps=5, step_delay_seconds=0.05)
        stream = page.locator('.stream[data-stream-key="progress_stream"]')
        expect(stream.locator("li")).to_have_count(12)
        expect(stream.locator(".tail-state")).to_have_attribute("data-state", "ended")
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")
        items = _stream_items(page, "progress_stream")
        assert [o for o, _ in items] == list(range(12))
        assert [v["type"] for _, v in items] == ["start"] + ["progress", "result"] * 5 + ["complete"]
        assert items == _snapshot(server.url, wid, "progress_stream")
        expect(page.locator("#wf-result")).to_contain_text('"stream_values": 12')
        expect(page.locator("#wf-step-rows tr").first).to_be_visible()

        # The live list shows it, and its type filter keeps the URL.
        page.locator("text=← all workflows").click()
        expect(page.locator(f'#workflow-rows tr[data-workflow-id="{wid}"] [data-status]')).to_have_text("SUCCESS")
        page.locator("#filter-type").select_option("messaging")
        expect(page).to_have_url(re.compile(r"type=messaging"))
        expect(page.locator("#list-empty")).to_be_visible()

        # An approval workflow: the page offers Approve while it waits; approving it completes it.
        approval_id = _start_from_form(page, "messaging", n_steps=2)
        expect(page.locator("#approval")).to_be_visible()
        page.locator("#approval-message").fill("ship it")
        page.locator("#btn-approve").click()
        expect(page.locator("#approval-outcome")).to_have_text("approval delivered")
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")
        expect(page.locator("#approval")).to_be_hidden()
        expect(page.locator("#wf-result")).to_contain_text('"approval_message": "ship it"')
        expect(page.locator("#wf-progress")).to_have_attribute("value", "100")
        expect(page.locator('#wf-event-rows tr[data-key="status"] .event-value')).to_have_text('"completed"')

        # Back in the list (filtered on messaging), the status changed without a reload.
        page.go_back()
        row = page.locator(f'#workflow-rows tr[data-workflow-id="{approval_id}"]')
        expect(row.locator("[data-status]")).to_have_text("SUCCESS")

        # A narrow window: no horizontal scrolling.
        page.set_viewport_size({"width": 380, "height": 800})
        expect(row).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_stream_tail_resumes_after_the_connection_is_cut(database_url: str, page: Page) -> None:
    # Browser ⇄ TcpProxy ⇄ server: drop_connections() cuts the live SSE connections mid-stream, as a network
    # failure or a restarted proxy would. The counter workflow writes one value per message, so the test
    # decides exactly which values exist before, during and after the cut.
    with live_server(database_url) as server, TcpProxy(urlsplit(server.url).port or 0) as proxy:
        page.goto(proxy.url + "/ui/")
        wid = _start_from_form(page, "counter")
        page.locator("#msg-panel summary").click()
        expect(page.locator("#msg-topic")).to_have_value("requests")
        tail = page.locator('.stream[data-stream-key="history"]')

        for i in range(3):
            _counter_request(page, f"r{i}")
        expect(tail.locator('li[data-offset="2"]')).to_be_visible()
        expect(tail.locator(".tail-state")).to_have_attribute("data-state", "live")

        proxy.drop_connections()
        expect(tail.locator(".tail-state")).to_have_attribute("data-state", "reconnecting")
        # Written while the tail is down: the reconnect (EventSource resends Last-Event-ID) must bring them.
        _counter_request(page, "r3")
        _counter_request(page, "r4")
        expect(tail.locator('li[data-offset="4"]')).to_be_visible()
        expect(tail.locator(".tail-state")).to_have_attribute("data-state", "live")
        expect(tail.locator(".tail-state")).to_have_attribute("data-reconnects", "1")

        _counter_request(page, "r5", op="stop")
        expect(tail.locator(".tail-state")).to_have_attribute("data-state", "ended")
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")
        items = _stream_items(page, "history")
        assert [o for o, _ in items] == list(range(6)), "a gap or a duplicate after the reconnect"
        assert [v["request_id"] for _, v in items] == [f"r{i}" for i in range(6)]
        assert items == _snapshot(server.url, wid, "history")


def test_api_keys_prompt_for_a_key_and_live_views_use_read_tokens(database_url: str, page: Page) -> None:
    with live_server(database_url, api_keys=[API_KEY]) as server:
        page.goto(server.url + "/ui/")
        expect(page.locator("#key-dialog")).to_be_visible()
        expect(page.locator("#key-reason")).to_contain_text("requires an API key")
        page.locator("#key-input").fill(API_KEY)
        page.locator("#key-save").click()
        expect(page.locator("#key-button")).to_have_text("API key ✓")

        # The key stays out of live requests' URLs: the feed runs with read tokens minted for this workflow.
        token_urls: list[str] = []
        page.on("request", lambda r: token_urls.append(r.url) if "access_token=" in r.url else None)
        _start_from_form(page, "streaming", n_steps=3)
        stream = page.locator('.stream[data-stream-key="progress_stream"]')
        expect(stream.locator("li")).to_have_count(8)
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")
        assert any("/v1/workflows/" in u and "/feed?" in u for u in token_urls), token_urls

        # Sessions need the key itself (read tokens are per workflow): the tail runs over fetch with it.
        page.locator("nav a[data-view=sessions]").click()
        page.locator("#session-id").fill("dash-session")
        page.locator("#session-tail").click()
        expect(page.locator("#session-state")).to_have_attribute("data-state", "live")
        page.locator("#session-data").fill('{"text": "hello"}')
        page.locator("#session-post").click()
        expect(page.locator('#session-rows tr[data-offset="0"]')).to_contain_text('{"text":"hello"}')
        page.locator("#session-type").fill("done")
        page.locator("#session-post").click()
        expect(page.locator("#session-state")).to_have_attribute("data-state", "ended")
        expect(page.locator("#session-rows tr")).to_have_count(2)

        # A wrong key brings the dialog back.
        page.evaluate("sessionStorage.setItem('dbos-comm.api-key', 'wrong')")
        page.goto(server.url + "/ui/#/workflows")
        page.reload()
        expect(page.locator("#key-reason")).to_contain_text("refused the key")


def test_schedules_view_pauses_resumes_and_triggers(database_url: str, page: Page) -> None:
    with live_server(database_url) as server:
        created = httpx.post(
            f"{server.url}/v1/schedules",
            json={"name": "dash-nightly", "type": "events", "input": {"n_steps": 1}, "cron": "0 3 * * *"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        page.goto(server.url + "/ui/#/schedules")
        row = page.locator('#schedule-rows tr[data-schedule="dash-nightly"]')
        expect(row.locator(".badge")).to_have_text("ACTIVE")
        row.locator("[data-action=pause]").click()
        expect(row.locator(".badge")).to_have_text("PAUSED")
        row.locator("[data-action=resume]").click()
        expect(row.locator(".badge")).to_have_text("ACTIVE")
        row.locator("[data-action=trigger]").click()
        link = page.locator("#schedule-last-run a")
        expect(link).to_be_visible()
        run_id = link.inner_text()
        link.click()
        expect(page.locator(".wf-title")).to_have_text(run_id)
        expect(page.locator("#wf-status")).to_have_text("SUCCESS")


def test_a_refused_reconnect_is_rebuilt_with_a_fresh_token_from_the_next_offset(database_url: str, page: Page) -> None:
    # When the feed's reconnect is refused (here: the read token in its URL answered 401, as an expired one
    # would), the page must mint a new token and reconnect from the feed's cursor: still no gap and no duplicate.
    with (
        live_server(database_url, api_keys=[API_KEY]) as server,
        TcpProxy(urlsplit(server.url).port or 0) as proxy,
    ):
        page.goto(proxy.url + "/ui/")
        page.evaluate(f"sessionStorage.setItem('dbos-comm.api-key', {json.dumps(API_KEY)})")
        page.reload()
        wid = _start_from_form(page, "counter")
        page.locator("#msg-panel summary").click()
        tail = page.locator('.stream[data-stream-key="history"]')
        for i in range(3):
            _counter_request(page, f"r{i}")
        expect(tail.locator('li[data-offset="2"]')).to_be_visible()

        refused: list[str] = []
        tail_urls: list[str] = []

        def refuse_first_resume(route: Route) -> None:
            tail_urls.append(route.request.url)
            # The first request after the cut is the feed's reconnect from its cursor. Refuse it; let everything
            # else through.
            if not refused:
                refused.append(route.request.url)
                body = {"error": {"code": "token_expired", "message": "read token expired", "details": {}}}
                route.fulfill(status=401, content_type="application/json", body=json.dumps(body))
            else:
                route.continue_()

        page.route(re.compile(r"/feed\?"), refuse_first_resume)
        mints: list[str] = []
        page.on("request", lambda r: mints.append(r.url) if r.url.endswith("/read-token") else None)
        proxy.drop_connections()
        _counter_request(page, "r3")
        _counter_request(page, "r4")
        expect(tail.locator('li[data-offset="4"]')).to_be_visible()
        expect(tail.locator(".tail-state")).to_have_attribute("data-reconnects", "1")
        assert len(refused) == 1 and "cursor=" in refused[0], refused
        assert "cursor=" in tail_urls[-1] and "access_token=" in tail_urls[-1], tail_urls
        assert _query(tail_urls[-1])["access_token"] != _query(refused[0])["access_token"], "no fresh read token"
        assert len(mints) >= 1, "the rebuilt tail asked for a fresh read token"

        _counter_request(page, "r5", op="stop")
        expect(tail.locator(".tail-state")).to_have_attribute("data-state", "ended")
        items = _stream_items(page, "history")
        assert [o for o, _ in items] == list(range(6)), "a gap or a duplicate after the rebuilt tail"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        snapshot = httpx.get(f"{server.url}/v1/workflows/{wid}/streams/history", headers=headers, timeout=10)
        assert items == [(v["offset"], v["value"]) for v in snapshot.json()["values"]]
