"""The inbox in-process: a workflow that asks is listed, takes one valid answer, refuses invalid ones with the
schema's errors, times out into its timeout branch, and leaves the inbox when answered, expired or cancelled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from communication.app.factory import create_app
from communication.core.inbox import schema_errors
from communication.core.services import Core
from tests.support import inbox_workflows
from tests.support.inbox_workflows import ASK_TOPIC, Decision
from tests.support.inprocess import app_client, make_settings, result, start, wait_event

assert inbox_workflows  # registers inbox_ask

VALID = {"approved": True, "amount": 120, "priority": "high", "note": "ok"}


@pytest.fixture
def api(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url, inbox_poll_seconds=0.05) as c:
        yield c


def _open(client: TestClient, workflow_id: str) -> dict[str, Any]:
    """The inbox entry of ``workflow_id`` once its request is recorded (each GET blocks for a newer event)."""
    version = 0
    while True:
        r = client.get(f"/v1/workflows/{workflow_id}/events/request.{ASK_TOPIC}", params={"timeout": 30})
        if r.status_code == 200:
            break
        assert r.status_code == 404, r.text
        r = client.get(f"/v1/workflows/{workflow_id}/events", params={"after_version": version, "timeout": 30})
        version = max([version, *(e["version"] for e in r.json().get("events", {}).values())])
    items = [i for i in client.get("/v1/inbox").json()["requests"] if i["workflow_id"] == workflow_id]
    assert len(items) == 1, items
    item: dict[str, Any] = items[0]
    return item


def _answer(client: TestClient, workflow_id: str, body: Any) -> Any:
    return client.post(f"/v1/workflows/{workflow_id}/requests/{ASK_TOPIC}/answer", json=body)


def test_a_request_is_listed_with_everything_needed_to_answer_it(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-1", prompt="Refund order 7?", assignees=["ana"])
    item = _open(api, "ask-1")
    assert item["workflow_name"] == "inbox_ask" and item["status"] == "open" and item["workflow_status"] == "PENDING"
    assert item["prompt"] == "Refund order 7?" and item["assignees"] == ["ana"] and item["topic"] == ASK_TOPIC
    assert item["schema"] == Decision.model_json_schema()
    assert item["links"]["answer"] == f"/v1/workflows/ask-1/requests/{ASK_TOPIC}/answer"
    assert item["links"]["signed"].startswith("/v1/callbacks/")
    assert api.get("/v1/inbox", params={"assignee": "bob"}).json()["requests"] == []
    assert len(api.get("/v1/inbox?status=open&application=&assignee=").json()["requests"]) == 1
    assert len(api.get("/v1/inbox", params={"assignee": "ana"}).json()["requests"]) == 1
    assert api.get(f"/v1/workflows/ask-1/requests/{ASK_TOPIC}").json()["seq"] == item["seq"]


def test_invalid_answers_are_refused_with_the_schemas_errors_and_nothing_is_delivered(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-bad")
    _open(api, "ask-bad")
    r = _answer(api, "ask-bad", {"approved": "maybe", "amount": 5000})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "answer_invalid"
    where = {tuple(e["loc"]) for e in error["details"]["errors"]}
    assert ("approved",) in where and ("amount",) in where
    assert _answer(api, "ask-bad", [1]).json()["error"]["code"] == "answer_invalid"
    assert _answer(api, "ask-bad", VALID).status_code == 200  # the refused answers spent nothing
    assert result(api, "ask-bad")["output"] == {"answered": VALID}


def test_concurrent_answers_one_wins_the_rest_are_already_answered(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-race")
    _open(api, "ask-race")
    bodies = [{**VALID, "amount": n} for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: _answer(api, "ask-race", b), bodies))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 7, [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"already_answered"}
    winner = next(b for b, a in zip(bodies, answers, strict=True) if a.status_code == 200)
    assert result(api, "ask-race")["output"] == {"answered": winner}
    again = _answer(api, "ask-race", VALID)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_answered"
    assert [i for i in api.get("/v1/inbox").json()["requests"] if i["workflow_id"] == "ask-race"] == []
    answered = api.get("/v1/inbox", params={"status": "answered"}).json()["requests"]
    assert [i["workflow_id"] for i in answered] == ["ask-race"]


def test_a_deadline_ends_in_the_timeout_branch_and_closes_the_request(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-late", timeout_seconds=1)
    out = result(api, "ask-late")["output"]
    assert "timeout" in out
    r = _answer(api, "ask-late", VALID)
    assert r.status_code == 410 and r.json()["error"]["code"] == "request_closed"
    expired = api.get("/v1/inbox", params={"status": "expired"}).json()["requests"]
    assert [i["workflow_id"] for i in expired] == ["ask-late"]


def test_a_cancelled_workflow_leaves_the_inbox(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-cancel")
    _open(api, "ask-cancel")
    assert api.post("/v1/workflows/ask-cancel/cancel").status_code in (200, 202)
    assert api.get("/v1/inbox").json()["requests"] == []
    cancelled = api.get("/v1/inbox", params={"status": "cancelled"}).json()["requests"]
    assert [i["workflow_id"] for i in cancelled] == ["ask-cancel"]
    assert _answer(api, "ask-cancel", VALID).json()["error"]["code"] == "request_closed"


def test_unknown_requests_and_bad_filters(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-x")
    wait_event(api, "ask-x", "status", "asking")
    r = _answer(api, "nobody", VALID)
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"
    r = api.post("/v1/workflows/ask-x/requests/other/answer", json=VALID)
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"
    assert api.get("/v1/inbox", params={"status": "weird"}).status_code == 422


def test_the_live_inbox_shows_a_request_when_asked_and_drops_it_when_answered(api: TestClient) -> None:
    with api.stream("GET", "/v1/inbox/live") as live:
        lines = live.iter_lines()
        snapshots = (line for line in lines if line.startswith("data: "))
        first = next(snapshots)
        assert first == 'data: {"requests":[]}'
        start(api, "inbox_ask", "ask-live")
        seen = next(snapshots)
        assert '"workflow_id":"ask-live"' in seen
        assert _answer(api, "ask-live", VALID).status_code == 200
        assert next(snapshots) == 'data: {"requests":[]}'


def test_schema_errors_name_each_problem() -> None:
    schema = Decision.model_json_schema()
    assert schema_errors(schema, VALID) == []
    problems = schema_errors(schema, {"amount": -1, "priority": "urgent"})
    assert {p["rule"] for p in problems} == {"required", "minimum", "enum"}


def test_the_signed_link_renders_the_schema_as_a_form_and_answers_once(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-link", prompt="Refund order 9?")
    path = _open(api, "ask-link")["links"]["signed"]
    browser = TestClient(api.app)
    page = browser.get(path)
    assert page.status_code == 200 and "Refund order 9?" in page.text
    assert '<select name="approved"' in page.text and '<select name="priority"' in page.text
    assert 'type="number" name="amount"' in page.text and 'min="0"' in page.text and 'max="1000"' in page.text
    bad = browser.post(path, data={"approved": "true", "amount": "5000", "priority": '"low"'})
    assert bad.status_code == 422 and bad.headers["x-error-code"] == "answer_invalid"
    assert "5000 is greater than the maximum of 1000" in bad.text and 'name="amount"' in bad.text
    done = browser.post(path, data={"approved": "true", "amount": "30", "priority": '"high"', "note": "fine"})
    assert done.status_code == 200 and "recorded" in done.text, done.text
    assert result(api, "ask-link")["output"] == {
        "answered": {"approved": True, "amount": 30, "priority": "high", "note": "fine"}
    }
    again = browser.post(path, data={"approved": "false", "amount": "1"})
    assert again.status_code in (409, 410)
    assert _answer(api, "ask-link", VALID).json()["error"]["code"] == "already_answered"


def test_link_api_and_dashboard_answers_race_and_one_wins(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-three")
    path = _open(api, "ask-three")["links"]["signed"]
    browser = TestClient(api.app)

    def via_link() -> int:
        r = browser.post(path, data={"approved": "false", "amount": "1", "priority": '"low"'})
        return 200 if "recorded" in r.text else r.status_code

    def via_api() -> int:
        return int(_answer(api, "ask-three", {**VALID, "amount": 2}).status_code)

    def via_dashboard() -> int:
        url = f"/v1/workflows/ask-three/requests/{ASK_TOPIC}/answer?via=dashboard"
        return int(api.post(url, json={**VALID, "amount": 3}).status_code)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(f) for f in (via_link, via_api, via_dashboard) * 2]
        codes = sorted(f.result() for f in futures)
    assert codes == [200, 409, 409, 409, 409, 409], codes
    assert result(api, "ask-three")["output"]["answered"]["amount"] in (1, 2, 3)


def test_a_plain_message_on_the_topic_still_answers_and_invalid_ones_are_ignored(api: TestClient) -> None:
    start(api, "inbox_ask", "ask-plain")
    _open(api, "ask-plain")
    url = "/v1/workflows/ask-plain/messages"
    assert api.post(url, json={"topic": ASK_TOPIC, "message": {"approved": "nope"}}).status_code == 202
    assert api.post(url, json={"topic": ASK_TOPIC, "message": VALID}).status_code == 202
    assert result(api, "ask-plain")["output"] == {"answered": VALID}
    assert api.get(f"/v1/workflows/ask-plain/requests/{ASK_TOPIC}").json()["status"] == "answered"


async def test_one_inbox_read_serves_every_live_subscriber(database_url: str) -> None:
    app = create_app(make_settings(database_url, inbox_poll_seconds=60))
    async with app.router.lifespan_context(app):
        core: Core = app.state.core
        feed = core.inbox_feed
        async with contextlib.AsyncExitStack() as stack:
            queues = [await stack.enter_async_context(feed.subscribe()) for _ in range(50)]
            snapshots = [await q.get() for q in queues]
            assert feed.subscribers == 50 and feed.reads == 1  # one database read for all fifty
            assert all(s == [] for s in snapshots)
        assert feed.subscribers == 0  # the last one gone: the poll stops
