"""Both clients against a real ``python server.py`` subprocess (every method): each test runs with the sync
``Client`` and with the ``AsyncClient`` it is generated from (driven through an event-loop thread), plus a unit
test of the error mapping on canned answers."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from communication.client import Client
from communication.client import errors as ce
from communication.client.models import LiveEnd
from communication.client.sse import RetryPolicy
from communication.protocol.models import StreamItem
from tests.support.blocking_client import blocking_async_client
from tests.support.server_proc import (
    ServerProcess,
    TcpProxy,
    free_port,
)

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, log_dir=tmp_path) as proc:
        yield proc


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[Client]:
    """The sync client, or the async client with the sync calling convention: one suite for both."""
    if request.param == "sync":
        with Client(server.url) as c:
            yield c
    else:
        with blocking_async_client(server.url) as c:
            yield c


def add(client: Client, workflow_id: str, amount: int) -> Any:
    """One request into a counter workflow; returns its reply value."""
    return client.send_and_wait(workflow_id, {"op": "add", "amount": amount}, timeout=30).value


# --- workflows ---


def test_start_is_idempotent_per_id_and_result_waits_for_the_outcome(client: Client) -> None:
    started = client.start("events", {"n_steps": 3}, workflow_id="wf-1")
    assert (started.workflow_id, started.type, started.created) == ("wf-1", "events", True)
    again = client.start("events", {"n_steps": 3}, workflow_id="wf-1")
    assert again.created is False
    outcome = client.result("wf-1", timeout=30)
    assert outcome.done and outcome.status == "SUCCESS"
    assert outcome.output["total_steps"] == 3
    info = client.status("wf-1")
    assert info.status == "SUCCESS" and info.input == {"n_steps": 3, "step_delay_seconds": 0.0}


def test_start_errors_map_to_the_documented_exceptions(client: Client) -> None:
    with pytest.raises(ce.UnknownWorkflowType) as unknown:
        client.start("no-such-type")
    assert unknown.value.status == 422 and "events" in unknown.value.details["known"]
    with pytest.raises(ce.ValidationFailed):
        client.start("events", {"n_steps": 0})
    client.start("events", {"n_steps": 1}, workflow_id="taken")
    with pytest.raises(ce.WorkflowIdConflict) as conflict:
        client.start("counter", {}, workflow_id="taken")
    assert isinstance(conflict.value, ce.Conflict) and conflict.value.code == "workflow_id_conflict"
    with pytest.raises(ce.WorkflowNotFound) as missing:
        client.status("nope")
    assert missing.value.details == {"workflow_id": "nope"}


def test_list_workflows_filters_by_type_and_status(client: Client) -> None:
    client.start("events", {"n_steps": 1}, workflow_id="l-events")
    client.start("counter", {}, workflow_id="l-counter")
    client.result("l-events", timeout=30)
    counters = client.list_workflows(type_name="counter")
    assert [w.workflow_id for w in counters.workflows] == ["l-counter"]
    done = client.list_workflows(status="SUCCESS", limit=10)
    assert [w.workflow_id for w in done.workflows] == ["l-events"]
    with pytest.raises(ce.ValidationFailed):
        client.list_workflows(status="BOGUS")


def test_result_not_done_then_cancel_resume_and_approve(client: Client) -> None:
    client.start("messaging", {"n_steps": 2}, workflow_id="appr")
    assert client.get_event("appr", "status", timeout=30).value == "waiting_for_approval"
    pending = client.result("appr", timeout=0.2)
    assert pending.done is False and pending.status == "PENDING"
    assert client.cancel("appr").status == "CANCELLED"
    assert client.result("appr", timeout=0).status == "CANCELLED"
    assert client.resume("appr").status in ("PENDING", "ENQUEUED")
    sent = client.send("appr", {"approved": True, "message": "go"})
    assert sent.outcome == "delivered"
    outcome = client.result("appr", timeout=30)
    assert outcome.status == "SUCCESS" and outcome.output["approval_message"] == "go"


def test_steps_and_fork_replay_a_finished_workflow(client: Client) -> None:
    client.start("events", {"n_steps": 2}, workflow_id="orig")
    client.result("orig", timeout=30)
    steps = client.steps("orig").steps
    assert [s.step_id for s in steps] == sorted(s.step_id for s in steps) and len(steps) > 3
    forked = client.fork("orig", 2)
    assert forked.forked_from == "orig" and forked.workflow_id != "orig"
    assert client.result(forked.workflow_id, timeout=30).output == client.status("orig").output
    with pytest.raises(ce.WorkflowNotFound):
        client.fork("nope", 1)


def test_workflow_types_lists_the_builtins_with_input_schemas(client: Client) -> None:
    types = {t.type: t for t in client.workflow_types()}
    assert {"events", "messaging", "streaming", "counter"} <= set(types)
    assert "n_steps" in types["events"].input_schema["properties"]
    assert client.ready() is True


# --- events ---


def test_get_event_waits_for_newer_versions_and_reports_timeouts(client: Client) -> None:
    client.start("counter", {"start": 1}, workflow_id="ev")
    first = client.get_event("ev", "value", timeout=30)
    assert first.value == 1
    assert add(client, "ev", 4) == {"ok": True, "value": 5}
    newer = client.wait_event("ev", "value", first.version, timeout=30)
    assert newer.value == 5 and newer.version > first.version
    with pytest.raises(ce.EventTimeout) as timed_out:
        client.wait_event("ev", "value", newer.version, timeout=0.3)
    assert isinstance(timed_out.value, ce.Timeout) and timed_out.value.reason == "timeout"
    everything = client.events("ev")
    assert everything.events["value"].value == 5 and everything.events["status"].value == "running"
    client.send_and_wait("ev", {"op": "stop"})
    client.result("ev", timeout=30)
    with pytest.raises(ce.EventNotFound) as finished:
        client.get_event("ev", "never-set", timeout=30)
    assert not isinstance(finished.value, ce.Timeout) and finished.value.reason == "workflow_finished"


def test_watch_events_yields_every_change_until_the_workflow_finishes(client: Client, server: ServerProcess) -> None:
    client.start("counter", {}, workflow_id="watched")
    seen: list[Any] = []
    versions: list[int] = []
    watch = client.watch_events("watched", keys=["value"])
    for event in watch:
        assert event.key == "value"
        seen.append(event.value)
        versions.append(event.version)
        if len(seen) == 1:
            add(client, "watched", 5)
        elif len(seen) == 2:
            client.send_and_wait("watched", {"op": "stop"})
    assert seen[:2] == [0, 5]
    assert versions == sorted(set(versions))
    assert watch.end is not None and watch.end.reason == "workflow_finished"
    # Resuming after the first version: the newest value of each key newer than it, then the end.
    later = list(client.watch_events("watched", keys=["value"], after_version=versions[0]))
    assert [(e.value, e.version) for e in later] == [(seen[-1], versions[-1])]


# --- messages ---


def test_send_says_delivered_or_duplicate_and_refuses_finished_workflows(client: Client) -> None:
    client.start("counter", {}, workflow_id="msg")
    first = client.send("msg", {"note": 1}, topic="other", idempotency_key="k-1")
    again = client.send("msg", {"note": 1}, topic="other", idempotency_key="k-1")
    assert (first.outcome, again.outcome) == ("delivered", "duplicate")
    with pytest.raises(ce.WorkflowNotFound):
        client.send("nope", {})
    with pytest.raises(ce.ValidationFailed):
        client.send("msg", {}, topic="bad topic")
    client.send_and_wait("msg", {"op": "stop"})
    client.result("msg", timeout=30)
    with pytest.raises(ce.WorkflowFinished):
        client.send("msg", {"late": True})


def test_send_and_wait_returns_the_reply_and_a_retry_gets_the_same_answer(client: Client) -> None:
    client.start("counter", {}, workflow_id="rr")
    reply = client.send_and_wait("rr", {"op": "add", "amount": 2}, request_id="req-1")
    assert (reply.request_id, reply.value, reply.outcome) == ("req-1", {"ok": True, "value": 2}, "delivered")
    retry = client.send_and_wait("rr", {"op": "add", "amount": 2}, request_id="req-1")
    assert (retry.value, retry.outcome) == ({"ok": True, "value": 2}, "duplicate")  # applied once
    bad = client.send_and_wait("rr", {"op": "explode"})
    assert bad.value["ok"] is False
    with pytest.raises(ce.ReplyTimeout) as no_reply:
        client.send_and_wait("rr", {"op": "get"}, topic="nobody-listens", timeout=0.3)
    assert no_reply.value.request_id is not None and isinstance(no_reply.value, ce.Timeout)
    stop = client.send_and_wait("rr", {"op": "stop"}, request_id="req-stop")
    assert stop.value == {"ok": True, "value": 2, "stopped": True}
    client.result("rr", timeout=30)
    # A retry after the workflow answered and finished still gets the stored reply.
    assert client.send_and_wait("rr", {"op": "stop"}, request_id="req-stop").value == stop.value


# --- streams ---


def _finished_counter(client: Client, workflow_id: str, amounts: list[int]) -> None:
    client.start("counter", {}, workflow_id=workflow_id)
    for amount in amounts:
        add(client, workflow_id, amount)
    client.send_and_wait(workflow_id, {"op": "stop"})
    client.result(workflow_id, timeout=30)


def test_streams_and_snapshots_page_by_offset(client: Client) -> None:
    _finished_counter(client, "snap", [1, 2, 3])
    listing = client.streams("snap")
    assert [(s.key, s.length, s.closed) for s in listing.streams] == [("history", 4, True)]
    page = client.read_stream("snap", "history", offset=1, limit=2)
    assert [i.offset for i in page.values] == [1, 2] and page.next_offset == 3 and not page.complete
    rest = client.read_stream("snap", "history", offset=page.next_offset)
    assert [i.value["value"] for i in rest.values] == [6] and rest.closed and rest.complete


def test_tail_stream_replays_a_finished_stream_then_ends(client: Client, server: ServerProcess) -> None:
    _finished_counter(client, "replay", [1, 2])
    tail = client.tail_stream("replay", "history", offset=1)
    items = list(tail)
    assert [i.offset for i in items] == [1, 2]
    assert tail.end is not None and tail.end.reason == "closed" and tail.end.next_offset == 3
    with pytest.raises(ce.WorkflowNotFound):
        list(client.tail_stream("nope", "history"))


def test_tail_survives_a_forced_disconnect_and_yields_exactly_the_full_stream(
    client: Client, server: ServerProcess
) -> None:
    client.start("counter", {}, workflow_id="cut")
    for amount in (1, 2, 3):
        add(client, "cut", amount)
    got: list[StreamItem] = []
    with TcpProxy(server.port) as proxy, Client(proxy.url) as through_proxy:
        tail = through_proxy.tail_stream("cut", "history")
        for item in tail:
            got.append(item)
            if len(got) == 3:
                proxy.drop_connections()  # a real network failure in the middle of the stream
                for amount in (4, 5, 6):
                    add(client, "cut", amount)
                client.send_and_wait("cut", {"op": "stop"})
    assert [i.offset for i in got] == list(range(7))
    full = client.read_stream("cut", "history")
    assert [i.value for i in got] == [i.value for i in full.values]
    assert tail.end is not None and tail.end.reason == "closed"


def test_tail_keeps_going_across_a_server_crash_and_restart(client: Client, server: ServerProcess) -> None:
    client.start("counter", {}, workflow_id="crash")
    for amount in (1, 2, 3):
        add(client, "crash", amount)
    received: queue.Queue[StreamItem | LiveEnd | BaseException] = queue.Queue()

    def consume() -> None:
        try:
            with Client(server.url) as own:
                tail = own.tail_stream("crash", "history")
                for item in tail:
                    received.put(item)
                assert tail.end is not None
                received.put(tail.end)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which re-raises it
            received.put(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    items = [received.get(timeout=30) for _ in range(3)]
    server.restart(graceful=False)  # SIGKILL: the tail sees refused connections until the new server is up
    for amount in (4, 5, 6):
        add(client, "crash", amount)
    client.send_and_wait("crash", {"op": "stop"})
    while not isinstance(last := received.get(timeout=60), LiveEnd):
        if isinstance(last, BaseException):
            raise last
        items.append(last)
    consumer.join(timeout=30)
    assert all(isinstance(i, StreamItem) for i in items)
    assert [i.offset for i in items if isinstance(i, StreamItem)] == list(range(7))
    full = client.read_stream("crash", "history")
    assert [i.value for i in items if isinstance(i, StreamItem)] == [i.value for i in full.values]


# --- sessions ---


def test_session_post_tail_and_snapshot(client: Client, server: ServerProcess) -> None:
    first = client.post_session_event("sess-1", "progress", {"pct": 10}, event_id="e1")
    again = client.post_session_event("sess-1", "progress", {"pct": 10}, event_id="e1")
    assert (first.outcome, again.outcome) == ("delivered", "duplicate")
    client.post_session_event("sess-1", "progress", {"pct": 90})
    client.post_session_event("sess-1", "done", None)
    tail = client.tail_session("sess-1")
    assert [(i.offset, i.value.type) for i in tail] == [(0, "progress"), (1, "progress"), (2, "done")]
    assert tail.end is not None
    snapshot = client.session_events("sess-1", offset=1)
    assert [i.value.data for i in snapshot.values] == [{"pct": 90}, None] and snapshot.closed
    assert client.session_events("sess-1").values[0].value.id == "e1"
    with pytest.raises(ce.SessionClosed):
        client.post_session_event("sess-1", "progress", {"pct": 99})


# --- transport failures ---


def test_unreachable_server_raises_server_unreachable() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", timeout=2) as c, pytest.raises(ce.ServerUnreachable) as caught:
        c.status("x")
    assert isinstance(caught.value, ce.TransportError)


def test_live_iterator_gives_up_after_its_retry_budget() -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
    with (
        Client(f"http://127.0.0.1:{free_port()}", timeout=2, retry=policy) as c,
        pytest.raises(ce.ReconnectsExhausted) as caught,
    ):
        list(c.tail_stream("x", "y"))
    assert caught.value.attempts == 3 and isinstance(caught.value.last_error, ce.ServerUnreachable)


def test_api_key_is_sent_as_a_bearer_token(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env={"COMM_API_KEYS": "s3cret"}) as keyed:
        with Client(keyed.url, api_key="") as anonymous:
            with pytest.raises(ce.Unauthorized) as denied:
                anonymous.workflow_types()
            assert denied.value.status == 401
        with Client(keyed.url, api_key="s3cret") as keyed_client:
            assert any(t.type == "counter" for t in keyed_client.workflow_types())


# --- error mapping (unit: canned answers) ---


def _answer(status: int, body: Any) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return Client("http://test", transport=httpx.MockTransport(handler))


def _envelope(code: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{code} happened", "details": details}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _envelope("malformed_json"), ce.MalformedJSON),
        (413, _envelope("payload_too_large"), ce.PayloadTooLarge),
        (422, _envelope("validation_error"), ce.ValidationFailed),
        (422, _envelope("unknown_workflow_type"), ce.UnknownWorkflowType),
        (404, _envelope("workflow_not_found"), ce.WorkflowNotFound),
        (404, _envelope("event_not_found", reason="timeout"), ce.EventTimeout),
        (404, _envelope("event_not_found", reason="workflow_finished"), ce.EventNotFound),
        (404, _envelope("route_not_found"), ce.RouteNotFound),
        (404, _envelope("session_not_found"), ce.SessionNotFound),
        (409, _envelope("workflow_id_conflict"), ce.WorkflowIdConflict),
        (409, _envelope("workflow_finished"), ce.WorkflowFinished),
        (409, _envelope("session_closed"), ce.SessionClosed),
        (401, _envelope("token_expired"), ce.Unauthorized),
        (403, _envelope("forbidden"), ce.Forbidden),
        (404, _envelope("link_not_found"), ce.NotFound),  # a code this client does not know: by status
        (409, _envelope("schedule_exists"), ce.Conflict),
        (410, _envelope("link_expired"), ce.InvalidRequest),
        (503, _envelope("not_ready"), ce.ServiceUnavailable),
        (500, _envelope("internal_error"), ce.ServerError),
        (502, b"<html>bad gateway</html>", ce.ServerError),  # not an envelope: classified by status
    ],
)
def test_error_envelopes_map_to_the_exception_tree(status: int, body: Any, expected: type[ce.ApiError]) -> None:
    with _answer(status, body) as c, pytest.raises(ce.ApiError) as caught:
        c.status("x")
    assert type(caught.value) is expected
    assert caught.value.status == status and isinstance(caught.value, ce.ClientError)
    if isinstance(body, dict):
        assert caught.value.code == body["error"]["code"] and caught.value.message.endswith("happened")


def test_a_success_answer_that_is_not_json_is_a_protocol_error() -> None:
    with _answer(200, b"not json") as c, pytest.raises(ce.ProtocolError):
        c.status("x")
