"""Schemathesis fuzzing of the whole OpenAPI schema: no 5xx, and every response conforms to the schema.

Bounded and deterministic: a fixed number of derandomized examples per operation, no example database, and
short waits (``max_wait_seconds=1``) so blocking reads cannot stretch the run. The app runs with API keys and
webhook secrets configured, so the guarded and the signed paths are both exercised (the fuzzer sends the key;
webhook and link requests are unsigned, so they must be refused cleanly).

The app is served over real HTTP (uvicorn in a thread, one database for the module): schemathesis's requests
transport cuts an SSE response after a bounded number of events or ``REQUEST_TIMEOUT`` seconds, so live tails
cannot hang the run, and stopping the server ends every workflow the fuzzer started.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from psycopg import sql
from schemathesis.config import SchemathesisConfig

from communication.settings import Settings
from conftest import postgres_admin_url
from server import create_app
from tests.live_server import LiveServer, live_server

API_KEY = "fuzz-api-key"
MAX_EXAMPLES = 20
REQUEST_TIMEOUT = 5.0

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "max-stream-events": 5,
        # Off on purpose: schema-valid is not always acceptable here (a workflow type's input is validated by
        # that type's model, ids name workflows that mostly do not exist). Every other check stays on:
        # no 5xx, documented status codes, content types, headers and bodies, and invalid data rejected.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)


SETTINGS: dict[str, Any] = {
    "api_keys": [API_KEY],
    "webhook_secrets_standard": ["whsec_ZnV6ei1zdGFuZGFyZC1zZWNyZXQ="],
    "webhook_secrets_stripe": ["whsec_fuzz"],
    "webhook_secrets_github": ["fuzz"],
    "default_wait_seconds": 0.0,
    "max_wait_seconds": 1.0,
}


# The schema is read from an app that is never started: building the OpenAPI document needs no database.
schema = schemathesis.openapi.from_dict(create_app(Settings(**SETTINGS)).openapi(), config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the whole fuzz run (every operation's examples share it)."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'system.sqlite'}"
        return
    name = f"comm_fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def fuzz_server(fuzz_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app served on a free port for the whole module."""
    with live_server(fuzz_database, data_dir=tmp_path_factory.mktemp("fuzz-data"), **SETTINGS) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_session(fuzz_server: LiveServer) -> Iterator[requests.Session]:
    """An HTTP session that sends the API key."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        yield session


@pytest.mark.timeout(60)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema_and_never_fails(
    case: Any, fuzz_server: LiveServer, fuzz_session: requests.Session
) -> None:
    import time, sys
    t = time.monotonic()
    try:
        case.call_and_validate(base_url=fuzz_server.url, session=fuzz_session, timeout=REQUEST_TIMEOUT)
    finally:
        sys.stderr.write(f"TIMING {case.method} {case.operation.path} {time.monotonic()-t:.3f}\n")
