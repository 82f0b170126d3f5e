"""Requests for human input answered as a person would, in real headless Chromium against a real uvicorn server:
one from the signed link's generated form (no API key), one from the dashboard's live Inbox (with an API key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
from playwright.sync_api import Browser, expect

from tests.support import inbox_workflows
from tests.support.inbox_workflows import ASK_TOPIC
from tests.support.live_server import live_server

pytestmark = pytest.mark.backend_independent
assert inbox_workflows  # registers inbox_ask

API_KEY = "inbox-browser-key"
WAIT_MS = 30_000


def _ask(admin: httpx.Client, workflow_id: str, **inputs: Any) -> dict[str, Any]:
    """Start ``inbox_ask`` and return its request once recorded (the event GET blocks until it is set)."""
    body = {"type": "inbox_ask", "workflow_id": workflow_id, "input": inputs}
    assert admin.post("/v1/workflows", json=body).status_code == 201
    r = admin.get(f"/v1/workflows/{workflow_id}/events/request.{ASK_TOPIC}", params={"timeout": 30})
    assert r.status_code == 200, r.text
    item: dict[str, Any] = admin.get(f"/v1/workflows/{workflow_id}/requests/{ASK_TOPIC}").json()
    return item


def test_a_person_answers_from_the_signed_links_generated_form(
    database_url: str, tmp_path: Path, browser: Browser
) -> None:
    with live_server(database_url, api_keys=[API_KEY], data_dir=tmp_path) as server:
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        with admin:
            item = _ask(admin, "br-link", prompt="Refund order 12?")
            context = browser.new_context()  # no API key: the link is the credential
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url + item["links"]["signed"])
            expect(page.get_by_role("heading")).to_have_text("Input requested")
            expect(page.locator(".prompt")).to_have_text("Refund order 12?")
            page.locator("#f-approved").select_option("true")
            page.locator("#f-amount").fill("25")
            page.locator("#f-priority").select_option(label="high")
            page.locator("#f-note").fill("customer is right")
            page.get_by_role("button", name="Submit answer").click()
            expect(page.get_by_role("heading")).to_have_text("Thank you")
            outcome = admin.get("/v1/workflows/br-link/result", params={"timeout": 30}).json()
            assert outcome["output"] == {
                "answered": {"approved": True, "amount": 25, "priority": "high", "note": "customer is right"}
            }
            again = page.goto(server.url + item["links"]["signed"])
            assert again is not None and again.status in (409, 410)
            context.close()


def test_a_person_answers_from_the_dashboards_live_inbox(database_url: str, tmp_path: Path, browser: Browser) -> None:
    with live_server(database_url, api_keys=[API_KEY], data_dir=tmp_path, inbox_poll_seconds=0.1) as server:
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        with admin:
            context = browser.new_context()
            context.add_init_script(f"sessionStorage.setItem('dbos-comm.api-key', {json.dumps(API_KEY)})")
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url + "/ui/#/inbox")
            expect(page.locator("#inbox-empty")).to_be_visible()
            _ask(admin, "br-dash", prompt="Refund order 13?", assignees=["ana"])
            card = page.locator('.inbox-item[data-workflow-id="br-dash"]')
            expect(card.locator(".inbox-prompt")).to_have_text("Refund order 13?")  # arrived live
            expect(card.locator("a.inbox-workflow")).to_have_attribute("href", "#/workflows/br-dash")
            card.locator("#input-approved").check()
            card.locator("#input-amount").fill("77")
            card.locator("#input-priority").select_option(label="high")
            card.get_by_role("button", name="Answer").click()
            expect(card).to_have_count(0)  # answered: gone from the live inbox
            outcome = admin.get("/v1/workflows/br-dash/result", params={"timeout": 30}).json()
            assert outcome["output"] == {"answered": {"approved": True, "amount": 77, "priority": "high", "note": ""}}
            _ask(admin, "br-dash-2", prompt="Refund order 14?")
            link = page.locator('.inbox-item[data-workflow-id="br-dash-2"] a.inbox-workflow')
            link.click()  # one click from a request to its workflow view
            expect(page).to_have_url(server.url + "/ui/#/workflows/br-dash-2")
            context.close()
