"""One handler table mapping every failure onto the error envelope ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from communication.http.contract import allowed_methods
from communication.protocol.errors import CommError

log = logging.getLogger("communication.http.errors")

#: Codes for errors raised by the framework itself (routing, methods), by status.
_HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed", 406: "not_acceptable", 415: "unsupported_media_type"}


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON error body."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    """A JSONResponse carrying the error envelope."""
    return JSONResponse(envelope(code, message, details), status_code=status)


async def _comm_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CommError)
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "request body is not valid JSON", {"errors": errors})
    return error_response(422, "validation_error", "request failed validation", {"errors": errors})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        # RFC 9110: Allow lists every method of the resource. Starlette names only the first route's, and FastAPI
        # has one route per method, so take them from the contract.
        path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
        methods = allowed_methods(request.app.openapi(), path)
        if methods:
            response.headers["Allow"] = ", ".join(methods)
    return response


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # Connection-level database failures (Postgres restarting, pool exhausted by an outage) are not bugs: answer
    # 503 so clients and load balancers retry, and log one line without a traceback.
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(503, "not_ready", "database unavailable; retry shortly", {"reason": type(exc).__name__})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Logged with the traceback; the client gets a stable code and no internals.
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handler table on ``app``."""
    app.add_exception_handler(CommError, _comm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sqlalchemy.exc.InterfaceError, _database_unavailable)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
