"""Application-version agreement between the processes sharing one system database.

Why: DBOS stamps every workflow a process enqueues with that process's application version (a hash of the
registered workflow code unless ``COMM_APP_VERSION`` pins it), and a process dequeues only workflows of its own
version (or none). An HTTP node and a worker that load different workflow modules therefore disagree, and work
enqueued by one sits ENQUEUED forever on the other. DBOS logs nothing about it; this module says so loudly.

Signals, all from DBOS's public API:

* ``DBOS.application_version`` vs ``DBOS.list_application_versions()``: a process that started with or after
  this one registered another version (rolling upgrade in progress, or a misconfigured fleet);
* ``DBOS.list_queued_workflows(queue_name=<work queue>, status="ENQUEUED")``: work of another version waiting on
  the queue this process executes (it will never run here), or work of any version waiting longer than
  ``version_check_seconds`` (no live worker runs its version).

A mismatch is a *warning*: ``/readyz`` stays 200 (a rolling upgrade always has one) and carries it in
``details.version_mismatch`` plus ``warnings``; the start-up log has one WARNING line per finding.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from dbos import DBOS

from communication.core.settings import Settings

log = logging.getLogger("communication.core.ops.versions")

Role = Literal["http", "worker"]

#: At most this many ENQUEUED workflows are inspected per check (the oldest first).
_SAMPLE = 200


@dataclass(frozen=True)
class VersionReport:
    """What one check found. ``problems`` is empty when the versions agree."""

    this_version: str
    latest_version: str | None
    queue: str | None
    waiting: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def mismatch(self) -> dict[str, Any] | None:
        """The ``details.version_mismatch`` object of ``/readyz``, or ``None`` when there is nothing to say."""
        if not self.problems:
            return None
        return {
            "this_version": self.this_version,
            "latest_version": self.latest_version,
            "queue": self.queue,
            "enqueued_by_version": self.waiting,
            "problems": self.problems,
        }


async def check_versions(settings: Settings, *, role: Role) -> VersionReport:
    """Compare this process's application version with the latest registered one and with the work waiting on
    the work queue (see the module docstring)."""
    mine = DBOS.application_version
    versions = await DBOS.list_application_versions_async()  # this application's, newest first
    latest = versions[0]["version_name"] if versions else None
    mine_at = next((v["version_timestamp"] for v in versions if v["version_name"] == mine), None)
    # Versions registered when this one was or later. DBOS stamps them in whole seconds, so "the latest" alone
    # cannot tell two processes started in the same second apart; earlier versions are past deployments.
    others = sorted(
        v["version_name"]
        for v in versions
        if v["version_name"] != mine and mine_at is not None and v["version_timestamp"] >= mine_at
    )
    problems: list[str] = []
    if others:
        problems.append(
            f"this {role} process runs application version {mine!r} but processes started since registered "
            f"{others}: workflows enqueued by one are never run by the other. Load the same COMM_WORKFLOWS "
            "modules everywhere (or pin COMM_APP_VERSION)"
        )
    queue = settings.work_queue
    waiting: dict[str, int] = {}
    if queue:
        rows = await DBOS.list_queued_workflows_async(
            queue_name=queue, status="ENQUEUED", limit=_SAMPLE, load_input=False, load_output=False
        )
        now_ms = time.time() * 1000
        stale_ms = settings.version_check_seconds * 1000
        stale: dict[str, int] = {}
        for row in rows:
            version = row.app_version or "(any)"
            waiting[version] = waiting.get(version, 0) + 1
            # A worker runs the waiting work of its own version (and of none) itself: after its own restart that
            # work is its earlier run's, not a sign that no live worker runs it.
            own = version in (mine, "(any)")
            if row.created_at is not None and now_ms - row.created_at > stale_ms and not (role == "worker" and own):
                stale[version] = stale.get(version, 0) + 1
        foreign = {v: n for v, n in waiting.items() if v not in (mine, "(any)")}
        if role == "worker" and foreign:
            problems.append(
                f"{sum(foreign.values())} workflow(s) on queue {queue!r} were enqueued by application version(s) "
                f"{sorted(foreign)}; this worker runs {mine!r} and will never run them"
            )
        if stale:
            problems.append(
                f"{sum(stale.values())} workflow(s) have waited on queue {queue!r} for more than "
                f"{settings.version_check_seconds:g} s (versions {sorted(stale)}): is a worker of that version running?"
            )
    return VersionReport(mine, latest, queue, waiting, problems)


class VersionWatch:
    """Cached :func:`check_versions` for ``/readyz`` (probes are frequent; the check is a few queries)."""

    def __init__(self, settings: Settings, *, role: Role = "http", cache_seconds: float | None = None) -> None:
        self._settings = settings
        self._role: Role = role
        self._cache_seconds = settings.version_check_cache_seconds if cache_seconds is None else cache_seconds
        self._report: VersionReport | None = None
        self._at = 0.0

    async def report(self) -> VersionReport | None:
        """The latest report (re-checked when older than the cache time); ``None`` if the check failed."""
        if self._report is None or time.monotonic() - self._at >= self._cache_seconds:
            try:
                self._report = await check_versions(self._settings, role=self._role)
            except Exception as exc:  # noqa: BLE001 - a failed check must not fail readiness; the probe says why
                log.debug("version check failed: %s", exc)
                return None
            self._at = time.monotonic()
        return self._report

    async def report_at_start(self, *, role: Role) -> VersionReport | None:
        """Check once at start-up and log one WARNING line per problem."""
        self._role = role
        self._report = None
        report = await self.report()
        if report is not None:
            for problem in report.problems:
                log.warning("APPLICATION VERSION MISMATCH: %s", problem)
        return report
