"""Schemathesis fuzzing of the whole OpenAPI schema: no 5xx, and every response conforms to the schema.

Every operation is fuzzed, the seed paths included (``test_fuzzing_covers_every_operation_including_seed_paths``),
with generated examples (valid and invalid) and the coverage phase (boundary values, wrong types, missing and
unexpected parameters, undeclared methods). Bounded and deterministic: a fixed number of derandomized examples per
operation, no example database, and short waits (``max_wait_seconds=1``) so blocking reads cannot stretch the run
(about 35 s on a 2-core machine). Hostile media types and bodies on every JSON route are swept by
tests/e2e/test_security.py. The app runs with API keys and
webhook secrets configured, so the guarded and the signed paths are both exercised (the fuzzer sends the key;
webhook and link requests are unsigned, so they must be refused cleanly).

The app is served over real HTTP (uvicorn in a thread, one database for the module): schemathesis's requests
transport cuts an SSE response after a bounded number of events or ``REQUEST_TIMEOUT`` seconds, so live tails
cannot hang the run, and stopping the server ends every workflow the fuzzer started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from communication.core.settings import Settings
from server import create_app
from tests.support.databases import copied_database
from tests.support.live_server import LiveServer, live_server

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

API_KEY = "fuzz-api-key"
#: Examples per operation; event-stream operations get fewer, each bounded by STREAM_TIMEOUT seconds.
MAX_EXAMPLES = 8
STREAM_EXAMPLES = 2
STREAM_TIMEOUT = 1.5
REQUEST_TIMEOUT = 15.0

SETTINGS: dict[str, Any] = {
    "api_keys": [API_KEY],
    "webhook_secrets_standard": ["whsec_ZnV6ei1zdGFuZGFyZC1zZWNyZXQ="],
    "webhook_secrets_stripe": ["whsec_fuzz"],
    "webhook_secrets_github": ["fuzz"],
    "default_wait_seconds": 0.0,
    "max_wait_seconds": 1.0,
}


def _event_stream_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-operation config for SSE responses: they may never end, so fewer examples and a short cut-off."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            contents = [r.get("content", {}) for r in operation.get("responses", {}).values()]
            if any("text/event-stream" in c for c in contents):
                found.append(
                    {
                        "include-path": path,
                        "include-method": method.upper(),
                        "generation": {"max-examples": STREAM_EXAMPLES},
                        "request-timeout": STREAM_TIMEOUT,
                    }
                )
    return found


# The schema is read from an app that is never started: building the OpenAPI document needs no database.
DOCUMENT = create_app(Settings(**SETTINGS)).openapi()
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        "suppress-health-check": ["all"],
        "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
        "request-timeout": REQUEST_TIMEOUT,
        "max-stream-events": 5,
        # Schemathesis authenticates (and also sends requests without the key, which must answer 401).
        "auth": {"openapi": {"ApiKey": {"bearer": API_KEY}}},
        # Off on purpose: schema-valid is not always acceptable here (a workflow type's input is validated by
        # that type's model, ids name workflows that mostly do not exist). Every other check stays on:
        # no 5xx, documented status codes, content types, headers and bodies, and invalid data rejected.
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "operations": _event_stream_operations(DOCUMENT),
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_database(tmp_path_factory: pytest.TempPathFactory, migrated_template: str) -> Iterator[str]:
    """One database for the whole fuzz run (every operation's examples share it)."""
    with copied_database(migrated_template, tmp_path_factory.mktemp("fuzz"), "comm_fuzz") as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_server(fuzz_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app served on a free port for the whole module."""
    with live_server(fuzz_database, data_dir=tmp_path_factory.mktemp("fuzz-data"), **SETTINGS) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_session(fuzz_server: LiveServer) -> Iterator[requests.Session]:
    """One HTTP session for the run (schemathesis adds the API key from its auth config)."""
    with requests.Session() as session:
        yield session


@pytest.mark.timeout(60)
# Schemathesis's own strategies trip Hypothesis's warning about the random module; nothing to act on here.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
def test_api_conforms_to_its_schema_and_never_fails(
    case: Any, fuzz_server: LiveServer, fuzz_session: requests.Session
) -> None:
    case.call_and_validate(base_url=fuzz_server.url, session=fuzz_session)


SEED_OPERATIONS = {
    ("POST", "/send-message/{workflow_id}"),
    ("POST", "/events/{session_id}"),
    ("GET", "/stream/{session_id}"),
    ("GET", "/workflow-events/{workflow_id}/all"),
    ("POST", "/start-workflow-messaging/{workflow_id}/{n_steps}"),
    ("GET", "/monty/stream"),
    ("POST", "/monty/stream"),
}


def test_fuzzing_covers_every_operation_including_seed_paths() -> None:
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), "an operation of the schema cannot be fuzzed"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    fuzzed = {(op.method.upper(), op.path) for op in operations}
    documented = {(m.upper(), p) for p, item in DOCUMENT["paths"].items() for m in item}
    assert fuzzed == documented and len(fuzzed) >= 50
    assert fuzzed >= SEED_OPERATIONS


# Regressions found by the fuzzer (kept as plain tests so they run without it).


def test_json_body_that_is_not_utf8_is_400_malformed_json(client: TestClient) -> None:
    # Was 400 http_400 "There was an error parsing the body", a code and status the schema did not list.
    r = client.post("/v1/workflows", content=b"\xff\x10\x06\x0b", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "application/merge-patch+json; charset=utf-8"])
def test_every_body_fastapi_parses_as_json_is_depth_checked(client: TestClient, content_type: str | None) -> None:
    # FastAPI parses these as JSON too; before, only exactly "application/json" was depth-checked. (Without a
    # Content-Type a JSON route now answers 415: tests/e2e/test_security.py.)
    deep = ("[" * 40 + "]" * 40).encode()
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/v1/workflows/x/messages", content=deep, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert r.json()["error"]["details"]["max_depth"] == 32


def test_body_without_content_type_that_is_not_json_is_left_to_the_route(client: TestClient) -> None:
    r = client.post("/v1/workflows/none/cancel", content=b"not json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"


def test_openapi_lists_400_and_413_on_every_operation_with_a_body() -> None:
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), operation["summary"]
