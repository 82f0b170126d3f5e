"""Typed registration: ``@workflow_type`` on ordinary typed functions, input schemas from signatures."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from pydantic import BaseModel

from communication import workflow_type
from communication.core.registry import WorkflowRegistry, signature_model
from tests.support.inprocess import app_client, result

pytestmark = pytest.mark.backend_independent


class Tone(BaseModel):
    """A nested model is fine in a typed signature."""

    style: str = "plain"


@workflow_type(name="test_typed_summarize", description="Test only: repeat a text, stream each copy.")
async def summarize(text: str, times: int = 2, tone: Tone | None = None) -> dict[str, Any]:
    for i in range(times):
        await DBOS.write_stream_async("copies", f"{i}:{text}")
    await DBOS.close_stream_async("copies")
    return {"text": text * times, "times": times, "style": tone.style if tone else None}


@workflow_type(name="test_typed_sync")
def add(a: int, b: int = 1) -> int:
    """Test only: a sync typed workflow. Adds two numbers."""
    DBOS.set_event("sum", a + b)  # DBOS's sync API works inside (the function runs on a worker thread)
    return a + b


@workflow_type(name="test_typed_queued", queue="test-typed-q", tags=("test",))
async def queued(n: int) -> int:
    """Test only: always enqueued on its own queue."""
    return n * 2


def _start(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v1/workflows", json=body)


def test_typed_type_is_called_with_keyword_arguments(client: TestClient) -> None:
    r = _start(client, {"type": "test_typed_summarize", "input": {"text": "hi", "times": 3}, "workflow_id": "t-1"})
    assert r.status_code == 201, r.text
    done = result(client, "t-1")
    assert done["status"] == "SUCCESS"
    assert done["output"] == {"text": "hihihi", "times": 3, "style": None}
    stream = client.get("/v1/workflows/t-1/streams/copies").json()
    assert [v["value"] for v in stream["values"]] == ["0:hi", "1:hi", "2:hi"] and stream["closed"]
    # The recorded input is the keyword arguments, readable by any client (portable JSON).
    assert client.get("/v1/workflows/t-1").json()["input"] == {"text": "hi", "times": 3}


def test_typed_defaults_and_nested_models_apply(client: TestClient) -> None:
    r = _start(client, {"type": "test_typed_summarize", "input": {"text": "a", "tone": {"style": "warm"}}})
    wid = r.json()["workflow_id"]
    assert result(client, wid)["output"] == {"text": "aa", "times": 2, "style": "warm"}


def test_sync_typed_function_runs(client: TestClient) -> None:
    r = _start(client, {"type": "test_typed_sync", "input": {"a": 40, "b": 2}})
    assert r.status_code == 201, r.text
    wid = r.json()["workflow_id"]
    assert result(client, wid)["output"] == 42
    assert client.get(f"/v1/workflows/{wid}/events/sum").json()["value"] == 42


@pytest.mark.parametrize(
    ("bad_input", "loc", "kind"),
    [
        ({}, ["text"], "missing"),
        ({"text": "x", "times": "many"}, ["times"], "int_parsing"),
        ({"text": "x", "colour": "red"}, ["colour"], "extra_forbidden"),
    ],
)
def test_wrong_typed_input_is_422_with_pydantic_errors(
    client: TestClient, bad_input: dict[str, Any], loc: list[str], kind: str
) -> None:
    r = _start(client, {"type": "test_typed_summarize", "input": bad_input})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["type"] == "test_typed_summarize"
    assert [(list(e["loc"]), e["type"]) for e in error["details"]["errors"]] == [(loc, kind)]


def test_workflow_types_show_the_signature_schema(client: TestClient) -> None:
    types = {t["type"]: t for t in client.get("/v1/workflow-types").json()}
    typed = types["test_typed_summarize"]
    schema = typed["input_schema"]
    assert typed["description"] == "Test only: repeat a text, stream each copy."
    assert typed["call_style"] == "kwargs"
    assert set(schema["properties"]) == {"text", "times", "tone"}
    assert schema["required"] == ["text"]
    assert schema["properties"]["times"]["default"] == 2
    assert schema["additionalProperties"] is False
    assert types["test_typed_sync"]["description"] == "Test only: a sync typed workflow. Adds two numbers."
    # The result's schema comes from the return annotation (wfc codegen ts turns it into TypeScript).
    assert types["test_typed_sync"]["output_schema"] == {"type": "integer"}
    assert typed["output_schema"] == {"additionalProperties": True, "type": "object"}
    # The one-dict form keeps its model's schema.
    assert types["events"]["call_style"] == "dict"


def test_typed_type_with_a_queue_is_enqueued_there_and_a_start_may_name_a_queue(client: TestClient) -> None:
    assert _start(client, {"type": "test_typed_queued", "input": {"n": 1}}).status_code == 404  # queue unregistered
    DBOS.register_queue("test-typed-q", polling_interval_sec=0.05)
    DBOS.register_queue("test-other-q", polling_interval_sec=0.05)
    r = _start(client, {"type": "test_typed_queued", "input": {"n": 21}})
    assert r.status_code == 201 and r.json()["queue_name"] == "test-typed-q"
    assert result(client, r.json()["workflow_id"])["output"] == 42
    r = _start(client, {"type": "test_typed_sync", "input": {"a": 1}, "queue": "test-other-q"})
    assert r.status_code == 201 and r.json()["queue_name"] == "test-other-q"
    assert result(client, r.json()["workflow_id"])["output"] == 2
    listed = {t["type"]: t for t in client.get("/v1/workflow-types").json()}["test_typed_queued"]
    assert listed["queue"] == "test-typed-q" and listed["tags"] == ["test"]


def test_args_are_refused_for_registered_types(client: TestClient) -> None:
    r = _start(client, {"type": "test_typed_sync", "input": {"a": 1}, "args": [1]})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "args"


def test_unknown_type_is_422_with_or_without_queue(client: TestClient) -> None:
    r = _start(client, {"type": "nobody_has_this", "input": {}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_workflow_type"
    # Not in COMM_GATEWAY_WORKFLOWS: refused before any queue is looked at.
    r = _start(client, {"type": "nobody_has_this", "queue": "no-such-queue", "input": {}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_workflow_type"


def test_allow_listed_name_on_an_unknown_queue_is_404(database_url: str) -> None:
    with app_client(database_url, gateway_workflows=["no-such-queue:nobody_has_this"]) as client:
        r = _start(client, {"type": "nobody_has_this", "queue": "no-such-queue", "input": {}})
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "queue_not_found",
        "message": r.json()["error"]["message"],
        "details": {"queue": "no-such-queue"},
    }


def test_signatures_that_cannot_come_from_json_are_refused() -> None:
    def star(*args: int) -> None: ...

    def positional(a: int, /) -> None: ...

    for fn in (star, positional):
        with pytest.raises(TypeError, match="parameter"):
            signature_model(fn, "x")
    registry = WorkflowRegistry()

    @registry.workflow_type(name="test_twice_only_here")
    async def once(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="registered twice"):
        registry.workflow_type(name="test_twice_only_here")(once)


def test_openapi_documents_start_by_name_and_its_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    start = spec["paths"]["/v1/workflows"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(start["responses"])
    body = spec["components"]["schemas"]["StartWorkflowRequest"]["properties"]
    assert {"type", "input", "args", "queue", "workflow_id"} <= set(body)
    listing = {p["name"] for p in spec["paths"]["/v1/workflows"]["get"]["parameters"]}
    assert "application" in listing


def test_the_public_face_is_lazy_so_the_client_never_imports_fastapi_or_dbos() -> None:
    code = (
        "import sys\n"
        "from communication.client import Client\n"
        "import communication\n"
        "assert communication.Client is Client\n"
        "assert 'fastapi' not in sys.modules and 'dbos' not in sys.modules, sorted(sys.modules)\n"
        "from communication import workflow_type, mount\n"
        "assert callable(workflow_type) and callable(mount) and 'dbos' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
