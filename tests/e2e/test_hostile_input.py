"""The outside probe's findings on hostile input, each replayed in its own shape and in variants.

Pure checks (scanners, host parsing, log redaction, frame encoding, typed inputs) run in-process; what depends on
the HTTP server itself (the event loop staying free, uvicorn's WebSocket cap, slow clients, the Host a loopback
server answers to, the access log) runs against a real ``python server.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from communication import workflow_type
from communication.compat.frames import sse_seed_session
from communication.core.live.hub import Item
from communication.http.frames import encode_json, sse_item, ws_event, ws_value
from communication.http.origin import host_allowed, split_host
from communication.node.serving import redact
from communication.protocol.errors import MalformedJSON
from communication.protocol.validation import _NUMBER_RE, BoundedDatetime, json_depth, parse_json, text_depth
from tests.support.inprocess import app_client, make_settings
from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.backend_independent

#: Generous bound for one hostile request that used to take 5-27 s: far above a linear scan, far below the bug.
FAST = 3.0


def _escaped_quotes(size: int) -> str:
    """The probe's body: an unterminated JSON string full of escaped quotes."""
    return '{"a":"' + '\\"' * (size // 2)


# -- 1: the JSON depth pre-scan ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        _escaped_quotes(48_000),  # the probe
        _escaped_quotes(1_048_000),  # the body limit
        '"' * 500_000,  # many empty strings back to back
        '["' + "\\\\" * 300_000,  # escaped backslashes, unterminated
        '"\\' * 300_000,  # quote, lone backslash: every quote escaped by the next pair
    ],
    ids=["probe-48k", "1mib", "bare-quotes", "backslashes", "quote-backslash"],
)
def test_depth_prescan_is_linear_on_unterminated_strings(text: str) -> None:
    start = time.perf_counter()
    text_depth(text, 32)
    with pytest.raises(MalformedJSON):
        parse_json(text, 32)
    assert time.perf_counter() - start < FAST


@pytest.mark.parametrize(
    "doc",
    [
        '{"a": "]]]}}}", "b": [[["x\\"]]"]]]}',
        '["\\\\", [["\\\\\\"[["]]]',
        '{"k": "\\u005b\\u005b", "v": [{}, [], [[{}]]]}',
        '"[[[[[["',
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ],
)
def test_depth_prescan_matches_the_parsed_depth(doc: str) -> None:
    assert text_depth(doc, 64) == json_depth(json.loads(doc), 64)


def test_deep_nesting_after_an_unterminated_string_is_still_refused() -> None:
    # Brackets after an unterminated string are string content to the scanner and to the parser alike.
    with pytest.raises(MalformedJSON):
        parse_json("[" * 40 + '"' + "[" * 900, 32)
    with pytest.raises(MalformedJSON) as refused:
        parse_json("[" * 40 + "]" * 40, 32)
    assert refused.value.details["max_depth"] == 32


# -- 6: date-time fields -----------------------------------------------------------------------------------------
_DATETIME: TypeAdapter[Any] = TypeAdapter(BoundedDatetime)


@pytest.mark.parametrize(
    "value",
    [
        "1" * 14_000 + "x",
        "1" * 8_000 + "x",
        " " * 10_000 + "1x",
        "1." + "1" * 10_000 + "e",
        "2025-01-01T00:00:00Z" + "0" * 60,
    ],
    ids=["probe-14k", "probe-8k", "spaces", "fraction", "long-date"],
)
def test_long_datetime_text_is_refused_before_any_regex(value: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ValidationError) as refused:
        _DATETIME.validate_python(value)
    assert time.perf_counter() - start < FAST
    assert "64 characters" in str(refused.value)


def test_number_check_stays_exact_and_linear_within_the_bound() -> None:
    for number in ["1", " 1.5 ", ".5", "1e5", "+3", "1.", "-2E-3"]:
        with pytest.raises(ValidationError, match="not a number"):
            _DATETIME.validate_python(number)
    assert _DATETIME.validate_python("2025-01-01T00:00:00Z").year == 2025
    start = time.perf_counter()
    assert _NUMBER_RE.fullmatch("1" * 200_000 + "x") is None
    assert _NUMBER_RE.fullmatch(" " * 100_000 + "1" * 100_000 + "." + "1" * 100_000 + "e") is None
    assert time.perf_counter() - start < FAST


# -- 11: Host checks ---------------------------------------------------------------------------------------------
def test_host_parsing_refuses_junk_after_the_port() -> None:
    assert split_host("flows.example:8000") == ("flows.example", "8000")
    assert split_host("[::1]:80") == ("[::1]", "80")
    for junk in ["flows.example:8000:junk", "flows.example:", "flows.example:80x", "[::1", "[::1]x", ":80", ""]:
        assert split_host(junk) is None, junk


