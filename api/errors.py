"""One handler table mapping every failure onto the error envelope ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from communication.errors import CommError

log = logging.getLogger("api.errors")

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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Logged with the traceback; the client gets a stable code and no internals.
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handler table on ``app``."""
    app.add_exception_handler(CommError, _comm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
