"""The live dashboard: static HTML/CSS/JS served at ``/ui/``, and ``/`` redirecting to it.

The page is public (it holds no data); everything it shows comes from the public HTTP API, which it calls with
the API key the user types (``Authorization: Bearer``) and, for EventSource, with read tokens
(``?access_token=``). No build step: the files under ``communication/http/ui_static/`` are served as they are.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

#: The dashboard's files (package data of ``api``; see ``[tool.setuptools.package-data]``).
STATIC_DIR = Path(__file__).resolve().parent.parent / "ui_static"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # module scripts need a JavaScript MIME type
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Why no-cache: the files change with the server version and are tiny; revalidation (ETag) keeps reloads cheap.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def static_file(relative: str) -> Path:
    """The file ``relative`` under :data:`STATIC_DIR`.

    Raises:
        HTTPException: 404 when it does not exist, is not a file we serve, or escapes the directory.
    """
    root = STATIC_DIR
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.suffix not in _MEDIA_TYPES:
        raise HTTPException(status_code=404)
    return path


def _respond(relative: str) -> FileResponse:
    path = static_file(relative)
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"], summary="Redirect to the dashboard")
async def root() -> RedirectResponse:
    """The server's home page is the dashboard."""
    return RedirectResponse("/ui/", status_code=307)


@router.api_route("/ui", methods=["GET", "HEAD"], summary="Redirect to the dashboard")
async def ui_no_slash() -> RedirectResponse:
    """Relative URLs in the page need the trailing slash."""
    return RedirectResponse("/ui/", status_code=307)


@router.api_route("/ui/", methods=["GET", "HEAD"], summary="The dashboard")
async def index() -> FileResponse:
    """The single page; views are chosen by the URL fragment (``#/workflows``, ``#/workflows/<id>``, ...)."""
    return _respond("index.html")


@router.api_route("/ui/{relative:path}", methods=["GET", "HEAD"], summary="A dashboard asset")
async def asset(relative: str) -> FileResponse:
    """Scripts, styles and images of the page."""
    return _respond(relative)
