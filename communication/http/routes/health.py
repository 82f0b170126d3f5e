"""Health endpoints: /health (seed), /healthz (alive), /readyz (database reachable, DBOS launched)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from communication.core.ops.health import database_reachable_async
from communication.http.deps import SettingsDep
from communication.http.errors import error_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Seed health check")
async def health(settings: SettingsDep) -> dict[str, Any]:
    """``{"status": "ok", ...}`` while the process serves requests."""
    return {"status": "ok", "database": "sqlite" if settings.is_sqlite() else "postgres"}


@router.get("/healthz", summary="Liveness: the process is alive")
async def healthz() -> dict[str, str]:
    """Always ok while the process can answer."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: DBOS launched, database reachable, not shutting down",
    responses={503: {"description": "Not ready (not_ready)"}},
)
async def readyz(request: Request) -> Any:
    """200 when ready; 503 with the reason otherwise. A 200 may carry ``warnings`` and
    ``details.version_mismatch`` when the application versions of the processes sharing the database disagree."""
    if not getattr(request.app.state, "ready", False):
        # shutdown_deadline is set by the first SIGINT/SIGTERM (api/serving.py), before requests drain.
        shutting_down = getattr(request.app.state, "shutdown_deadline", None) is not None
        reason = "shutting_down" if shutting_down else "starting"
        return error_response(503, "not_ready", f"server is {reason.replace('_', ' ')}", {"reason": reason})
    if not await database_reachable_async(timeout=2.0):
        return error_response(503, "not_ready", "database unreachable", {"reason": "database_unreachable"})
    body: dict[str, Any] = {"status": "ready"}
    # Application versions that disagree are a warning, not unreadiness: every rolling upgrade has a moment of
    # it, and pulling nodes out of a load balancer would not fix it.
    watch = getattr(request.app.state, "versions", None)
    report = await watch.report() if watch is not None else None
    mismatch = report.mismatch() if report is not None else None
    if mismatch is not None:
        body["warnings"] = mismatch["problems"]
        body["details"] = {"version_mismatch": mismatch}
    return JSONResponse(body)
