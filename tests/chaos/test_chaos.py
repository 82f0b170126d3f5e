"""Chaos suite: real processes, real ``kill -9``, real Postgres restarts; nothing is lost.

Each scenario runs the workload of ``tests/support/chaos_workload.py`` through a :class:`TcpProxy` that cuts every
connection at random moments, while a disruptor crashes part of the system at random moments (seeded; the seed
is printed with the figures and ``CHAOS_SEED=<seed>`` replays the schedule):

- ``kill -9`` of the server, restarted each time on the same port and database (both backends);
- multi-node (Postgres, when worker mode exists): an HTTP node that only enqueues and a worker that executes,
  either or both killed with ``kill -9`` and restarted with the same executor id;
- a throwaway Postgres cluster (``tests/support/pg_cluster.py``) stopped (``fast`` or ``immediate``) and started again
  under the live server, which must recover by itself: ``/readyz`` answers 503 while the database is down and
  200 again after, without a restart of the server.

Short form (default, part of the normal suite and of ``.ci/run``): ``pytest tests/chaos/test_chaos.py``.
Long form: ``pytest tests/chaos/test_chaos.py --chaos-long`` (or ``CHAOS_LONG=1``): more of everything, ≤ 10 minutes
per scenario. Figures: printed at the end of every run (pass or fail), visible without ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import pg_cluster, worker_proc
from tests.support.chaos_support import (
    LONG,
    SHORT,
    ChaosDeadline,
    Figures,
    Profile,
    chaos_long_requested,
    chaos_seed,
    task_rng,
)
from tests.support.chaos_workload import Workload
from tests.support.databases import postgres_admin_url
from tests.support.server_proc import ServerProcess, TcpProxy

SERVER_ENV = {
    # The chaos workload is a test workflow: registered only where the suite asks for it.
    "COMM_WORKFLOWS": "workflows,tests.support.chaos_workflow",
    # Heartbeats every 2 s keep a cut that the kernel did not report from looking like a live, idle tail for long.
    "COMM_SSE_HEARTBEAT_SECONDS": "2",
    "COMM_LOG_LEVEL": "warning",
    # Pinned, as a deployment should: DBOS otherwise hashes the workflow code, and an edit to any workflow in the
    # working tree during a run (other people work here) would change the version at the next restart, and a
    # process only recovers and dequeues workflows of its own version: the run's workflows would be stranded.
    "COMM_APP_VERSION": "chaos-suite",
}
WORK_QUEUE = "chaos-work"
MULTI_NODE_ENV = {
    "COMM_WORK_QUEUE": WORK_QUEUE,
    "COMM_EXECUTOR_ID": "chaos-http",
    "COMM_QUEUE_POLLING_INTERVAL_SEC": "0.05",  # as the worker's: the latest registration sets the queue's
}

PROFILES = [
    pytest.param(SHORT, id="short", marks=pytest.mark.timeout(240)),
    pytest.param(LONG, id="long", marks=pytest.mark.timeout(900)),
]


@pytest.fixture
def profile(request: pytest.FixtureRequest) -> Profile:
    """The chaos profile of this run: the short form by default, the long one with ``--chaos-long``."""
    chosen: Profile = request.param
    long = chaos_long_requested(bool(request.config.getoption("--chaos-long", default=False)))
    if chosen is LONG and not long:
        pytest.skip("long chaos form: run `pytest tests/chaos/test_chaos.py --chaos-long` (or CHAOS_LONG=1)")
    if chosen is SHORT and long:
        pytest.skip("the long chaos form runs instead of the short one")
    return chosen


@pytest.fixture
def show(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[Figures], None]]:
    """Print a run's figures on the terminal even without ``-s``."""

    def emit(figures: Figures) -> None:
        with capsys.disabled():
            print("\n" + figures.report(), flush=True)

    yield emit


async def _cut_connections(proxy: TcpProxy, seed: int, profile: Profile, figures: Figures, stop: asyncio.Event) -> None:
    rng = task_rng(seed, "cuts")
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(*profile.cut_gap))  # chaos timing
        except TimeoutError:
            proxy.drop_connections()
            figures.connection_cuts += 1


