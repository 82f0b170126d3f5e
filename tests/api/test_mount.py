"""``communication.mount``: the API inside a FastAPI app of the test's own, which launches DBOS itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbos import DBOS
from fastapi import Depends, FastAPI, Request, WebSocketDisconnect
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

import communication
from communication import workflow_type
from tests.support.inprocess import make_settings

pytestmark = pytest.mark.backend_independent


@workflow_type(name="test_mount_echo")
async def echo(prefix: str, count: int = 3) -> str:
    """Test only: stream ``count`` tokens, then wait for a message and return it with the prefix."""
    for i in range(count):
        await DBOS.write_stream_async("tokens", f"{prefix}{i}")
    await DBOS.close_stream_async("tokens")
    reply = await DBOS.recv_async("notification", timeout_seconds=60)
    return f"{prefix}:{reply}"


class HostError(Exception):
    """The host's own exception, with the host's own handler."""


def host_app(database_url: str) -> tuple[FastAPI, list[str]]:
    """A user's application: launches DBOS in its lifespan, has its own routes, handler and middleware."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        DBOS(config={"name": "host-app", "system_database_url": database_url, "log_level": "WARNING"})
        DBOS.launch()
        events.append("host launched DBOS")
        yield
        events.append("host destroys DBOS")
        DBOS.destroy(destroy_registry=False)

    app = FastAPI(lifespan=lifespan)

    @app.exception_handler(HostError)
    async def host_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"host_error": str(exc)}, status_code=418)

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["X-Host"] = "yes"
        return response

    @app.get("/hello")
    async def hello(n: int = 1) -> dict[str, Any]:
        return {"hello": n}

    @app.get("/boom")
    async def boom() -> None:
        raise HostError("host handled")

    return app, events


@pytest.fixture
def mounted(database_url: str) -> Iterator[tuple[TestClient, FastAPI, list[str]]]:
    app, events = host_app(database_url)
    api = communication.mount(app, prefix="/comm", settings=make_settings(database_url), health=True)
    assert app.state.comm is api

    @app.get("/after-mount")  # declared after mount: must still be the host's
    async def after() -> dict[str, bool]:
        return {"after": True}

    with TestClient(app) as client:
        yield client, app, events
    assert events == ["host launched DBOS", "host destroys DBOS"]