@pytest.mark.parametrize(
    "host", ["flows.example:8000:junk", "flows.example:80:evil.example", "flows.example::8000", "evil.example"]
)
def test_allowed_hosts_refuse_malformed_and_foreign_hosts(host: str) -> None:
    settings = make_settings("sqlite:///unused.sqlite", allowed_hosts=["flows.example"])
    assert not host_allowed(settings, Headers({"host": host}), ("10.0.0.1", 8000))
    assert host_allowed(settings, Headers({"host": "flows.example:8000"}), ("10.0.0.1", 8000))
    assert host_allowed(settings, Headers({"host": "FLOWS.example"}), ("10.0.0.1", 8000))


def test_loopback_bind_answers_only_loopback_names() -> None:
    loopback = make_settings("sqlite:///unused.sqlite", host="127.0.0.1")
    server = ("127.0.0.1", 8000)
    for ok in ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2"]:
        assert host_allowed(loopback, Headers({"host": ok}), server), ok
    for bad in ["evil.example", "evil.example:8000", "localhost.evil.example", "localhost:8000:junk", ""]:
        assert not host_allowed(loopback, Headers({"host": bad}), server), bad
    # Not a loopback bind, or an in-process client: any Host (COMM_ALLOWED_HOSTS pins them there).
    assert host_allowed(
        make_settings("sqlite:///unused.sqlite", host="0.0.0.0"), Headers({"host": "evil.example"}), server
    )
    assert host_allowed(loopback, Headers({"host": "evil.example"}), None)


# -- 13: log redaction, frames, typed inputs ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "GET /v1/workflows/x/events?%61ccess_token=SECRET HTTP/1.1",
        "GET /v1/workflows/x/events?a=1&%61%63%63ess_token=SECRET HTTP/1.1",
        "GET /v1/workflows/x/events?ACCESS%5FTOKEN=SECRET HTTP/1.1",
        "GET /v1/%63allbacks/SECRET HTTP/1.1",
        "POST /v1/callbacks%2FSECRET HTTP/1.1",
        "GET /v1/callbacks/SECRET?access_token=SECRET HTTP/1.1",
    ],
)
def test_redaction_sees_percent_encoded_credentials(line: str) -> None:
    assert "SECRET" not in redact(line)


def test_redaction_leaves_other_lines_alone() -> None:
    assert redact("GET /v1/workflows?name=a%20b HTTP/1.1") == "GET /v1/workflows?name=a%20b HTTP/1.1"


def _item(value: Any) -> Item:
    return Item(position=3, value=value)


def test_every_frame_path_writes_non_finite_numbers_as_null() -> None:
    value = {"key": "k", "value": [math.nan, math.inf, -math.inf, 1.5], "version": 1}
    frames = [
        sse_item(_item(value), "value").decode(),
        ws_value(_item(value), "s1"),
        ws_event(_item(value), "s1"),
        encode_json({"error": {"details": {"x": math.nan}}}),
    ]
    for frame in frames:
        assert "NaN" not in frame and "Infinity" not in frame
    assert json.loads(ws_value(_item(value), "s1"))["value"]["value"] == [None, None, None, 1.5]


def test_seed_session_frames_write_non_finite_numbers_as_null() -> None:
    async def items() -> Any:
        yield _item({"type": "message", "payload": {"x": math.nan}})

    async def collect() -> list[bytes]:
        return [frame async for frame in sse_seed_session(items(), named=True)]

    frames = asyncio.run(collect())
    assert b'{"x":null}' in frames[-1]


@workflow_type(name="test_hostile_numbers")
async def hostile_numbers(ratio: float, count: int = 0, weights: list[float] | None = None) -> float:
    """Test only: typed numbers."""
    return ratio * count


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url) as c:
        yield c


@pytest.mark.parametrize(
    "inputs",
    [
        {"ratio": "inf"},
        {"ratio": "nan"},
        {"ratio": "-Infinity"},
        {"ratio": 1.0, "count": 2**64},
        {"ratio": 1.0, "count": -(2**63) - 1},
        {"ratio": 1.0, "weights": [1.0, "inf"]},
    ],
    ids=["inf", "nan", "-infinity", "2^64", "below-int64", "nested-inf"],
)
def test_typed_inputs_refuse_non_finite_and_huge_numbers(client: TestClient, inputs: dict[str, Any]) -> None:
    r = client.post("/v1/workflows", json={"type": "test_hostile_numbers", "input": inputs})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_typed_inputs_accept_the_int64_edges(client: TestClient) -> None:
    r = client.post("/v1/workflows", json={"type": "test_hostile_numbers", "input": {"ratio": 0.5, "count": 2**63 - 1}})
    assert r.status_code == 201, r.text


