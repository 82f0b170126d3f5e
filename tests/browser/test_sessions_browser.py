"""Seed 004 in a real browser: ``new EventSource('/stream/SID')`` with ``onmessage`` receives exactly the payloads
producers posted, with their durable offsets as ``lastEventId`` (headless Chromium through Playwright, against a
real uvicorn server). Skipped without ``chromium`` on PATH (``.ci/run`` installs it)."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Browser

from tests.support.live_server import live_server

WAIT_MS = 30_000

LISTEN = """(path) => {
    window.got = [];
    window.opened = false;
    const source = new EventSource(path);
    window.source = source;
    source.onopen = () => { window.opened = true; };
    source.onmessage = (e) => { window.got.push({id: e.lastEventId, data: JSON.parse(e.data)}); };
}"""


def test_a_browser_eventsource_onmessage_receives_the_posted_payloads(database_url: str, browser: Browser) -> None:
    posts = [
        {"type": "thinking", "content": "Reading the repository"},
        {"type": "progress", "data": {"pct": 50}},
        {"plain": "payload without a type"},
        {"type": "done", "result": "ok"},
    ]
    with live_server(database_url) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{server.url}/health")  # any page of the server's origin
        page.evaluate(LISTEN, "/stream/browser-1")
        page.wait_for_function("window.opened")
        for body in posts:
            assert http.post("/events/browser-1", json=body).status_code == 202
        page.wait_for_function(f"window.got.length >= {len(posts)}")
        page.evaluate("window.source.close()")
        got = page.evaluate("window.got")
        assert got == [{"id": str(i), "data": body} for i, body in enumerate(posts)]
