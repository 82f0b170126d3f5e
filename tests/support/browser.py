"""A headless system Chromium for browser tests (Playwright cannot download browsers here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, sync_playwright

#: The system browser (Debian's ``chromium`` package; ``.ci/run`` installs it).
CHROMIUM = shutil.which("chromium")

#: Flags for a headless browser in a container with no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Launch the system Chromium through Playwright; skip (missing environment) when it is not installed."""
    if CHROMIUM is None:
        pytest.skip("chromium is not on PATH (apt-get install -y chromium; .ci/run installs it)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
