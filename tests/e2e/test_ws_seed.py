"""The seed's WebSocket (fast-temporal) over a real server: step frames, Done, failures, errors and close codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from communication.kit.step_status import STEP_STATUS_STREAM, tracked_step
from tests.support.live_server import LiveServer, live_server

pytestmark = pytest.mark.backend_independent

STEPS = ["validate_input", "process_data", "finalize"]


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url) as s:
        yield s


def _connect(server: LiveServer, user: str = "user-1", **kwargs: Any) -> ClientConnection:
    ws: ClientConnection = connect(server.url.replace("http", "ws", 1) + f"/ws/{user}", open_timeout=10, **kwargs)
    return ws


def _recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return frame


def _until_final(ws: ClientConnection, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """Frames (of one workflow, if given) up to and including its final frame."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = _recv(ws)
        if workflow_id is None or frame.get("workflow_id") == workflow_id:
            frames.append(frame)
            if frame.get("final"):
                return frames


def _closed_with(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    """The error frame, then the close code the server closed with."""
    error = _recv(ws)
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


def _expected(statuses: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(s, f"{s}: {st}", st) for s, st in statuses]


def test_steps_report_running_then_completed_in_order_then_done_with_the_result(server: LiveServer) -> None:
    with _connect(server) as ws:
        ws.send(json.dumps({"args": {"text": "nobody expects", "numbers": [1, 2, 3]}, "origin": "streamlit"}))
        frames = _until_final(ws)
    steps, done = frames[:-1], frames[-1]
    assert all(f["origin"] == "temporal" for f in frames)
    assert [(f["step"], f["message"], f["status"]) for f in steps] == _expected(
        [(s, st) for s in STEPS for st in ("Running", "Completed")]
    )
    assert len({f["workflow_id"] for f in frames}) == 1
    assert done["status"] == "Done" and done["final"] is True and done["workflow_status"] == "SUCCESS"
    assert done["message"]["summary"] == "processed 2 words and 3 numbers"
    assert done["message"]["processed"]["mean"] == 2.0
    # The records behind the frames are an ordinary stream, readable by any client.
    page = httpx.get(f"{server.url}/v1/workflows/{done['workflow_id']}/streams/{STEP_STATUS_STREAM}").json()
    records = [v["value"] for v in page["values"]]
    assert [(r["step"], r["status"]) for r in records] == [(f["step"], f["status"]) for f in steps]
    assert all(isinstance(r["timestamp"], float) for r in records)


def test_tracked_step_needs_an_async_function() -> None:
    def not_async() -> int:
        return 1

    with pytest.raises(TypeError):
        tracked_step("not_async")(not_async)  # type: ignore[arg-type]


def test_a_failing_step_reports_failed_then_a_final_failed_frame(server: LiveServer) -> None:
    with _connect(server) as ws:
        ws.send(json.dumps({"args": {"fail_step": "process_data"}, "origin": "test"}))
        frames = _until_final(ws)
    statuses = [
        ("validate_input", "Running"),
        ("validate_input", "Completed"),
        ("process_data", "Running"),
        ("process_data", "Failed"),
    ]
    assert [(f["step"], f["message"], f["status"]) for f in frames[:-1]] == _expected(statuses)
    assert "requested" in frames[-2]["error"]
    final = frames[-1]
    assert final["status"] == "Failed" and final["final"] is True and final["workflow_status"] == "ERROR"
    assert "requested" in final["error"] and final["message"].startswith("workflow failed")


def test_several_workflows_on_one_socket_and_reattaching_replays_every_frame(server: LiveServer) -> None:
    with _connect(server) as ws:
        ws.send(json.dumps({"args": {"text": "a"}, "origin": "test", "workflow_id": "seed-a"}))
        ws.send(
            json.dumps(
                {"args": {"text": "b c"}, "origin": "test", "workflow": "fast_temporal", "workflow_id": "seed-b"}
            )
        )
        frames: list[dict[str, Any]] = []
        while sum(1 for f in frames if f.get("final")) < 2:
            frames.append(_recv(ws))
    for wid, words in (("seed-a", 1), ("seed-b", 2)):
        mine = [f for f in frames if f["workflow_id"] == wid]
        assert [f["status"] for f in mine] == ["Running", "Completed"] * 3 + ["Done"]
        assert mine[-1]["message"]["processed"]["words"] == words
    # A new socket re-attaches by id (the seed's {"workflow_name": ...} form), replaying the same frames.
    with _connect(server, "user-2") as ws:
        ws.send(json.dumps({"args": {}, "workflow": {"workflow_name": "fast_temporal"}, "workflow_id": "seed-a"}))
        again = _until_final(ws)
    assert [f["message"] for f in again[:-1]] == [f["message"] for f in frames if f["workflow_id"] == "seed-a"][:-1]
    assert again[-1]["message"]["processed"]["words"] == 1


def test_frames_from_origin_temporal_are_ignored(server: LiveServer) -> None:
    with _connect(server) as ws:
        ws.send(json.dumps({"origin": "temporal", "message": "echo", "status": "Done"}))
        ws.send(json.dumps({"args": {}, "origin": "test", "workflow_id": "seed-after-echo"}))
        frames = _until_final(ws)
    assert {f["workflow_id"] for f in frames} == {"seed-after-echo"}


#: (frame, error code). One socket for all cases: a bad frame is answered and the socket stays open.
BAD_FRAMES: list[tuple[str | bytes, str]] = [
    (b"\x00binary", "malformed_json"),
    ("not json", "malformed_json"),
    ("[1, 2]", "malformed_json"),
    ('{"args": {"x": NaN}}', "malformed_json"),
    ('{"args": ' + "[" * 900 + "]" * 900 + "}", "malformed_json"),
    (json.dumps({"args": 5}), "validation_error"),
    (json.dumps({"args": {"fail_step": "nope"}}), "validation_error"),
    (json.dumps({"workflow": "no_such_type"}), "unknown_workflow_type"),
    (json.dumps({"workflow": {"workflow_name": 7}}), "validation_error"),
    (json.dumps({"workflow_id": "bad id!"}), "validation_error"),
    (json.dumps({"workflow": "monty_python", "workflow_id": "seed-x"}), "workflow_id_conflict"),
]


def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(server: LiveServer) -> None:
    with _connect(server) as ws:  # make "seed-x" a fast_temporal workflow, for the conflict case
        ws.send(json.dumps({"args": {}, "workflow_id": "seed-x"}))
        _until_final(ws)
        for frame, error_code in BAD_FRAMES:
            ws.send(frame)
            error = _recv(ws)
            assert error["error"]["code"] == error_code, frame
            assert error["origin"] == "server" and error["status"] == "Error"
            assert error["message"] == error["error"]["message"]
        ws.send(json.dumps({"args": {}}))  # still open and serving
        assert _until_final(ws)[-1]["status"] == "Done"


def test_origin_outside_cors_origins_is_refused_and_others_are_served(database_url: str) -> None:
    with live_server(database_url, cors_origins=["http://app.example"]) as server:
        with _connect(server, origin="http://evil.example") as ws:
            error, closed = _closed_with(ws)
        assert closed == 4403 and error["error"]["code"] == "origin_not_allowed"
        for origin in ("http://app.example", None):  # allowed, and non-browser clients (no Origin)
            with _connect(server, origin=origin) as ws:
                ws.send(json.dumps({"args": {}}))
                assert _until_final(ws)[-1]["status"] == "Done"


def test_api_key_is_required_when_keys_are_configured(database_url: str) -> None:
    with live_server(database_url, api_keys=["seed-key"]) as server:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with _connect(server, additional_headers=headers) as ws:
                error, closed = _closed_with(ws)
            assert closed == 4401 and error["error"]["code"] == "unauthorized"
        with _connect(server, additional_headers={"Authorization": "Bearer seed-key"}) as ws:
            ws.send(json.dumps({"args": {}}))
            assert _until_final(ws)[-1]["status"] == "Done"


def test_an_invalid_user_id_is_refused(server: LiveServer) -> None:
    with _connect(server, "bad%20user") as ws:
        error, closed = _closed_with(ws)
    assert closed == 4422 and error["error"]["code"] == "validation_error"
