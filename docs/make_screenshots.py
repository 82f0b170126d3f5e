"""Screenshots of each dashboard view, for the README: ``python docs/make_screenshots.py [--out DIR]``.

Runs a real ``python server.py`` on a throw-away SQLite database, starts a few workflows (finished, running,
waiting for approval, failed, cancelled), a session and two schedules, then photographs every view in headless
Chromium (``apt-get install -y chromium``) with Playwright. Writes PNGs to ``docs/screenshots/`` by default.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server_proc import ServerProcess  # noqa: E402

WIDE: ViewportSize = {"width": 1280, "height": 860}
NARROW: ViewportSize = {"width": 390, "height": 844}
#: As in tests/browser/test_dashboard.py: a headless browser with no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
#: The events workflow is photographed mid-run.
MID_RUN_PERCENT = re.compile(r"^([2-8][0-9]|9[0-5])%$")


def _start(http: httpx.Client, type_name: str, workflow_id: str, **inputs: object) -> None:
    r = http.post("/v1/workflows", json={"type": type_name, "input": inputs, "workflow_id": workflow_id})
    r.raise_for_status()


def _wait(http: httpx.Client, workflow_id: str) -> None:
    r = http.get(f"/v1/workflows/{workflow_id}/result", params={"timeout": 60})
    assert r.status_code == 200, r.text


def seed(http: httpx.Client) -> None:
    """Workflows in every state, a session and two schedules."""
    _start(http, "streaming", "stream-demo", n_steps=4)
    _wait(http, "stream-demo")
    _start(http, "fast_temporal", "failing-demo", text="to be or not", fail_step="process_data")
    _wait(http, "failing-demo")
    _start(http, "messaging", "cancelled-demo")
    http.post("/v1/workflows/cancelled-demo/cancel").raise_for_status()
    _start(http, "messaging", "approval-demo", n_steps=3)
    _start(http, "pipeline", "pipeline-demo", name="daily-report", require_approval=True)
    _start(http, "events", "events-demo", n_steps=20, step_delay_seconds=1.5)
    for i, text in enumerate(["build started", "tests passed", "deploying"]):
        body = {"type": "progress", "data": {"step": i + 1, "text": text}, "id": f"evt-{i}"}
        http.post("/v1/sessions/deploy-42/events", json=body).raise_for_status()
    schedules = [
        {"name": "nightly-report", "type": "pipeline", "input": {"name": "nightly"}, "cron": "0 3 * * *"},
        {"name": "hourly-sync", "type": "events", "input": {"n_steps": 2}, "interval_minutes": 60, "paused": True},
    ]
    for schedule in schedules:
        http.post("/v1/schedules", json=schedule).raise_for_status()


def shoot(page: Page, base: str, out: Path) -> list[Path]:
    """Visit each view, wait for its content, and save a PNG; returns the files written."""
    written: list[Path] = []

    def save(name: str, full_page: bool = True) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        written.append(path)

    page.goto(f"{base}/ui/#/workflows")
    expect(page.locator('#workflow-rows tr[data-workflow-id="events-demo"]')).to_be_visible()
    expect(page.locator('#workflow-rows tr[data-workflow-id="failing-demo"] [data-status]')).to_have_text("ERROR")
    save("workflows", full_page=False)

    page.goto(f"{base}/ui/#/workflows/events-demo")
    expect(page.locator("#wf-progress-label")).to_have_text(MID_RUN_PERCENT)
    save("workflow")

    page.goto(f"{base}/ui/#/workflows/pipeline-demo")
    expect(page.locator("#approval")).to_be_visible()
    expect(page.locator('.stream[data-stream-key="progress_stream"] li').first).to_be_visible()
    page.locator("#msg-panel summary").click()
    save("approval")

    page.goto(f"{base}/ui/#/workflows/stream-demo")
    expect(page.locator('.stream[data-stream-key="progress_stream"] .tail-state')).to_have_attribute(
        "data-state", "ended"
    )
    save("stream")

    page.goto(f"{base}/ui/#/sessions/deploy-42")
    expect(page.locator("#session-rows tr")).to_have_count(3)
    save("sessions")

    page.goto(f"{base}/ui/#/schedules")
    expect(page.locator('#schedule-rows tr[data-schedule="hourly-sync"] .badge')).to_have_text("PAUSED")
    save("schedules")

    page.set_viewport_size(NARROW)
    page.goto(f"{base}/ui/#/workflows/approval-demo")
    expect(page.locator("#approval")).to_be_visible()
    save("narrow", full_page=False)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="Where to write PNGs.")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not on PATH: apt-get install -y chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'screens.sqlite'}"
        with ServerProcess(database_url, log_dir=Path(tmp)) as server, httpx.Client(base_url=server.url) as http:
            seed(http)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=WIDE, color_scheme="light")
                page.set_default_timeout(60_000)
                for path in shoot(page, server.url, args.out):
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
