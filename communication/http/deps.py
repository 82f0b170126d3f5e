"""Shared request dependencies: the core, validated path parameters, clamped waits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from communication.core.services import Core
from communication.core.settings import Settings
from communication.protocol.validation import KEY_PATTERN, WORKFLOW_ID_PATTERN

# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency on its thread pool, a hop
# (and a GIL hand-over) per dependency per request for what is one attribute read.


async def get_core(request: Request) -> Core:
    """The communication core built in the app's lifespan."""
    core: Core = request.app.state.core
    return core


def app_settings(request: Request) -> Settings:
    """The app's settings (plain function)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_settings(request: Request) -> Settings:
    """The app's settings (dependency)."""
    return app_settings(request)


CoreDep = Annotated[Core, Depends(get_core)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

WorkflowId = Annotated[
    str,
    Path(pattern=WORKFLOW_ID_PATTERN, description="Workflow id.", examples=["wf-events-1"]),
]
EventKey = Annotated[str, Path(pattern=KEY_PATTERN, description="Event key.", examples=["progress"])]
StreamKey = Annotated[str, Path(pattern=KEY_PATTERN, description="Stream key.", examples=["progress_stream"])]


async def clamped_timeout(
    request: Request,
    timeout: Annotated[
        float | None,
        Query(
            description="Seconds to wait. Default 30; values are clamped to [0, max_wait_seconds] (120).",
            examples=[10],
            allow_inf_nan=False,
        ),
    ] = None,
) -> float:
    """The caller's wait, bounded by settings."""
    return app_settings(request).clamp_wait(timeout)


Timeout = Annotated[float, Depends(clamped_timeout)]
