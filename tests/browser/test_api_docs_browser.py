"""The API's own docs pages (/docs, /redoc) render in a real browser with no network beyond the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.server_proc import ServerProcess

pytestmark = pytest.mark.backend_independent


def test_docs_and_redoc_render_without_network_in_chromium(database_url: str, tmp_path: Path, browser: Browser) -> None:
    with ServerProcess(database_url, log_dir=tmp_path) as server:
        page = browser.new_page()
        outside: list[str] = []

        def only_local(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if url.startswith(server.url):
                route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(f"{route.request.resource_type} {url}")  # type: ignore[attr-defined]
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", only_local)
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() > 20
        assert page.get_by_text("/v1/workflows/{workflow_id}/result").count() >= 1
        page.goto(f"{server.url}/redoc")
        page.get_by_text("Start a Monty Python workflow and stream its progress").first.wait_for(
            state="attached", timeout=30_000
        )
        # Everything the pages need comes from the server. The one outside request allowed is ReDoc's
        # "powered by" logo image, hard-coded in its bundle; without network it is simply not shown.
        needed = [u for u in outside if u != "image https://cdn.redoc.ly/redoc/logo-mini.svg"]
        assert needed == [], f"the docs pages fetched from outside: {needed}"