# -- on a real server: the event loop, uvicorn's limits, slow clients, Host, the access log --------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("hostile")
    env = {
        "COMM_HEADER_READ_TIMEOUT_SECONDS": "1",
        "COMM_BODY_READ_TIMEOUT_SECONDS": "1",
        "COMM_MAX_CONNECTIONS": "400",
        "COMM_LOG_LEVEL": "info",  # the access log, for the redaction test
        "COMM_DATA_DIR": str(tmp / "data"),
    }
    with ServerProcess(f"sqlite:///{tmp / 'system.sqlite'}", log_dir=tmp, env=env) as proc:
        # The first request with a body builds the route table (the OpenAPI document, ~1 s, off the event loop):
        # done here so the timed requests below measure only their own bodies.
        httpx.post(f"{proc.url}/v1/workflows", json={}, timeout=60)
        yield proc


def _health_ok(url: str) -> bool:
    return httpx.get(f"{url}/health", timeout=FAST).status_code == 200


@pytest.mark.parametrize(
    ("path", "size"),
    [("/v1/webhooks/standard", 48_000), ("/v1/webhooks/github/wf-1", 48_000), ("/v1/workflows", 1_048_000)],
    ids=["probe-webhook", "webhook-by-id", "workflows-1mib"],
)
def test_escaped_quote_bodies_answer_fast_and_leave_the_loop_free(server: ServerProcess, path: str, size: int) -> None:
    answered: list[httpx.Response] = []
    hostile = threading.Thread(
        target=lambda: answered.append(
            httpx.post(
                server.url + path,
                content=_escaped_quotes(size).encode(),
                headers={"content-type": "application/json"},
                timeout=60,
            )
        )
    )
    start = time.perf_counter()
    hostile.start()
    assert _health_ok(server.url)  # answered while the hostile body is being checked, not after it
    hostile.join(timeout=60)
    assert time.perf_counter() - start < FAST
    assert answered[0].status_code == 400 and answered[0].json()["error"]["code"] == "malformed_json"


