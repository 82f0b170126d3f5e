"""``communication.mount`` applies the host's global dependencies (its auth) to every route it adds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from dbos import DBOS
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import communication
import workflows  # noqa: F401  (registers the built-in types, e.g. counter)
from tests.support.inprocess import make_settings

pytestmark = pytest.mark.backend_independent

TOKEN = "host-secret"


async def host_auth(x_host_token: str | None = Header(None)) -> None:
    """The host's own guard: 401 without the header, 403 with a wrong one."""
    if x_host_token is None:
        raise HTTPException(status_code=401, detail="host: token required")
    if x_host_token != TOKEN:
        raise HTTPException(status_code=403, detail="host: wrong token")


def guarded_host(database_url: str, prefix: str) -> FastAPI:
    """A host application that launches DBOS and guards everything with a global dependency."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        DBOS(config={"name": "host-app", "system_database_url": database_url, "log_level": "WARNING"})
        DBOS.launch()
        yield
        DBOS.destroy(destroy_registry=False)

    app = FastAPI(lifespan=lifespan, dependencies=[Depends(host_auth)])
    communication.mount(app, prefix=prefix, settings=make_settings(database_url))
    return app


@pytest.mark.parametrize("prefix", ["/comm", ""])
def test_host_global_auth_guards_the_mounted_list_and_start(database_url: str, prefix: str) -> None:
    with TestClient(guarded_host(database_url, prefix)) as client:
        # The probe's shape: the workflow list and a start, without the host's header.
        assert client.get(f"{prefix}/v1/workflows").status_code == 401
        start = {"type": "counter", "input": {}, "workflow_id": "host-guarded-1"}
        assert client.post(f"{prefix}/v1/workflows", json=start).status_code == 401
        wrong = {"X-Host-Token": "nope"}
        assert client.get(f"{prefix}/v1/workflows", headers=wrong).status_code == 403
        assert client.post(f"{prefix}/v1/sessions/s1/events", json={"type": "m"}, headers=wrong).status_code == 403
        assert client.get(f"{prefix}/v1/workflows/host-guarded-1").status_code == 401
        # With the header everything works as before.
        ok = {"X-Host-Token": TOKEN}
        listed = client.get(f"{prefix}/v1/workflows", headers=ok)
        assert listed.status_code == 200, listed.text
        started = client.post(f"{prefix}/v1/workflows", json=start, headers=ok)
        assert started.status_code == 201, started.text
        assert client.get(f"{prefix}/v1/workflows/host-guarded-1", headers=ok).status_code == 200


def test_host_global_auth_guards_the_mounted_websocket(database_url: str) -> None:
    with TestClient(guarded_host(database_url, "/comm")) as client:
        ok = {"X-Host-Token": TOKEN}
        start = {"type": "counter", "input": {}, "workflow_id": "host-guarded-ws"}
        assert client.post("/comm/v1/workflows", json=start, headers=ok).status_code == 201
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/comm/v1/workflows/host-guarded-ws/ws") as ws,
        ):
            ws.receive_json()
        with client.websocket_connect("/comm/v1/workflows/host-guarded-ws/ws", headers=ok) as ws:
            assert ws.receive_json()["type"] == "hello"