def test_mounted_api_runs_a_typed_workflow_end_to_end(mounted: tuple[TestClient, FastAPI, list[str]]) -> None:
    client, _, _ = mounted
    assert client.get("/comm/readyz").json()["status"] == "ready"
    r = client.post(
        "/comm/v1/workflows", json={"type": "test_mount_echo", "input": {"prefix": "t"}, "workflow_id": "m-1"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["X-Host"] == "yes"  # the host's middleware wraps everything, ours included
    # Live tail (SSE) through the mounted prefix, until the stream closes.
    with client.stream("GET", "/comm/v1/workflows/m-1/streams/tokens/live") as live:
        data = [json.loads(line[5:]) for line in live.iter_lines() if line.startswith("data:")]
    assert data[:3] == ["t0", "t1", "t2"]
    assert data[3]["reason"] == "closed"
    sent = client.post("/comm/v1/workflows/m-1/messages", json={"message": "ok", "idempotency_key": "k1"})
    assert sent.status_code == 202 and sent.json()["outcome"] == "delivered"
    done = client.get("/comm/v1/workflows/m-1/result", params={"timeout": 30}).json()
    assert done["status"] == "SUCCESS" and done["output"] == "t:ok"


def test_mounted_websocket_streams_and_sends(mounted: tuple[TestClient, FastAPI, list[str]]) -> None:
    client, _, _ = mounted
    client.post("/comm/v1/workflows", json={"type": "test_mount_echo", "input": {"prefix": "w"}, "workflow_id": "m-ws"})
    with client.websocket_connect("/comm/v1/workflows/m-ws/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"op": "subscribe_stream", "sub": "t", "key": "tokens", "offset": 0})
        frames = [ws.receive_json() for _ in range(4)]
        assert [f.get("value") for f in frames[:3]] == ["w0", "w1", "w2"] and frames[3]["type"] == "end"
        ws.send_json({"op": "send", "req": "r", "topic": "notification", "message": "via ws"})
        assert ws.receive_json()["outcome"] == "delivered"
    assert client.get("/comm/v1/workflows/m-ws/result", params={"timeout": 30}).json()["output"] == "w:via ws"


def test_host_routes_handlers_and_404s_are_left_alone(mounted: tuple[TestClient, FastAPI, list[str]]) -> None:
    client, app, _ = mounted
    assert client.get("/hello", params={"n": 2}).json() == {"hello": 2}
    assert client.get("/after-mount").json() == {"after": True}
    assert client.get("/boom").json() == {"host_error": "host handled"}
    # The host's validation errors and 404s keep FastAPI's shape; ours use the error envelope.
    assert "detail" in client.get("/hello", params={"n": "x"}).json()
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    mine = client.get("/comm/v1/workflows/does-not-exist")
    assert mine.status_code == 404 and mine.json()["error"]["code"] == "workflow_not_found"
    bad = client.post("/comm/v1/workflows", json={"type": "test_mount_echo", "input": {}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    # Our per-request state lives on the mounted API, not on the host's state.
    assert not hasattr(app.state, "core") and not hasattr(app.state, "hub")


def test_mount_without_prefix_shares_the_root(database_url: str) -> None:
    app, _ = host_app(database_url)
    communication.mount(app, settings=make_settings(database_url))

    @app.get("/v1/mine")  # a host route next to ours under the same segment
    async def mine() -> dict[str, str]:
        return {"owner": "host"}

    with TestClient(app) as client:
        assert client.get("/v1/mine").json() == {"owner": "host"}
        assert client.get("/hello").json() == {"hello": 1}
        assert any(t["type"] == "test_mount_echo" for t in client.get("/v1/workflow-types").json())
        assert client.get("/nowhere").json() == {"detail": "Not Found"}


def test_mount_refuses_a_host_that_never_launches_dbos(database_url: str) -> None:
    app = FastAPI()
    communication.mount(app, prefix="/comm", settings=make_settings(database_url))
    with pytest.raises(RuntimeError, match="DBOS is not launched"), TestClient(app):
        pass


def test_mount_rejects_bad_prefixes() -> None:
    for prefix in ("comm", "/comm/"):
        with pytest.raises(ValueError, match="prefix"):
            communication.mount(FastAPI(), prefix=prefix)


# -- a guest in the host: the host's routes win, only v1 unless asked, the host's lifespan left alone -------------
def test_host_routes_win_over_ours_declared_before_or_after_mount(database_url: str) -> None:
    app, _ = host_app(database_url)

    @app.get("/health")  # declared before mount(): the host's health check, not ours
    async def host_health() -> dict[str, str]:
        return {"owner": "host"}

    communication.mount(app, settings=make_settings(database_url), health=True, compat=True)

    @app.post("/events/o1")  # declared after mount(), on one of the seed's paths
    async def host_event() -> dict[str, str]:
        return {"owner": "host"}

    @app.get("/v1/workflows")  # declared after mount(), on one of the v1 paths
    async def host_workflows() -> dict[str, str]:
        return {"owner": "host"}

    with TestClient(app) as client:
        assert client.get("/health").json() == {"owner": "host"}
        assert client.post("/events/o1", json={"type": "x"}).json() == {"owner": "host"}
        assert client.get("/v1/workflows").json() == {"owner": "host"}
        # What the host does not serve is still ours: another method on its path, our other paths.
        posted = client.post("/v1/workflows", json={"type": "test_mount_echo", "input": {"prefix": "h"}})
        assert posted.status_code == 201, posted.text
        assert client.get("/readyz").json()["status"] == "ready"
        assert client.post("/events/o2", json={"type": "done"}).status_code == 202


def test_a_plain_mount_adds_only_the_v1_api(database_url: str) -> None:
    app, _ = host_app(database_url)
    api = communication.mount(app, settings=make_settings(database_url))
    with TestClient(app) as client:
        ours = list(api.openapi()["paths"])  # every HTTP route of the mounted API
        assert ours and all(path.startswith("/v1/") for path in ours), ours
        host_openapi = client.get("/openapi.json").json()  # the host's document: none of our paths
        assert set(host_openapi["paths"]) == {"/hello", "/boom"}
        for path in ("/health", "/healthz", "/readyz", "/metrics", "/ui/", "/workflow-stream/x", "/stream/s1"):
            assert client.get(path).status_code == 404, path
        for path in ("/start-workflow-events/x/1", "/send-message/x", "/events/s1", "/monty/stream"):
            assert client.post(path, json={}).status_code == 404, path
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/u1") as ws:
            ws.receive_json()
        assert client.get("/v1/workflow-types").status_code == 200


def test_mount_with_compat_serves_the_seed_callback_receiver(database_url: str) -> None:
    app, _ = host_app(database_url)
    communication.mount(app, prefix="/comm", settings=make_settings(database_url), compat=True)
    with TestClient(app) as client:
        assert client.post("/comm/events/s1", json={"type": "thinking", "n": 1}).status_code == 202
        assert client.post("/comm/events/s1", json={"type": "done"}).status_code == 202
        with client.stream("GET", "/comm/stream/s1") as tail:
            data = [json.loads(line[5:]) for line in tail.iter_lines() if line.startswith("data:")]
        assert data == [{"type": "thinking", "n": 1}, {"type": "done"}]
        assert client.get("/comm/readyz").status_code == 404  # health was not asked for


def _launch(database_url: str) -> None:
    DBOS(config={"name": "host-app", "system_database_url": database_url, "log_level": "WARNING"})
    DBOS.launch()


def test_a_lifespan_set_after_mount_runs_and_ours_stops_before_the_host_destroys_dbos(database_url: str) -> None:
    app = FastAPI()
    api = communication.mount(app, settings=make_settings(database_url))
    original = app.router.lifespan_context
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _launch(database_url)
        yield
        seen.append(f"host shutdown, api ready: {api.state.ready}")
        DBOS.destroy(destroy_registry=False)

    app.router.lifespan_context = lifespan
    with TestClient(app) as client:
        assert api.state.ready
        assert client.get("/v1/workflow-types").status_code == 200
    assert seen == ["host shutdown, api ready: False"]
    assert original is not lifespan and app.router.lifespan_context is lifespan  # never replaced by us


def test_a_host_with_event_handlers(database_url: str) -> None:
    app = FastAPI()
    api = communication.mount(app, prefix="/comm", settings=make_settings(database_url))
    seen: list[str] = []

    def startup() -> None:
        _launch(database_url)

    def shutdown() -> None:
        seen.append(f"host shutdown, api ready: {api.state.ready}")
        DBOS.destroy(destroy_registry=False)

    app.router.on_startup.append(startup)  # what @app.on_event("startup") does, without its deprecation warning
    app.router.on_shutdown.append(shutdown)
    with TestClient(app) as client:
        r = client.post("/comm/v1/workflows", json={"type": "test_mount_echo", "input": {"prefix": "e", "count": 0}})
        assert r.status_code == 201, r.text
    assert seen == ["host shutdown, api ready: False"]


async def test_under_a_server_without_lifespan_the_api_starts_on_its_first_request(database_url: str) -> None:
    app = FastAPI()
    api = communication.mount(app, settings=make_settings(database_url))
    _launch(database_url)  # the host launched DBOS its own way; httpx's ASGI transport runs no lifespan
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
            replies = await asyncio.gather(*(client.get("/v1/workflow-types") for _ in range(3)))
        assert [r.status_code for r in replies] == [200, 200, 200] and api.state.ready
    finally:
        await app.state.comm.state.hub.close()
        DBOS.destroy(destroy_registry=False)


def test_the_server_serves_the_seed_paths_unless_comm_compat_is_false(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url)
    with TestClient(communication.create_app(settings)) as client:  # the default: on
        assert client.get("/workflow-stream/nope").status_code == 404
        assert client.get("/workflow-stream/nope").json()["error"]["code"] == "workflow_not_found"
    monkeypatch.setenv("COMM_COMPAT", "false")
    for app in (communication.create_app(settings), communication.create_app(settings, compat=False)):
        with TestClient(app) as client:
            assert client.post("/events/s1", json={"type": "x"}).status_code == 404
            assert client.get("/monty/stream").status_code == 404
            assert client.get("/readyz").status_code == 200  # the server keeps its health paths
    with TestClient(communication.create_app(settings, compat=True)) as client:  # an explicit yes wins
        assert client.post("/events/s2", json={"type": "done"}).status_code == 202


def test_the_hosts_global_dependencies_run_on_our_routes(database_url: str) -> None:
    app, _ = host_app(database_url)
    calls: list[str] = []

    async def audit(request: Request) -> None:
        calls.append(request.url.path)

    app.router.dependencies.append(Depends(audit))  # what FastAPI(dependencies=[...]) sets
    communication.mount(app, prefix="/comm", settings=make_settings(database_url))
    with TestClient(app) as client:
        assert client.get("/comm/v1/workflow-types").status_code == 200
        assert client.get("/comm/v1/workflows/nope").status_code == 404
    assert calls == ["/comm/v1/workflow-types", "/comm/v1/workflows/nope"]


def test_a_host_catch_all_mount_is_a_fallback_that_leaves_our_paths_alone(database_url: str, tmp_path: Path) -> None:
    app, _ = host_app(database_url)
    (tmp_path / "index.html").write_text("<p>host site</p>")
    communication.mount(app, settings=make_settings(database_url))
    app.mount("/", StaticFiles(directory=tmp_path, html=True))  # the host's single-page site, after mount()
    with TestClient(app) as client:
        assert client.get("/v1/workflow-types").status_code == 200
        assert client.get("/").text == "<p>host site</p>"
        assert client.get("/hello").json() == {"hello": 1}