async def _within(awaitable: Awaitable[Any], deadline: float, workload: Workload) -> None:
    try:
        await asyncio.wait_for(awaitable, timeout=max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        try:
            state = await asyncio.wait_for(workload.diagnose(), timeout=15)
        except (TimeoutError, httpx.HTTPError) as exc:
            state = [f"(server state unavailable: {exc!r})"]
        workload.figures.problem(f"deadline passed with {len(workload.unfinished())} clients still waiting")
        raise ChaosDeadline(
            "deadline passed; still waiting for: "
            + "; ".join(workload.unfinished())
            + "\nserver state: "
            + "; ".join(state)
        ) from None


async def run_chaos(
    server_url: str,
    proxy: TcpProxy,
    profile: Profile,
    seed: int,
    figures: Figures,
    disrupt: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """Run the workload (through ``proxy``, some followers directly) while ``disrupt`` and the cutter strike; verify."""
    started = figures.started = time.monotonic()
    deadline = started + profile.deadline_seconds
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    timeout = httpx.Timeout(10.0, connect=3.0)
    async with (
        httpx.AsyncClient(base_url=proxy.url, timeout=timeout, limits=limits) as http,
        httpx.AsyncClient(base_url=server_url, timeout=timeout, limits=limits) as direct,
    ):
        workload = Workload(http, direct, profile, seed, figures, deadline)
        stop_cuts = asyncio.Event()
        tasks = [
            asyncio.create_task(workload.run(), name="workload"),
            asyncio.create_task(disrupt(), name="disruptions"),
            asyncio.create_task(_cut_connections(proxy, seed, profile, figures, stop_cuts), name="cuts"),
        ]
        try:
            await _within(asyncio.gather(*tasks[:2]), deadline, workload)
            figures.mark("workload and disruptions done")
            stop_cuts.set()
            await tasks[2]
            await _within(workload.verify(), deadline, workload)
            figures.mark("verified")
        finally:
            figures.seconds = time.monotonic() - started
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def assert_clean(figures: Figures, *logs: Callable[[], str]) -> None:
    """Every invariant held and every disruption happened."""
    tails = "\n".join(log() for log in logs)
    assert not figures.problems, f"{len(figures.problems)} invariant violations (see figures above)\n{tails}"
    assert figures.workflows_completed == figures.workflows, tails
    assert figures.duplicates == 0 and figures.losses == 0


async def readyz_becomes(url: str, status: int, timeout: float) -> bool:
    """Poll ``/readyz`` (a readiness probe, bounded) until it answers ``status``; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=3.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"{url}/readyz")).status_code == status:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # readiness polling, not synchronisation
    return False


@pytest.mark.parametrize("profile", PROFILES, indirect=True)
async def test_kill9_of_the_server_at_random_moments_loses_and_repeats_nothing(
    profile: Profile, database_url: str, backend: str, tmp_path: Path, show: Callable[[Figures], None]
) -> None:
    seed = chaos_seed()
    figures = Figures("server kill -9", backend, profile.name, seed)
    server = ServerProcess(database_url, log_dir=tmp_path, env=SERVER_ENV)
    proxy: TcpProxy | None = None
    try:
        server.start()
        proxy = TcpProxy(server.port)
        rng = task_rng(seed, "kills")

        async def kill_server() -> None:
            for _ in range(profile.kills):
                await asyncio.sleep(rng.uniform(*profile.kill_gap))  # chaos timing: a random moment
                await asyncio.to_thread(server.restart, graceful=False)
                figures.server_kills += 1
                figures.mark(f"kill {figures.server_kills} ready")

        await run_chaos(server.url, proxy, profile, seed, figures, kill_server)
    finally:
        if proxy is not None:
            proxy.close()
        server.stop(graceful=False)
        show(figures)
    assert figures.server_kills == profile.kills
    assert_clean(figures, server.log_tail)


@pytest.mark.parametrize("profile", PROFILES, indirect=True)
async def test_kill9_of_http_node_and_worker_loses_and_repeats_nothing(
    profile: Profile, database_url: str, backend: str, tmp_path: Path, show: Callable[[Figures], None]
) -> None:
    if postgres_admin_url() is None:
        pytest.skip("multi-node chaos needs Postgres: set TEST_POSTGRES_URL (processes share one database)")
    seed = chaos_seed()
    figures = Figures("http node + worker kill -9", backend, profile.name, seed)
    server = ServerProcess(database_url, log_dir=tmp_path, env={**SERVER_ENV, **MULTI_NODE_ENV})
    worker = worker_proc.WorkerProcess(
        database_url,
        log_dir=tmp_path,
        executor_id="chaos-worker",
        queue=WORK_QUEUE,
        env={
            "COMM_LOG_LEVEL": "warning",
            "COMM_APP_VERSION": SERVER_ENV["COMM_APP_VERSION"],
            "COMM_WORKFLOWS": SERVER_ENV["COMM_WORKFLOWS"],
        },
    )
    proxy: TcpProxy | None = None
    try:
        worker.start()
        server.start()
        proxy = TcpProxy(server.port)
        rng = task_rng(seed, "kills")

        async def kill_nodes() -> None:
            for n in range(1, profile.kills + 1):
                await asyncio.sleep(rng.uniform(*profile.kill_gap))  # chaos timing: a random moment
                target = rng.choice(("server", "worker", "both"))
                if target in ("worker", "both"):
                    await asyncio.to_thread(worker.kill)
                if target in ("server", "both"):
                    await asyncio.to_thread(server.restart, graceful=False)
                    figures.server_kills += 1
                if target in ("worker", "both"):
                    await asyncio.to_thread(worker.start)  # same executor id: recovers its workflows
                    figures.worker_kills += 1
                figures.mark(f"kill {n} ({target}) ready")

        await run_chaos(server.url, proxy, profile, seed, figures, kill_nodes)
    finally:
        if proxy is not None:
            proxy.close()
        server.stop(graceful=False)
        worker.kill()
        show(figures)
    assert figures.server_kills + figures.worker_kills >= profile.kills
    assert_clean(figures, server.log_tail, worker.log_tail)


@pytest.mark.backend_independent  # its own throwaway Postgres cluster on either run: once is enough
@pytest.mark.parametrize("profile", PROFILES, indirect=True)
async def test_postgres_restarts_under_live_streams_recover_by_themselves_without_loss(
    profile: Profile, tmp_path: Path, show: Callable[[Figures], None]
) -> None:
    reason = pg_cluster.unavailable_reason()
    if reason is not None:
        pytest.skip(f"no throwaway Postgres cluster: {reason}")
    try:
        pg = await asyncio.to_thread(pg_cluster.PgCluster.create)
    except pg_cluster.PgClusterError as exc:
        pytest.skip(f"cannot run a throwaway Postgres cluster here: {exc}")
    seed = chaos_seed()
    figures = Figures("postgres restart", f"postgres (throwaway cluster :{pg.port})", profile.name, seed)
    server = ServerProcess(pg.url, log_dir=tmp_path, env={**SERVER_ENV, "COMM_EXECUTOR_ID": "chaos-http"})
    proxy: TcpProxy | None = None
    try:
        server.start()
        proxy = TcpProxy(server.port)
        rng = task_rng(seed, "postgres")

        async def down_observed(timeout: float) -> bool:
            # Postgres down: /readyz answers 503, or the server has already exited because its executor lock (a
            # session on that database) was lost; the supervisor below restarts it, as systemd or Kubernetes would.
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if server.returncode is not None or await readyz_becomes(server.url, 503, timeout=0.5):
                    return True
            return False

        async def restart_postgres() -> None:
            for _ in range(profile.pg_restarts):
                await asyncio.sleep(rng.uniform(*profile.kill_gap))  # chaos timing: a random moment
                await asyncio.to_thread(pg.stop, mode=rng.choice(("fast", "immediate")))
                if await down_observed(timeout=30):
                    figures.readyz_down_observed += 1
                else:
                    figures.problem("/readyz did not answer 503 within 30 s of Postgres going down")
                await asyncio.sleep(rng.uniform(0.2, 1.5))  # chaos timing: how long the database stays down
                await asyncio.to_thread(pg.start)
                figures.pg_restarts += 1
                figures.mark(f"postgres restart {figures.pg_restarts} up")
                if not await readyz_becomes(server.url, 200, timeout=60):
                    figures.problem("/readyz not 200 within 60 s of Postgres coming back")
                    raise ChaosDeadline("the server did not recover from a Postgres restart")

        async def supervise(done: asyncio.Event) -> None:
            # A lost executor lock ends the server with exit 5 (so that no workflow runs twice); restart it, as
            # systemd or Kubernetes would. A restart while Postgres is down again exits 3 or 5 at start-up: retry.
            while not done.is_set():
                code = server.returncode
                if code is not None:
                    if code not in (3, 5):
                        figures.problem(f"the server exited with {code}, not 5 (executor lock lost) or 3")
                        raise ChaosDeadline(f"the server exited with {code}")
                    figures.mark(f"the server exited {code} (executor lock lost with Postgres) and was restarted")
                    with contextlib.suppress(RuntimeError):  # exited during start-up: the next round retries
                        await asyncio.to_thread(server.start)
                await asyncio.sleep(0.2)  # supervisor polling, not synchronisation
            if server.returncode is not None:
                await asyncio.to_thread(server.start)

        async def disrupt() -> None:
            done = asyncio.Event()
            supervisor = asyncio.create_task(supervise(done))
            try:
                await restart_postgres()
            finally:
                done.set()
                await supervisor

        await run_chaos(server.url, proxy, profile, seed, figures, disrupt)
    finally:
        if proxy is not None:
            proxy.close()
        server.stop(graceful=False)
        pg_log = pg.log_tail()
        await asyncio.to_thread(pg.destroy)
        show(figures)
    assert figures.pg_restarts == profile.pg_restarts
    assert figures.readyz_down_observed == profile.pg_restarts
    assert_clean(figures, server.log_tail, lambda: pg_log)
