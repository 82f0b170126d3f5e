"""Your own FastAPI application, which launches DBOS itself, with the whole communication API mounted in it.

Run (from the repository root)::

    DBOS_SYSTEM_DATABASE_URL=sqlite:///data/mounted.sqlite PYTHONPATH=examples python examples/mounted_app.py

Then ``GET /hello`` is your route, and ``/comm/v1/...`` is the API (``wfc --url http://127.0.0.1:8000/comm ...``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import summarize_flows  # noqa: F401  (registers the "summarize" type: your workflows, imported by you)
import uvicorn
from dbos import DBOS
from fastapi import FastAPI

import communication


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    DBOS(config={"name": "my-app", "system_database_url": os.environ["DBOS_SYSTEM_DATABASE_URL"]})
    DBOS.launch()
    yield
    DBOS.destroy()


app = FastAPI(lifespan=lifespan)
communication.mount(app, prefix="/comm", dashboard=True)  # hub and services start/stop with this app's lifespan


@app.get("/hello")
async def hello() -> dict[str, str]:
    """One of your own routes, untouched by the mount."""
    return {"hello": "world"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), log_level="warning")