def test_long_date_fields_are_422_fast(server: ServerProcess) -> None:
    start = time.perf_counter()
    r = httpx.get(f"{server.url}/v1/workflows", params={"created_after": "1" * 8000 + "x"}, timeout=60)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = httpx.post(
        f"{server.url}/v1/schedules/x/backfill",
        json={"start": "1" * 14_000 + "x", "end": "2025-01-01T00:00:00Z"},
        timeout=60,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = httpx.get(f"{server.url}/v1/workflows", params={"created_before": "2025-01-01T00:00:00" + "0" * 50}, timeout=60)
    assert r.status_code == 422
    assert time.perf_counter() - start < FAST
    assert httpx.get(f"{server.url}/v1/workflows", params={"created_after": "2025-01-01T00:00:00Z"}).status_code == 200


@pytest.mark.parametrize(
    "message",
    ["x" * (1_048_576 + 1), "é" * 600_000],  # one byte over; under the limit in characters, over it in bytes
    ids=["one-byte-over", "multibyte"],
)
def test_websocket_message_over_the_body_limit_closes_1009(server: ServerProcess, message: str) -> None:
    with connect(f"{server.url.replace('http', 'ws')}/ws/hostile", max_size=None, open_timeout=10) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert _health_ok(server.url)


def _open_slow(url: str, count: int, head: bytes) -> list[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(head)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing ``s`` (``None``: still open after ``within`` seconds)."""
    s.settimeout(within)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except TimeoutError:
        return None
    except OSError:
        pass
    return data


def test_slow_request_heads_are_closed_and_health_answers(server: ServerProcess) -> None:
    socks = _open_slow(server.url, 200, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        for _ in range(5):
            start = time.perf_counter()
            assert _health_ok(server.url)
            assert time.perf_counter() - start < FAST  # generous (shared CI); bench: p95 15 ms under 1,500
        answers = [_closed_by_server(s, within=15) for s in socks]
    finally:
        for s in socks:
            s.close()
    assert all(a is not None for a in answers), "a slow request head was never timed out"
    assert answers[0] is not None and answers[0].startswith(b"HTTP/1.1 408")
    assert b'"request_timeout"' in answers[0]


def test_idle_connection_without_a_request_is_closed(server: ServerProcess) -> None:
    (s,) = _open_slow(server.url, 1, b"")
    with s:
        assert _closed_by_server(s, within=15) is not None


@pytest.mark.parametrize(
    ("path", "head", "sent"),
    [
        ("/v1/workflows", b"Content-Type: application/json\r\nContent-Length: 1000\r\n", b'{"type": "'),
        (
            "/v1/webhooks/standard",
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            b'5\r\n{"a":\r\n',
        ),
    ],
    ids=["content-length", "chunked-webhook"],
)
def test_slow_body_gets_408_request_timeout(server: ServerProcess, path: str, head: bytes, sent: bytes) -> None:
    request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + head + b"\r\n" + sent
    (s,) = _open_slow(server.url, 1, request)
    with s:
        answer = _closed_by_server(s, within=15)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "request_timeout"


def test_connections_beyond_the_limit_get_503(server: ServerProcess) -> None:
    socks = _open_slow(server.url, 400, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        assert httpx.get(f"{server.url}/health", timeout=FAST).status_code == 503
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example", "http://evil.example"),  # the probe: rebound name, matching Origin
        ("evil.example:{port}", "http://evil.example:{port}"),
        ("localhost.evil.example:{port}", None),
        ("127.0.0.1:{port}:junk", None),
    ],
    ids=["probe", "with-port", "localhost-prefix", "junk-after-port"],
)
def test_loopback_server_refuses_foreign_hosts(server: ServerProcess, host: str, origin: str | None) -> None:
    headers = {"host": host.format(port=server.port)}
    if origin:
        headers["origin"] = origin.format(port=server.port)
    r = httpx.post(f"{server.url}/v1/workflows", json={"type": "x"}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed", r.text
    r = httpx.get(f"{server.url}/v1/workflows", headers=headers)
    assert r.status_code == 400


def test_loopback_names_pass_and_websockets_check_the_host_too(server: ServerProcess) -> None:
    for host in ["localhost", f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}"]:
        assert httpx.get(f"{server.url}/health", headers={"host": host}).status_code == 200, host
    # A raw handshake: WebSocket clients write the Host of the URL they connect to, a rebound name's here.
    handshake = (
        b"GET /ws/hostile HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    (s,) = _open_slow(server.url, 1, handshake)
    with s:
        answer = _closed_by_server(s, within=15)
    assert answer is not None and answer.startswith(b"HTTP/1.1 403"), answer


def test_percent_encoded_credentials_never_reach_the_access_log(server: ServerProcess) -> None:
    httpx.get(f"{server.url}/v1/workflows/none/events?%61ccess_token=TOKEN-QUERY-1")
    httpx.post(f"{server.url}/v1/%63allbacks/TOKEN-PATH-2", json={})
    httpx.get(f"{server.url}/v1/callbacks%2FTOKEN-PATH-3")
    marker = "/health?after-the-probes"
    httpx.get(server.url + marker)
    deadline = time.monotonic() + 10
    while marker not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the log is written by another process: poll the file, bounded
    log = server.log_path.read_text()
    assert marker in log
    assert "TOKEN-QUERY-1" not in log and "TOKEN-PATH-2" not in log and "TOKEN-PATH-3" not in log


@pytest.mark.parametrize(
    "pattern",
    [
        "communication.protocol.validation:WORKFLOW_ID_PATTERN",
        "communication.protocol.validation:KEY_PATTERN",
        "communication.protocol.validation:IDEMPOTENCY_KEY_PATTERN",
        "communication.protocol.replies:REQUEST_ID_PATTERN",
        "communication.protocol.schedule_models:DISPATCH_ID_PATTERN",
        "communication.protocol.schedule_models:SCHEDULE_NAME_PATTERN",
        "communication.protocol.requests:QUEUE_NAME_PATTERN",
    ],
)
def test_every_input_pattern_is_linear_on_long_input(pattern: str) -> None:
    module, name = pattern.split(":")
    regex = re.compile(getattr(importlib.import_module(module), name))
    start = time.perf_counter()
    for text in ["a" * 1_000_000 + "!", "sched-" + "a." * 500_000 + " ", "!" * 1_000_000 + "\n"]:
        assert regex.fullmatch(text) is None
    assert time.perf_counter() - start < FAST


def test_log_redaction_is_linear_on_long_lines() -> None:
    lines = ["GET /?" + "&access_token=" * 70_000 + " HTTP/1.1", "GET /" + "%61" * 300_000 + " HTTP/1.1"]
    start = time.perf_counter()
    for line in lines:
        redact(line)
    assert time.perf_counter() - start < FAST
