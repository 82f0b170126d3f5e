"""Callback links: publish from a workflow, approve from a browser form once; reuse, expiry, tampering."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from communication.core.security.approval_links import CallbackLinks
from communication.core.security.credentials import SECRET_FILE, b64url, unb64url
from tests.support.inprocess import app_client, result, start, wait_event

SECRET = "callback-test-secret-0123456789"


@pytest.fixture
def links_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """An app with API keys required (links must work without one), a fixed server secret, and the test client's
    host allowed (so links minted over the API are absolute)."""
    with app_client(
        database_url, api_keys=["admin-key"], server_secret=SECRET, data_dir=tmp_path, allowed_hosts=["testserver"]
    ) as c:
        c.headers["Authorization"] = "Bearer admin-key"
        yield c


def _browser(client: TestClient) -> TestClient:
    """A client without the API key, as an approver's browser would be."""
    browser = TestClient(client.app)
    return browser


def _mint(client: TestClient, workflow_id: str, **body: object) -> dict[str, str]:
    r = client.post(f"/v1/workflows/{workflow_id}/callback-links", json=body)
    assert r.status_code == 201, r.text
    link: dict[str, str] = r.json()
    return link


def test_workflow_link_approves_from_a_browser_exactly_once(links_client: TestClient) -> None:
    start(links_client, "messaging", "cb-approve", n_steps=2, callback_link=True, timeout_seconds=600)
    link = wait_event(links_client, "cb-approve", "status", "waiting_for_approval")
    link = links_client.get("/v1/workflows/cb-approve/events/approval_link").json()["value"]
    assert link["path"].startswith("/v1/callbacks/") and link["topic"] == "notification"
    browser = _browser(links_client)
    page = browser.get(link["path"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Approve running 2 step(s) of workflow cb-approve?" in page.text
    assert 'value="approve"' in page.text and 'name="comment"' in page.text
    assert (
        page.headers["referrer-policy"] == "no-referrer"
        and "frame-ancestors 'none'" in (page.headers["content-security-policy"])
    )
    done = browser.post(link["path"], data={"decision": "approve", "comment": "LGTM"})
    assert done.status_code == 200 and "approved" in done.text
    out = result(links_client, "cb-approve")["output"]
    assert out["status"] == "completed" and out["approval_message"] == "LGTM"
    again = browser.post(link["path"], data={"decision": "reject"})
    assert again.status_code == 409 and again.headers["x-error-code"] == "link_used"
    assert browser.get(link["path"]).status_code == 409


def test_reject_through_a_link_cancels_with_the_default_message(links_client: TestClient) -> None:
    start(links_client, "messaging", "cb-reject", n_steps=1, callback_link=True)
    wait_event(links_client, "cb-reject", "status", "waiting_for_approval")
    path = links_client.get("/v1/workflows/cb-reject/events/approval_link").json()["value"]["path"]
    r = _browser(links_client).post(path, data={"decision": "reject"})
    assert r.status_code == 200 and "rejected" in r.text
    assert result(links_client, "cb-reject")["output"] == {
        "status": "cancelled",
        "reason": "Rejected via callback link",
    }


def test_api_minted_link_is_absolute_scoped_to_its_topic_and_used_once(links_client: TestClient) -> None:
    start(links_client, "test_none_event", "cb-api")
    link = _mint(links_client, "cb-api", topic="go", prompt="Ship <it>?", ttl_seconds=600)
    assert link["url"] == "http://testserver" + link["path"] and link["workflow_id"] == "cb-api"
    browser = _browser(links_client)
    page = browser.get(link["path"])
    assert "Ship &lt;it&gt;?" in page.text and "<it>" not in page.text

    def post(_: int) -> int:
        status: int = browser.post(link["path"], data={"decision": "approve"}).status_code
        return status

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(post, range(6)))
    assert outcomes.count(200) == 1 and outcomes.count(409) == 5
    assert result(links_client, "cb-api")["output"] == "done"


def test_expired_link_is_410_and_delivers_nothing(links_client: TestClient) -> None:
    start(links_client, "test_none_event", "cb-old")
    links: CallbackLinks = links_client.app.state.core.links  # type: ignore[attr-defined]
    old = links.mint("cb-old", "go", ttl_seconds=60, now=time.time() - 3600)
    browser = _browser(links_client)
    for r in (browser.get(old.path), browser.post(old.path, data={"decision": "approve"})):
        assert r.status_code == 410 and r.headers["x-error-code"] == "link_expired"
    assert links_client.get("/v1/workflows/cb-old").json()["status"] == "PENDING"


def test_tampered_or_foreign_links_are_404_and_say_nothing(links_client: TestClient, tmp_path: Path) -> None:
    start(links_client, "test_none_event", "cb-mine")
    start(links_client, "test_none_event", "cb-other")
    link = _mint(links_client, "cb-mine", topic="go")
    token = link["path"].removeprefix("/v1/callbacks/")
    payload, signature = token.split(".")
    retargeted = b64url(unb64url(payload).replace(b"cb-mine", b"cb-othe"))  # same length, other workflow
    read_token = links_client.post("/v1/workflows/cb-mine/read-token").json()["token"]
    browser = _browser(links_client)
    for bad in (
        f"{retargeted}.{signature}",
        f"{payload}.{signature[:-2]}AA",
        payload,
        "garbage",
        "x" * 5000,
        read_token,  # signed by this server, but for reading: another key
    ):
        for r in (browser.get(f"/v1/callbacks/{bad}"), browser.post(f"/v1/callbacks/{bad}", data={"decision": "x"})):
            assert r.status_code == 404, (bad[:20], r.status_code)
            assert r.headers["x-error-code"] == "link_not_found"
            assert "cb-" not in r.text
    assert links_client.get("/v1/workflows/cb-other").json()["status"] == "PENDING"


def test_link_of_a_finished_workflow_is_closed(links_client: TestClient) -> None:
    start(links_client, "test_none_event", "cb-closed")
    link = _mint(links_client, "cb-closed", topic="elsewhere")
    links_client.post("/v1/workflows/cb-closed/messages", json={"topic": "go", "message": 1})
    result(links_client, "cb-closed")
    browser = _browser(links_client)
    assert browser.get(link["path"]).status_code == 410
    r = browser.post(link["path"], data={"decision": "approve"})
    assert r.status_code == 410 and r.headers["x-error-code"] == "link_closed"
    finished = links_client.post("/v1/workflows/cb-closed/callback-links", json={})
    assert finished.status_code == 409 and finished.json()["error"]["code"] == "workflow_finished"


def test_invalid_decisions_are_422_and_leave_the_link_usable(links_client: TestClient) -> None:
    start(links_client, "test_none_event", "cb-form")
    path = _mint(links_client, "cb-form", topic="go")["path"]
    browser = _browser(links_client)
    assert browser.post(path, data={"decision": "maybe"}).status_code == 422
    assert browser.post(path, json={"decision": "approve"}).status_code == 422
    assert browser.post(path, data={"decision": "approve", "comment": "x" * 2001}).status_code == 422
    assert browser.post(path, data={"decision": "approve"}).status_code == 200


def test_minting_needs_an_api_key_and_an_existing_workflow(links_client: TestClient) -> None:
    browser = _browser(links_client)
    r = browser.post("/v1/workflows/ghost/callback-links", json={})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = links_client.post("/v1/workflows/ghost/callback-links", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_generated_secret_is_persisted_so_links_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, data_dir=tmp_path) as first:
        start(first, "test_none_event", "cb-restart")
        path = _mint(first, "cb-restart", topic="go")["path"]
    secret_file = tmp_path / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with app_client(database_url, data_dir=tmp_path) as second:
        assert second.get(path).status_code == 200
        assert second.post(path, data={"decision": "approve"}).status_code == 200
        assert result(second, "cb-restart")["output"] == "done"
    with app_client(database_url, data_dir=tmp_path / "elsewhere") as other_secret:
        assert other_secret.get(path).status_code == 404
