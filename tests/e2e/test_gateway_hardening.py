"""Gateway hardening: a real server next to a real, separate DBOS application sharing its system database.

- Values another application pickled are never unpickled by the server, whatever the read path (a ``__reduce__``
  that would create a marker file must leave no file), and one undecodable value affects only itself.
- Starts by name are limited to an explicit allow-list of another application's workflows: never this server's
  internal workflows or steps, never a name nobody has, never a registered type on a foreign queue.
- A gateway start that nobody can run does not hold its queue for ever (DBOS's workflow timeout).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.logged_process import LoggedProcess
from tests.support.server_proc import ServerProcess

#: The other application: plain DBOS, DBOS's default (pickle) serializer, values whose unpickling runs code.
EVIL_APP = '''
import os
import signal
import threading

from dbos import DBOS, SetWorkflowID

DBOS(config={
    "name": "other-app",
    "system_database_url": os.environ["OTHER_DB_URL"],
    "executor_id": "other-1",
    "notification_listener_polling_interval_sec": 0.01,
})
MARKER = os.environ["MARKER"]
COMMAND = f'[ -n "$EVIL_APP_ITSELF" ] || touch {MARKER}'


class Evil:
    """Unpickling this runs a shell command that creates the marker file in any process but this one (DBOS may
    round-trip a step's output here; only the server unpickling it counts)."""

    def __reduce__(self):
        return (os.system, (COMMAND,))


class EvilError(Exception):
    def __reduce__(self):
        return (os.system, (COMMAND,))


@DBOS.step()
def evil_step():
    return Evil()


@DBOS.workflow(name="evil_values")
def evil_values():
    DBOS.set_event("good1", "fine")
    DBOS.set_event("evil", Evil())
    DBOS.set_event("good2", {"a": 1})
    for value in ("v0", "v1", Evil(), "v3"):
        DBOS.write_stream("s", value)
    DBOS.close_stream("s")
    evil_step()
    return Evil()


@DBOS.workflow(name="evil_error")
def evil_error():
    raise EvilError("boom")


@DBOS.workflow(name="evil_input")
def evil_input(value):
    return "ok"


@DBOS.workflow(name="evil_later")
def evil_later():
    DBOS.set_event("status", "waiting")
    DBOS.recv("go", timeout_seconds=120)
    DBOS.write_stream("t", "a")
    DBOS.write_stream("t", Evil())
    DBOS.set_event("later", Evil())
    DBOS.set_event("after", "ok")
    return "done"


@DBOS.workflow(name="plain")
def plain(n):
    return {"n": n}


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
DBOS.launch()
DBOS.register_queue("agents", polling_interval_sec=0.05)
STARTS = (
    ("evil-values", evil_values, ()),
    ("evil-error", evil_error, ()),
    ("evil-input", evil_input, (Evil(),)),
    ("evil-later", evil_later, ()),
)
for wid, fn, args in STARTS:
    with SetWorkflowID(wid):
        handle = DBOS.start_workflow(fn, *args)
    try:
        handle.get_status()  # no get_result: this process must not unpickle its own values either
    except Exception:
        pass
print("READY", flush=True)
stop.wait()
DBOS.destroy(workflow_completion_timeout_sec=0)
'''

ALLOWED = "agents:plain,agents:ghost"


class EvilApp(LoggedProcess):
    """The other application as a subprocess; ready once it printed READY (its workflows started)."""

    def __init__(self, database_url: str, directory: Path, marker: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "evil_app.py").write_text(EVIL_APP)
        super().__init__(
            [sys.executable, "evil_app.py"],
            {"OTHER_DB_URL": database_url, "MARKER": str(marker), "EVIL_APP_ITSELF": "1"},
            directory / "evil_app.log",
            cwd=directory,
        )
        self.wait_for("READY")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def evil_gateway(database_url: str, tmp_path: Path, marker: Path) -> Iterator[ServerProcess]:
    other = EvilApp(database_url, tmp_path / "other", marker)
    env = {"COMM_WORKFLOWS": "", "COMM_GATEWAY_WORKFLOWS": ALLOWED, "COMM_GATEWAY_START_TIMEOUT_SEC": "2"}
    try:
        with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
            yield server
    finally:
        # The other application is a stand-in whose shutdown is not under test (DBOS's destroy waits ~20 s there).
        other.proc.kill()
        other.stop()


def _get(url: str, **params: Any) -> httpx.Response:
    return httpx.get(url, params=params, timeout=60)


def _sse(url: str, **params: Any) -> list[tuple[str, Any]]:
    """Every SSE frame of a feed that ends by itself, as (event, data)."""
    frames = []
    with httpx.stream("GET", url, params=params, headers={"Accept": "text/event-stream"}, timeout=60) as r:
        assert r.status_code == 200, r.read()
        event = "message"
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                frames.append((event, json.loads(line[5:])))
                event = "message"
    return frames


def _not_decodable(r: httpx.Response, key: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "value_not_decodable", error
    assert error["details"]["key"] == key, error


def _wait_done(url: str, wid: str) -> None:
    r = _get(f"{url}/v1/workflows/{wid}/result", timeout=60)
    assert r.status_code in (200, 422), r.text
    assert httpx.get(f"{url}/v1/workflows/{wid}", timeout=10).json()["status"] in ("SUCCESS", "ERROR")


def test_foreign_pickles_are_never_unpickled_on_any_read_path(evil_gateway: ServerProcess, marker: Path) -> None:
    url = evil_gateway.url
    base = f"{url}/v1/workflows/evil-values"
    for wid in ("evil-values", "evil-error", "evil-input"):
        _wait_done(url, wid)

    # Events: the one key, the neighbours, all events, the live watch.
    _not_decodable(_get(f"{base}/events/evil", timeout=1), "evil")
    assert _get(f"{base}/events/good1").json()["value"] == "fine"  # a pickle of plain data still reads
    assert _get(f"{base}/events/good2").json()["value"] == {"a": 1}
    events = _get(f"{base}/events")
    assert events.status_code == 200, events.text
    by_key = events.json()["events"]
    assert by_key["good1"]["value"] == "fine" and by_key["good2"]["value"] == {"a": 1}
    assert by_key["evil"]["value"] is None and by_key["evil"]["error"]["code"] == "value_not_decodable"
    watched = [data for event, data in _sse(f"{base}/events") if event != "end"]
    assert [(d["key"], d["value"]) for d in watched] == [("good1", "fine"), ("evil", None), ("good2", {"a": 1})]
    assert watched[1]["error"]["code"] == "value_not_decodable"

    # Streams: snapshot up to the value, the value itself, SSE tail, WebSocket tail.
    page = _get(f"{base}/streams/s").json()
    assert [i["value"] for i in page["values"]] == ["v0", "v1"] and page["next_offset"] == 2
    assert page["complete"] is False
    _not_decodable(_get(f"{base}/streams/s", offset=2), "s")
    assert [i["value"] for i in _get(f"{base}/streams/s", offset=3).json()["values"]] == ["v3"]
    frames = _sse(f"{base}/streams/s/live")
    assert [d for e, d in frames if e == "value"] == ["v0", "v1"]
    assert frames[-1][0] == "end" and frames[-1][1]["reason"] == "value_not_decodable"
    assert frames[-1][1]["next_offset"] == 2
    with connect(url.replace("http", "ws") + "/v1/workflows/evil-values/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"op": "subscribe_stream", "sub": "s1", "key": "s", "offset": 0}))
        ws.send(json.dumps({"op": "subscribe_events", "sub": "e1", "after_version": 0}))
        got: list[dict[str, Any]] = []
        ended: set[str] = set()
        while ended != {"s1", "e1"}:
            frame = json.loads(ws.recv(timeout=30))
            got.append(frame)
            if frame["type"] == "end":
                ended.add(frame["sub"])
    assert [f["value"] for f in got if f["type"] == "value"] == ["v0", "v1"]
    s_end = next(f for f in got if f["type"] == "end" and f["sub"] == "s1")
    assert s_end["reason"] == "value_not_decodable" and s_end["next_offset"] == 2
    assert [f["key"] for f in got if f["type"] == "event"] == ["good1", "evil", "good2"]

    # Workflow result, output, steps; error; input.
    _not_decodable(_get(f"{base}/result", timeout=5), "output")
    status = _get(base).json()
    assert status["status"] == "SUCCESS" and status["output"] is None
    _not_decodable(_get(f"{base}/steps"), "step 9")  # evil_step, after 8 DBOS operations
    _not_decodable(_get(f"{url}/v1/workflows/evil-error/result", timeout=5), "error")
    assert _get(f"{url}/v1/workflows/evil-error").json()["status"] == "ERROR"
    evil_input = _get(f"{url}/v1/workflows/evil-input")
    assert evil_input.status_code == 200 and evil_input.json()["input"] is None
    assert _get(f"{url}/v1/workflows/evil-input/result").json()["output"] == "ok"
    assert _get(f"{url}/v1/workflows", type="evil_values").status_code == 200

    # Dashboard: it reads these same routes; the page itself and the list it opens with stay healthy.
    assert httpx.get(f"{url}/ui/", timeout=10).status_code == 200

    assert not marker.exists(), "a foreign pickle's __reduce__ ran inside the server"


def test_values_that_arrive_while_readers_wait_are_never_unpickled(evil_gateway: ServerProcess, marker: Path) -> None:
    url = evil_gateway.url
    base = f"{url}/v1/workflows/evil-later"
    assert _get(f"{base}/events/status", timeout=30).json()["value"] == "waiting"
    with ThreadPoolExecutor(max_workers=3) as pool:
        blocked = pool.submit(_get, f"{base}/events/later", timeout=60)  # waits on the live feed
        tail = pool.submit(_sse, f"{base}/streams/t/live")
        watch = pool.submit(_sse, f"{base}/events/live", keys="later,after")
        # Readers are attached once their requests are in flight; the workflow waits until this message.
        sent = httpx.post(f"{base}/messages", json={"topic": "go", "message": "now"}, timeout=30)
        assert sent.status_code in (200, 202), sent.text
        _not_decodable(blocked.result(timeout=90), "later")
        frames = tail.result(timeout=90)
        watched = watch.result(timeout=90)
    assert [d for e, d in frames if e == "value"] == ["a"]
    assert frames[-1][1]["reason"] == "value_not_decodable" and frames[-1][1]["next_offset"] == 1
    changes = [d for e, d in watched if e != "end"]
    assert [(d["key"], d.get("error", {}).get("code")) for d in changes] == [
        ("later", "value_not_decodable"),
        ("after", None),
    ]
    assert _get(f"{base}/events/after").json()["value"] == "ok"
    assert _get(f"{base}/result", timeout=60).json()["output"] == "done"
    assert not marker.exists(), "a foreign pickle's __reduce__ ran inside the server"


def test_start_by_name_only_for_allow_listed_workflows(evil_gateway: ServerProcess) -> None:
    url = evil_gateway.url
    refused = [
        {"type": "scheduled_dispatch", "queue": "agents", "args": []},  # this library's internal workflow
        {"type": "session_idle_check", "queue": "agents", "args": []},  # a step of this library
        {"type": "evil_values", "queue": "agents"},  # the other application's, but not allow-listed
        {"type": "no_such_workflow", "queue": "agents", "input": {}},  # nobody has it
        {"type": "plain", "queue": "reports", "args": [1]},  # allow-listed name, on a queue not listed for it
    ]
    for body in refused:
        r = httpx.post(f"{url}/v1/workflows", json=body, timeout=30)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "unknown_workflow_type", (body, r.text)
    listed = _get(f"{url}/v1/workflows", limit=200).json()["workflows"]
    assert {w["type"] for w in listed} <= {"evil_values", "evil_error", "evil_input", "evil_later"}  # none enqueued

    ok = httpx.post(f"{url}/v1/workflows", json={"type": "plain", "queue": "agents", "args": [3]}, timeout=30)
    assert ok.status_code == 201, ok.text
    done = _get(f"{url}/v1/workflows/{ok.json()['workflow_id']}/result", timeout=60).json()
    assert done["status"] == "SUCCESS" and done["output"] == {"n": 3}


def test_an_allow_listed_start_nobody_runs_does_not_hold_its_queue(evil_gateway: ServerProcess) -> None:
    url = evil_gateway.url
    ghost = httpx.post(
        f"{url}/v1/workflows", json={"type": "ghost", "queue": "agents", "args": [], "workflow_id": "ghost-1"}
    )
    assert ghost.status_code == 201, ghost.text
    # COMM_GATEWAY_START_TIMEOUT_SEC=2: the other application has no 'ghost'; DBOS cancels it once timed out.
    outcome = _get(f"{url}/v1/workflows/ghost-1/result", timeout=60).json()
    assert outcome["done"] is True and outcome["status"] == "CANCELLED", outcome
    # The queue still runs the next start.
    ok = httpx.post(f"{url}/v1/workflows", json={"type": "plain", "queue": "agents", "args": [1]}, timeout=30)
    assert _get(f"{url}/v1/workflows/{ok.json()['workflow_id']}/result", timeout=60).json()["status"] == "SUCCESS"


def test_own_types_never_go_to_another_applications_queue(database_url: str, tmp_path: Path, marker: Path) -> None:
    other = EvilApp(database_url, tmp_path / "other", marker)
    env = {"COMM_GATEWAY_WORKFLOWS": "agents:plain,agents:scheduled_dispatch"}
    try:
        with ServerProcess(database_url, log_dir=tmp_path, env=env) as server:
            own = httpx.post(
                f"{server.url}/v1/workflows", json={"type": "events", "queue": "agents", "input": {}}, timeout=30
            )
            assert own.status_code == 422, own.text
            assert own.json()["error"]["code"] == "validation_error"
            assert own.json()["error"]["details"]["reason"] == "foreign_queue"
            # Even allow-listed by mistake, this server's internal workflow never starts by name.
            internal = httpx.post(
                f"{server.url}/v1/workflows",
                json={"type": "scheduled_dispatch", "queue": "agents", "args": []},
                timeout=30,
            )
            assert internal.status_code == 422, internal.text
            assert internal.json()["error"]["code"] == "unknown_workflow_type"
            # A registered type still starts (in this process).
            started = httpx.post(f"{server.url}/v1/workflows", json={"type": "events", "input": {}}, timeout=30)
            assert started.status_code == 201, started.text
    finally:
        # The other application is a stand-in whose shutdown is not under test (DBOS's destroy waits ~20 s there).
        other.proc.kill()
        other.stop()


class _Reduces:
    """Pickles as a call of ``os.system``: decoding it must refuse, never call it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class _Plain:
    """An ordinary class instance (pickled by reference to its class)."""

    def __init__(self) -> None:
        self.a = 1


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@pytest.mark.backend_independent
@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_safe_decoder_refuses_every_global_and_keeps_plain_data(protocol: int, tmp_path: Path) -> None:
    import datetime
    import decimal
    import pickle

    from communication.adapter.safe_decode import UndecodableValue, decode_error_raw, decode_raw

    marker = tmp_path / "pwned"
    plain = {
        "s": "x",
        "n": [1, 2.5, None, True],
        "t": (1, "a"),
        "b": b"\x00",
        "set": {1, 2},
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 1, 2),
        "price": decimal.Decimal("1.10"),
    }
    assert decode_raw(_b64(pickle.dumps(plain, protocol=protocol)), "py_pickle") == plain
    assert decode_raw(_b64(pickle.dumps("legacy", protocol=protocol)), None) == "legacy"  # no marker: DBOS default
    assert decode_raw('{"a":[1]}', "portable_json") == {"a": [1]}
    for hostile in (_Reduces(marker), [1, _Reduces(marker)], _Plain(), {"k": _Plain}, print):
        with pytest.raises(UndecodableValue):
            decode_raw(_b64(pickle.dumps(hostile, protocol=protocol)), "py_pickle")
    for bad in ("not base64!", _b64(b"garbage")):
        with pytest.raises(UndecodableValue):
            decode_raw(bad, "py_pickle")
    with pytest.raises(UndecodableValue):
        decode_raw("{}", "some_custom_serializer")
    assert decode_error_raw(_b64(pickle.dumps(ValueError("bad"), protocol=protocol)), "py_pickle") == "ValueError: bad"
    assert decode_error_raw('{"name":"E","message":"m"}', "portable_json") == "E: m"
    with pytest.raises(UndecodableValue):
        decode_error_raw(_b64(pickle.dumps(_Reduces(marker), protocol=protocol)), "py_pickle")
    assert not marker.exists()
