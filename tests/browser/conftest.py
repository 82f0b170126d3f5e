"""The browser fixture shared by every browser test: one system Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import launch_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test opens its own context or page."""
    with launch_chromium() as chromium:
        yield chromium


#: Guard for each expectation in a page; the whole test is bounded by pytest-timeout.
PAGE_WAIT_MS = 30_000


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context; uncaught script errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    new_page = context.new_page()
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    new_page.set_default_timeout(PAGE_WAIT_MS)
    try:
        yield new_page
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
