"""A callback link used as a person would: real headless Chromium (Playwright) against a real uvicorn server.

The approver has no API key: they open the link a workflow published, add a comment, press Approve, and see
the answer; opening the link again says it was used. Every wait is Playwright's auto-waiting ``expect``.
Without ``chromium`` on PATH the test is skipped (``.ci/run`` installs it).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Browser, expect

from tests.support.live_server import live_server

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

API_KEY = "callback-browser-key"
WAIT_MS = 30_000


def test_an_approver_approves_once_from_a_browser_without_an_api_key(
    database_url: str, tmp_path: Path, browser: Browser
) -> None:
    with live_server(database_url, api_keys=[API_KEY], data_dir=tmp_path) as server:
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        with admin:
            body = {"type": "messaging", "workflow_id": "cb-browser", "input": {"n_steps": 2, "callback_link": True}}
            assert admin.post("/v1/workflows", json=body).status_code == 201
            link = admin.get("/v1/workflows/cb-browser/events/approval_link", params={"timeout": 30}).json()["value"]

            context = browser.new_context()  # no Authorization header anywhere
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url + link["path"])
            expect(page.get_by_role("heading")).to_have_text("Approval requested")
            expect(page.locator(".prompt")).to_contain_text("Approve running 2 step(s) of workflow cb-browser?")
            page.get_by_label("Comment (optional)").fill("Looks good to me")
            page.get_by_role("button", name="Approve").click()
            expect(page.get_by_role("heading")).to_have_text("Thank you")
            expect(page.locator("body")).to_contain_text("approved")

            outcome = admin.get("/v1/workflows/cb-browser/result", params={"timeout": 30}).json()
            assert outcome["output"]["status"] == "completed"
            assert outcome["output"]["approval_message"] == "Looks good to me"

            answer = page.goto(server.url + link["path"])
            assert answer is not None and answer.status == 409
            expect(page.get_by_role("heading")).to_have_text("Link already used")
            context.close()
