"""The workflow feed (``GET /v1/workflows/{id}/feed``) against a real ``python server.py``, on SQLite and Postgres.

The workload is ``tests/support/feed_workflow.py``'s ``feed_busy``: events and two streams interleaved, a wait for a
message in the middle, a secret event, a closed stream, an output. Each test compares whole frame lists, so a
lost, repeated or reordered frame fails it.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.sync.client import connect

from communication.client import Client
from tests.support.databases import copied_database
from tests.support.feed_workflow import GO_TOPIC, SECRET_KEY, expected
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.timeout(240)

API_KEY = "feed-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SERVER_ENV = {"COMM_WORKFLOWS": "workflows,tests.support.feed_workflow", "COMM_API_KEYS": API_KEY}

Frame = dict[str, Any]  # {"id": cursor, "data": payload}


@pytest.fixture(scope="module")
def module_database(tmp_path_factory: pytest.TempPathFactory, migrated_template: str) -> Iterator[str]:
    """One database for the module's shared server (SQLite file, or a new Postgres database)."""
    with copied_database(migrated_template, tmp_path_factory.mktemp("feed"), "comm_feed") as url:
        yield url


@pytest.fixture(scope="module")
def server(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that do not restart it."""
    with ServerProcess(module_database, log_dir=tmp_path_factory.mktemp("feedlog"), env=SERVER_ENV) as proc:
        yield proc


# -- helpers ------------------------------------------------------------------------------------------------------
def start(base: str, rounds: int = 2, extra_streams: int = 0, fail: bool = False, pad: int = 0) -> str:
    wid = f"feed-{uuid.uuid4().hex[:10]}"
    r = httpx.post(
        f"{base}/v1/workflows",
        json={
            "type": "feed_busy",
            "input": {"rounds": rounds, "extra_streams": extra_streams, "fail": fail, "pad": pad},
            "workflow_id": wid,
        },
        headers=AUTH,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return wid


def send_go(base: str, wid: str) -> None:
    r = httpx.post(f"{base}/v1/workflows/{wid}/messages", json={"topic": GO_TOPIC, "message": 1}, headers=AUTH)
    assert r.status_code in (200, 201, 202), r.text
    assert r.json()["outcome"] == "delivered"


def read_feed(
    base: str,
    wid: str,
    *,
    until: Any = None,
    params: dict[str, str] | None = None,
    last_event_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, list[Frame]]:
    """Open the feed and read frames until ``until(frame)`` holds, the ``end`` frame, or the response ends."""
    hdrs = dict(AUTH if headers is None else headers)
    if last_event_id is not None:
        hdrs["Last-Event-ID"] = last_event_id
    frames: list[Frame] = []
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as http,
        http.stream("GET", f"{base}/v1/workflows/{wid}/feed", params=params, headers=hdrs) as r,
    ):
        if r.status_code != 200:
            r.read()
            return r.status_code, []
        assert r.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in r.iter_lines():
            if line == "":
                if "data" in block:
                    assert "event" not in block, "feed frames are unnamed"
                    frame = {"id": block.get("id"), "data": json.loads(block["data"])}
                    frames.append(frame)
                    if frame["data"]["kind"] == "end" or (until is not None and until(frame)):
                        break
                block = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                block[name] = value[1:] if value.startswith(" ") else value
    return 200, frames


def shape(frames: list[Frame]) -> list[tuple[Any, ...]]:
    """Comparable form of frames: (kind, key, value) for data, (kind, status) for status/end."""
    out: list[tuple[Any, ...]] = []
    for f in frames:
        d = f["data"]
        if d["kind"] in ("event", "stream"):
            out.append((d["kind"], d["key"], d.get("value", d.get("error", {}).get("code"))))
        else:
            out.append((d["kind"], d["status"]))
    return out


def whole_run(rounds: int = 2, *, secret: bool = True, first_status: bool = True) -> list[tuple[Any, ...]]:
    return [
        *([("status", "PENDING")] if first_status else []),
        *expected(rounds, secret=secret),
        ("status", "SUCCESS"),
        ("end", "SUCCESS"),
    ]


def before_wait(frame: Frame) -> bool:
    """The last frame written before the workflow waits for ``go`` (rounds=2)."""
    d = frame["data"]
    return bool(d["kind"] == "stream" and d["key"] == "log" and d["value"] == {"line": 1})


# -- tests --------------------------------------------------------------------------------------------------------
def test_feed_delivers_every_frame_once_in_commit_order_and_resumes_mid_way(server: ServerProcess) -> None:
    wid = start(server.url)
    status, live = read_feed(server.url, wid, until=before_wait)
    assert status == 200
    assert shape(live) == whole_run()[:7]  # PENDING, then 6 data frames, then the workflow waits
    assert len({f["id"] for f in live}) == len(live)

    send_go(server.url, wid)
    # Resume after the 4th frame: exactly the rest, live then end.
    _, rest = read_feed(server.url, wid, last_event_id=live[3]["id"])
    assert shape(live[:4] + rest) == whole_run()
    end = rest[-1]["data"]
    assert end == {"kind": "end", "status": "SUCCESS", "output": {"rounds": 2}}
    ids = [f["id"] for f in live[:4] + rest]
    assert len(set(ids)) == len(ids)
    assert all(len(i) <= 1100 for i in ids)

    # A reconnect whose cursor has the end: 204, the SSE standard's "stop reconnecting".
    assert read_feed(server.url, wid, last_event_id=rest[-1]["id"])[0] == 204
    assert read_feed(server.url, wid, params={"cursor": rest[-1]["id"]})[0] == 204

    # After completion: a fresh reader gets the replay (the status as it is now), then end.
    _, replay = read_feed(server.url, wid)
    assert shape(replay) == whole_run(first_status=False)
    # A reader that stopped mid-way before the end gets the rest, the final status, and end.
    _, tail = read_feed(server.url, wid, params={"cursor": live[2]["id"]})
    assert shape(live[:3] + tail) == whole_run()
    # Last-Event-ID wins over the URL's cursor (a browser reconnects to the same URL with a newer id).
    _, tail2 = read_feed(server.url, wid, params={"cursor": live[2]["id"]}, last_event_id=tail[-3]["id"])
    assert shape(tail2) == whole_run()[-2:]


def finish(base: str, wid: str) -> None:
    send_go(base, wid)
    r = httpx.get(f"{base}/v1/workflows/{wid}/result", params={"timeout": 60}, headers=AUTH, timeout=70)
    assert r.json()["status"] == "SUCCESS", r.text


def test_feed_filters_per_subscriber_and_resumes_filtered(server: ServerProcess) -> None:
    wid = start(server.url)
    finish(server.url, wid)
    tokens = [("stream", "tokens", f"t{n}") for n in range(4)]
    _, only_tokens = read_feed(server.url, wid, params={"streams": "tokens", "events": "", "status": "0"})
    assert shape(only_tokens) == [*tokens, ("end", "SUCCESS")]
    # A filtered reader resumes after its own last frame: the rest of its keys, nothing else.
    _, rest = read_feed(
        server.url, wid, params={"streams": "tokens", "events": "", "status": "0"}, last_event_id=only_tokens[1]["id"]
    )
    assert shape(rest) == [*tokens[2:], ("end", "SUCCESS")]
    _, progress = read_feed(server.url, wid, params={"events": "progress", "streams": ""})
    assert shape(progress) == [*(("event", "progress", n) for n in range(4)), ("status", "SUCCESS"), ("end", "SUCCESS")]
    _, no_status = read_feed(server.url, wid, params={"status": "0"})
    assert shape(no_status) == [*expected(2, secret=True), ("end", "SUCCESS")]


@pytest.mark.parametrize(
    "params",
    [
        {"streams": "bad key"},
        {"events": "a,/b"},
        {"status": "2"},
        {"status": "no"},
        {"cursor": "not a cursor"},
        {"cursor": "eyJ6IjoxfQ"},  # {"z":1}: base64url JSON, but not a cursor
        {"cursor": "x" * 2000},
    ],
)
def test_feed_refuses_bad_input_with_422(server: ServerProcess, params: dict[str, str]) -> None:
    r = httpx.get(f"{server.url}/v1/workflows/any-id/feed", params=params, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_feed_bad_last_event_id_is_422_and_unknown_workflow_404(server: ServerProcess) -> None:
    r = httpx.get(f"{server.url}/v1/workflows/any-id/feed", headers={**AUTH, "Last-Event-ID": "12"})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "Last-Event-ID"
    r = httpx.get(f"{server.url}/v1/workflows/no-such-workflow/feed", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_feed_read_token_sees_its_workflow_without_secrets_and_nothing_else(server: ServerProcess) -> None:
    wid, other = start(server.url), start(server.url)
    finish(server.url, wid)
    token = httpx.post(f"{server.url}/v1/workflows/{wid}/read-token", headers=AUTH).json()["token"]
    status, frames = read_feed(server.url, wid, params={"access_token": token}, headers={})
    assert status == 200
    assert shape(frames) == whole_run(secret=False, first_status=False)
    assert all(f["data"].get("key") != SECRET_KEY for f in frames)
    # Asking for the secret by name does not reveal it either.
    _, asked = read_feed(
        server.url, wid, params={"access_token": token, "events": SECRET_KEY, "streams": ""}, headers={}
    )
    assert shape(asked) == [("status", "SUCCESS"), ("end", "SUCCESS")]
    # A token for another workflow, or none at all: refused before anything is read.
    assert read_feed(server.url, other, params={"access_token": token}, headers={})[0] in (401, 403)
    assert read_feed(server.url, wid, headers={})[0] == 401
    finish(server.url, other)


def _insert_undecodable(database_url: str, wid: str, key: str, offset: int, function_id: int) -> None:
    """Store a value no server can decode (an unknown serialization), as another application might."""
    row = (wid, key, "garbage", offset, function_id, "no_such_serialization")
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as c:
            c.execute(
                'INSERT INTO streams (workflow_uuid, key, value, "offset", function_id, serialization) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        return
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute(
            'INSERT INTO dbos.streams (workflow_uuid, key, value, "offset", function_id, serialization) '
            "VALUES (%s, %s, %s, %s, %s, %s)",
            row,
        )


def test_feed_reports_an_undecodable_value_on_its_own_frame(server: ServerProcess) -> None:
    wid = start(server.url)
    _, live = read_feed(server.url, wid, until=before_wait)
    # Written "with" the last value before the wait (its function_id: the event at live[4] + 2).
    _insert_undecodable(server.database_url, wid, "tokens", 2, live[4]["data"]["version"] + 2)
    send_go(server.url, wid)
    _, rest = read_feed(server.url, wid, last_event_id=live[-1]["id"])
    bad = [f["data"] for f in rest if "error" in f["data"]]
    assert bad == [
        {
            "kind": "stream",
            "key": "tokens",
            "offset": 2,
            "error": {"code": "value_not_decodable", "message": bad[0]["error"]["message"]},
        }
    ]
    # Its neighbours are all there, once, in order; the workflow's next token went to the next offset.
    assert [x for x in shape(live + rest) if x[2:] != ("value_not_decodable",)] == whole_run()
    assert [f["data"]["offset"] for f in rest if f["data"].get("key") == "tokens"] == [2, 3, 4]


def test_feed_resumes_across_a_server_kill_without_loss_or_repeat(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env=SERVER_ENV) as proc:
        wid = start(proc.url)
        _, live = read_feed(proc.url, wid, until=before_wait)
        assert shape(live) == whole_run()[:7]
        proc.restart(graceful=False)  # SIGKILL, then the same database and port
        send_go(proc.url, wid)
        _, rest = read_feed(proc.url, wid, last_event_id=live[-2]["id"])
        # Recovery may show the workflow ENQUEUED / PENDING again: real status changes, reported as such.
        seen = shape(live[:-1] + rest)
        kept = seen[:7] + [x for x in seen[7:] if not (x[0] == "status" and x[1] in ("ENQUEUED", "PENDING"))]
        assert kept == whole_run(), seen
        assert read_feed(proc.url, wid, last_event_id=rest[-1]["id"])[0] == 204


def test_feed_over_the_workflow_websocket_matches_the_sse_feed(server: ServerProcess) -> None:
    wid = start(server.url)
    finish(server.url, wid)
    _, sse_frames = read_feed(server.url, wid, params={"streams": "tokens"})
    ws_url = server.url.replace("http://", "ws://") + f"/v1/workflows/{wid}/ws"
    with connect(ws_url, additional_headers=AUTH, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(json.dumps({"op": "subscribe_feed", "sub": "f1", "streams": ["tokens"]}))
        got: list[Frame] = []
        while not got or got[-1]["data"]["kind"] != "end":
            frame = json.loads(ws.recv(timeout=30))
            assert frame["type"] == "feed" and frame["sub"] == "f1", frame
            got.append({"id": frame["id"], "data": frame["data"]})
        assert got == sse_frames  # same frames, same cursors
        # Resuming from the end's cursor: nothing more will come.
        ws.send(json.dumps({"op": "subscribe_feed", "sub": "f2", "cursor": got[-1]["id"]}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "end", "sub": "f2", "reason": "cursor_has_end"}
        ws.send(json.dumps({"op": "subscribe_feed", "sub": "f3", "cursor": "garbage!"}))
        bad = json.loads(ws.recv(timeout=30))
        assert bad["type"] == "error" and bad["error"]["code"] == "validation_error"


def test_the_python_client_feed_resumes_across_a_restart_and_stops_at_the_end(
    database_url: str, tmp_path: Path
) -> None:
    with ServerProcess(database_url, log_dir=tmp_path, env=SERVER_ENV) as proc, Client(proc.url, API_KEY) as client:
        wid = start(proc.url)
        got = []
        feed = client.feed(wid)
        for frame in feed:
            got.append(frame)
            if frame.kind == "stream" and frame.key == "log" and frame.value == {"line": 1}:
                break
        # The server dies under the open iterator; it reconnects by itself and resumes after its last frame.
        proc.restart(graceful=False)
        send_go(proc.url, wid)
        for frame in feed:
            got.append(frame)
        assert feed.end is not None and feed.end.workflow_status == "SUCCESS"
        seen = [(f.kind, f.key, f.value) if f.kind in ("event", "stream") else (f.kind, f.status) for f in got]
        kept = seen[:7] + [x for x in seen[7:] if not (x[0] == "status" and x[1] in ("ENQUEUED", "PENDING"))]
        assert kept == whole_run()
        assert got[-1].output == {"rounds": 2}
        # A feed from a cursor: the rest only; from the end's cursor: nothing.
        rest = list(client.feed(wid, cursor=got[3].id, streams=["tokens"], events=[], status=False))
        assert [(f.kind, f.value) for f in rest] == [("stream", f"t{n}") for n in range(1, 4)] + [("end", None)]
        assert list(client.feed(wid, cursor=got[-1].id)) == []


def test_feed_opened_with_a_read_token_ends_when_the_token_expires(server: ServerProcess) -> None:
    wid = start(server.url)
    token = httpx.post(f"{server.url}/v1/workflows/{wid}/read-token", headers=AUTH, json={"ttl_seconds": 2}).json()
    lines: list[str] = []
    with httpx.stream(
        "GET", f"{server.url}/v1/workflows/{wid}/feed", params={"access_token": token["token"]}, timeout=60
    ) as r:
        assert r.status_code == 200
        lines.extend(r.iter_lines())  # the workflow waits for 'go': only the token's expiry ends this response
    assert "event: error" in lines
    error = json.loads(next(line for line in reversed(lines) if line.startswith("data:"))[5:])
    assert error["error"]["code"] == "token_expired"
    assert any('"kind":"status"' in line for line in lines)  # the feed itself was served until then
    finish(server.url, wid)


def test_feed_follows_at_most_32_streams_and_its_cursor_stays_bounded(server: ServerProcess) -> None:
    wid = start(server.url, rounds=1, extra_streams=40)
    finish(server.url, wid)
    _, frames = read_feed(server.url, wid)
    keys = sorted({f["data"]["key"] for f in frames if f["data"]["kind"] == "stream"})
    assert keys == sorted(["log", "tokens", *(f"x{j:02d}" for j in range(30))])  # the first 32 keys, ascending
    assert max(len(f["id"]) for f in frames) <= 1100
    assert frames[-1]["data"]["kind"] == "end"
    assert read_feed(server.url, wid, last_event_id=frames[-1]["id"])[0] == 204


def test_feed_pages_a_long_history_in_commit_order(server: ServerProcess) -> None:
    # 100 rounds: 600 values, 200 per source, more than one read's share per source (500 / 3), so replays are cut
    # and merged page by page.
    wid = start(server.url, rounds=100)
    finish(server.url, wid)
    _, replay = read_feed(server.url, wid)
    assert shape(replay) == whole_run(100, first_status=False)
    _, tail = read_feed(server.url, wid, last_event_id=replay[300]["id"])
    assert shape(replay[:301] + tail) == whole_run(100, first_status=False)


def test_feed_ends_a_failed_workflow_with_its_error(server: ServerProcess) -> None:
    wid = start(server.url, fail=True)
    _, live = read_feed(server.url, wid, until=before_wait)
    send_go(server.url, wid)
    _, rest = read_feed(server.url, wid, last_event_id=live[-1]["id"])
    assert shape(rest) == [("status", "ERROR"), ("end", "ERROR")]
    # The same error text as GET /result.
    result = httpx.get(f"{server.url}/v1/workflows/{wid}/result", headers=AUTH, params={"timeout": 0}).json()
    assert rest[-1]["data"] == {"kind": "end", "status": "ERROR", "error": result["error"]}
    assert "asked to fail" in result["error"]
    assert read_feed(server.url, wid, last_event_id=rest[-1]["id"])[0] == 204


def test_a_live_subscriber_that_falls_behind_the_buffer_catches_up_without_loss(
    database_url: str, tmp_path: Path
) -> None:
    # A 16-entry shared buffer, and a client that stops reading while megabytes are written: its server-side
    # subscriber stalls on the socket, the buffer moves on, and it must catch up from storage on its own account.
    env = {**SERVER_ENV, "COMM_HUB_BUFFER_SIZE": "16", "COMM_SSE_SEND_TIMEOUT_SECONDS": "300"}
    rounds = 100
    pad = 100_000
    with ServerProcess(database_url, log_dir=tmp_path, env=env) as proc:
        wid = start(proc.url, rounds=rounds, pad=pad)
        frames: list[Frame] = []
        # A small receive buffer keeps the kernel from absorbing the backlog for the client.
        small = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)])
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=120.0), transport=small) as http,
            http.stream("GET", f"{proc.url}/v1/workflows/{wid}/feed", params={"events": ""}, headers=AUTH) as r,
        ):
            lines = r.iter_lines()
            block: dict[str, str] = {}

            def next_frame() -> Frame:
                nonlocal block
                for line in lines:
                    if line == "" and "data" in block:
                        frame = {"id": block.get("id"), "data": json.loads(block["data"])}
                        block = {}
                        return frame
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        block[name] = value[1:]
                raise AssertionError("the feed ended early")

            # Live: every value of the first half, until the workflow waits for 'go'.
            while not (frames and frames[-1]["data"].get("value", {}) == {"line": rounds - 1, "pad": "x" * pad}):
                frames.append(next_frame())
            before = metric_catch_up(proc.url)
            send_go(proc.url, wid)
            # Not reading while the second half (10 MB, more than the socket buffers hold) is written.
            done = httpx.get(f"{proc.url}/v1/workflows/{wid}/result", params={"timeout": 60}, headers=AUTH, timeout=70)
            assert done.json()["status"] == "SUCCESS"
            while frames[-1]["data"]["kind"] != "end":
                frames.append(next_frame())
        assert metric_catch_up(proc.url) > before  # it did fall behind and catch up on its own
        got = [
            (f["data"]["kind"], f["data"].get("key"), f["data"].get("value"))
            if f["data"]["kind"] == "stream"
            else (f["data"]["kind"], f["data"]["status"])
            for f in frames
        ]
        want = [
            ("status", "PENDING"),
            *(
                ("stream", key, value if key == "tokens" else {"line": value["line"], "pad": "x" * pad})
                for kind, key, value in expected(rounds, secret=False)
                if kind == "stream"
            ),
            ("status", "SUCCESS"),
            ("end", "SUCCESS"),
        ]
        assert got == want


def metric_catch_up(base: str) -> float:
    """The server's ``comm_feed_reads_total{kind="catch_up"}``."""
    text = httpx.get(f"{base}/metrics", headers=AUTH).text
    line = next(x for x in text.splitlines() if x.startswith('comm_feed_reads_total{kind="catch_up"}'))
    return float(line.split()[-1])
