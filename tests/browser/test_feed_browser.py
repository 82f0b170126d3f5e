"""The workflow feed in a real browser: a plain ``EventSource`` with only ``onmessage`` on
``/v1/workflows/{id}/feed`` (filtered to one stream) receives every value, then ``end``, and after the end opens
exactly one more connection, answered ``204``, which stops it for good (headless Chromium through Playwright,
against a real ``python server.py``). Skipped without ``chromium`` on PATH."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Request, Response

from tests.support.feed_workflow import GO_TOPIC
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.timeout(180)

WAIT_MS = 60_000

# Nothing but what a page that never calls close() would write.
LISTEN = """(path) => {
    window.got = [];
    const source = new EventSource(path);
    window.source = source;
    source.onmessage = (e) => { window.got.push({id: e.lastEventId, data: JSON.parse(e.data)}); };
}"""


def test_a_browser_eventsource_gets_every_value_then_stops_after_the_end(
    database_url: str, tmp_path: Path, browser: Browser
) -> None:
    env = {"COMM_WORKFLOWS": "workflows,tests.support.feed_workflow"}
    with (
        ServerProcess(database_url, log_dir=tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        wid = "feed-browser-1"
        r = http.post("/v1/workflows", json={"type": "feed_busy", "input": {"rounds": 3}, "workflow_id": wid})
        assert r.status_code == 201, r.text
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        requests: list[str] = []
        statuses: list[int] = []

        def on_request(req: Request) -> None:
            if "/feed" in req.url:
                requests.append(req.url)

        def on_response(resp: Response) -> None:
            if "/feed" in resp.url:
                statuses.append(resp.status)

        page.on("request", on_request)
        page.on("response", on_response)
        page.goto(f"{server.url}/health")  # any page of the server's origin
        page.evaluate(LISTEN, f"/v1/workflows/{wid}/feed?streams=tokens&events=&status=0")
        page.wait_for_function("window.got.length >= 3")  # t0..t2, then the workflow waits for 'go'
        assert http.post(f"/v1/workflows/{wid}/messages", json={"topic": GO_TOPIC, "message": 1}).status_code < 300
        # After `end` the server ends the response; the browser reconnects once with Last-Event-ID, gets 204 and
        # stops (readyState CLOSED), without the page ever calling close().
        page.wait_for_function("window.source.readyState === 2")
        got = page.evaluate("window.got")
        assert [g["data"] for g in got] == [
            *({"kind": "stream", "key": "tokens", "offset": n, "value": f"t{n}"} for n in range(6)),
            {"kind": "end", "status": "SUCCESS", "output": {"rounds": 3}},
        ]
        assert len({g["id"] for g in got}) == len(got)
        assert len(requests) == 2, requests  # the first connection, and exactly one after the end
        assert statuses == [200, 204]
