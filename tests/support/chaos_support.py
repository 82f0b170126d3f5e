"""Clients and bookkeeping of the chaos suite: profiles, figures, retrying HTTP, resuming SSE followers.

The clients behave like a careful production client and nothing more: a request that fails in any way (connection
refused or cut, timeout, 5xx) is repeated unchanged — same body, same idempotency key — until the server answers
it; an SSE tail that is cut reconnects with ``Last-Event-ID`` set to the last position it received. Everything is
recorded (what was acknowledged, every position received) so the end state can be judged Jepsen-style by
``tests/support/chaos_workload.py``.

Randomness: every task draws from its own ``random.Random`` seeded by the run's seed and the task's name, so a
printed seed replays the same schedule of pauses, kills and cuts (timing of the processes themselves still varies).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

CHAOS_LONG_ENV = "CHAOS_LONG"
CHAOS_SEED_ENV = "CHAOS_SEED"


@dataclass(frozen=True)
class Profile:
    """Size and pace of one chaos run.

    ``*_gap`` are ``(low, high)`` bounds of uniformly drawn pauses, in seconds: between one workflow's sends,
    between disruptions (kills, Postgres restarts), between connection cuts.
    """

    name: str
    workflows: int
    values: int  # M: numbered values per workflow
    messages: int  # K: messages per workflow
    sessions: int
    session_events: int
    kills: int
    pg_restarts: int
    pause_ms: float
    send_gap: tuple[float, float]
    kill_gap: tuple[float, float]
    cut_gap: tuple[float, float]
    resend_probability: float  # chance that an acknowledged send is repeated on purpose (must be a duplicate)
    deadline_seconds: float  # the whole run, disruptions and verification included


SHORT = Profile(
    name="short",
    workflows=4,
    values=30,
    messages=10,
    sessions=2,
    session_events=10,
    kills=3,
    pg_restarts=2,
    pause_ms=40.0,
    send_gap=(0.1, 0.9),
    kill_gap=(0.5, 3.0),
    cut_gap=(0.4, 1.5),
    resend_probability=0.2,
    deadline_seconds=150.0,
)

LONG = Profile(
    name="long",
    workflows=10,
    values=100,
    messages=25,
    sessions=4,
    session_events=40,
    kills=10,
    pg_restarts=5,
    pause_ms=25.0,
    send_gap=(0.05, 1.2),
    kill_gap=(0.5, 5.0),
    cut_gap=(0.5, 2.5),
    resend_probability=0.2,
    deadline_seconds=540.0,
)


def chaos_long_requested(option: bool) -> bool:
    """Whether the long form runs: ``--chaos-long`` or ``CHAOS_LONG=1``."""
    return option or os.environ.get(CHAOS_LONG_ENV, "").strip().lower() in {"1", "true", "yes"}


def chaos_seed() -> int:
    """``CHAOS_SEED`` when set (to replay a run), else a fresh random seed (always printed)."""
    raw = os.environ.get(CHAOS_SEED_ENV, "").strip()
    return int(raw) if raw else random.SystemRandom().randrange(1, 2**31)


def task_rng(seed: int, name: str) -> random.Random:
    """A task's own random stream: reproducible from the seed, independent of task scheduling."""
    return random.Random(f"{seed}:{name}")


class ChaosDeadline(AssertionError):
    """The run's deadline passed while a client still waited for an answer."""


@dataclass
class Figures:
    """What a run did and found; printed at the end of every run, pass or fail."""

    scenario: str
    backend: str
    profile: str
    seed: int
    server_kills: int = 0
    worker_kills: int = 0
    pg_restarts: int = 0
    readyz_down_observed: int = 0
    connection_cuts: int = 0
    workflows: int = 0
    workflows_completed: int = 0
    values_checked: int = 0
    messages_acknowledged: int = 0
    acks_after_lost_answer: int = 0  # a retry answered 'duplicate': an earlier attempt was stored, its answer lost
    resends_deduplicated: int = 0
    messages_checked: int = 0
    session_events_acknowledged: int = 0
    session_events_checked: int = 0
    sse_subscribers: int = 0
    sse_values_checked: int = 0
    sse_reconnects: int = 0
    http_retries: int = 0
    statuses_retried: Counter[int] = field(default_factory=Counter)
    errors_retried: Counter[str] = field(default_factory=Counter)  # transport errors by class name
    slowest_answer: float = 0.0  # seconds, one attempt that got an answer
    duplicates: int = 0
    losses: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # name -> seconds since ``started`` (last occurrence)
    started: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        """Note that ``phase`` happened now (a later mark of the same name replaces the earlier one)."""
        self.phases[phase] = time.monotonic() - self.started

    def problem(self, text: str, *, duplicate: bool = False, loss: bool = False) -> None:
        """Record a violated invariant (counted as a duplicate and/or a loss when it is one)."""
        self.problems.append(text)
        self.duplicates += int(duplicate)
        self.losses += int(loss)

    def report(self) -> str:
        """The figures as a short block of text."""
        retried = ", ".join(f"{code} x{n}" for code, n in sorted(self.statuses_retried.items())) or "none"
        errors = ", ".join(f"{name} x{n}" for name, n in self.errors_retried.most_common()) or "none"
        timeline = sorted(self.phases.items(), key=lambda phase: phase[1])
        lines = [
            f"chaos[{self.scenario}] backend={self.backend} profile={self.profile} seed={self.seed} "
            f"({self.seconds:.1f} s; replay with {CHAOS_SEED_ENV}={self.seed})",
            "  timeline: " + (", ".join(f"{name} {at:.1f} s" for name, at in timeline) or "-"),
            f"  disruptions: server kill -9 x{self.server_kills}, worker kill -9 x{self.worker_kills}, "
            f"postgres restarts x{self.pg_restarts} (readyz seen 503: {self.readyz_down_observed}), "
            f"connection cuts x{self.connection_cuts}",
            f"  workflows completed {self.workflows_completed}/{self.workflows}; stream values checked "
            f"{self.values_checked}; messages acknowledged {self.messages_acknowledged} (acks after a lost answer "
            f"{self.acks_after_lost_answer}, deliberate resends deduplicated {self.resends_deduplicated}), "
            f"consumed checked {self.messages_checked}",
            f"  session events acknowledged {self.session_events_acknowledged}, checked "
            f"{self.session_events_checked}; SSE subscribers {self.sse_subscribers}, values rebuilt "
            f"{self.sse_values_checked}, reconnects {self.sse_reconnects}",
            f"  HTTP retries {self.http_retries} (statuses: {retried}; errors: {errors}); "
            f"slowest answer {self.slowest_answer:.2f} s",
            f"  duplicates {self.duplicates}, losses {self.losses}, problems {len(self.problems)}",
        ]
        lines += [f"  ! {p}" for p in self.problems[:40]]
        return "\n".join(lines)


RETRIED_STATUSES = frozenset({500, 502, 503, 504})


async def answered(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    figures: Figures,
    deadline: float,
    *,
    json_body: Any = None,
    params: dict[str, Any] | None = None,
) -> tuple[httpx.Response, int]:
    """Send the same request until the server answers with a status below 500; return it and the attempt count.

    Raises:
        ChaosDeadline: still unanswered at ``deadline`` (``time.monotonic()``).
    """
    attempts = 0
    backoff = 0.05
    while True:
        attempts += 1
        sent = time.monotonic()
        try:
            response = await http.request(method, path, json=json_body, params=params)
        except httpx.TransportError as exc:
            # Refused, cut, timed out: the request may or may not have been applied; repeat it unchanged.
            figures.errors_retried[type(exc).__name__] += 1
        else:
            figures.slowest_answer = max(figures.slowest_answer, time.monotonic() - sent)
            if response.status_code not in RETRIED_STATUSES:
                return response, attempts
            figures.statuses_retried[response.status_code] += 1
        figures.http_retries += 1
        if time.monotonic() > deadline:
            raise ChaosDeadline(f"{method} {path}: no answer after {attempts} attempts")
        await asyncio.sleep(backoff)  # retry back-off, not synchronisation
        backoff = min(backoff * 2, 0.5)


def error_code(response: httpx.Response) -> str | None:
    """The ``error.code`` of an error envelope, if any."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(code)


@dataclass
class Followed:
    """What an SSE follower received: ``(position, value)`` in arrival order, and the ``end`` frame's data."""

    label: str
    received: list[tuple[int, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    connections: int = 0

    @property
    def last_position(self) -> int | None:
        return self.received[-1][0] if self.received else None


async def follow_sse(http: httpx.AsyncClient, path: str, out: Followed, figures: Figures, deadline: float) -> None:
    """Tail ``path`` until its ``end`` frame, reconnecting with ``Last-Event-ID`` after every cut or error.

    Everything received goes into ``out`` as it arrives (so a deadline report shows how far it got). Positions are
    recorded as received, even out of order or repeated, so the check sees any gap or duplicate the server
    produced; the follower itself never repairs anything.
    """
    label = out.label
    figures.sse_subscribers += 1
    backoff = 0.05
    while True:
        headers: dict[str, str] = {}
        if out.last_position is not None:
            headers["Last-Event-ID"] = str(out.last_position)
        try:
            async with aconnect_sse(http, "GET", path, headers=headers) as source:
                status = source.response.status_code
                if status in RETRIED_STATUSES:
                    figures.statuses_retried[status] += 1
                elif status != 200:
                    await source.response.aread()
                    figures.problem(f"{label}: tail answered {status}: {source.response.text[:200]}")
                    return
                else:
                    out.connections += 1
                    backoff = 0.05
                    async for event in source.aiter_sse():
                        if event.event == "value":
                            out.received.append((int(event.id), json.loads(event.data)))
                        elif event.event == "end":
                            out.end = json.loads(event.data)
                            return
                        elif event.event == "overflow":
                            break  # dropped for lagging: resume from the last position, like any cut
        except httpx.TransportError:
            pass  # cut by the proxy or by a kill: resume below
        figures.sse_reconnects += 1
        if time.monotonic() > deadline:
            raise ChaosDeadline(f"{label}: no end frame before the deadline ({len(out.received)} values received)")
        await asyncio.sleep(backoff)  # reconnect back-off, not synchronisation
        backoff = min(backoff * 2, 0.5)


async def read_all(
    http: httpx.AsyncClient, path: str, figures: Figures, deadline: float
) -> tuple[list[Any], dict[str, Any]]:
    """Every value of a stream or session snapshot (``{values: [{offset, value}], next_offset}`` pages).

    Returns the values in offset order and the last page. Offsets are checked to be consecutive from 0.
    """
    values: list[Any] = []
    page: dict[str, Any] = {}
    while True:
        response, _ = await answered(
            http, "GET", path, figures, deadline, params={"offset": len(values), "limit": 1000}
        )
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        page = response.json()
        for item in page["values"]:
            if item["offset"] != len(values):
                figures.problem(f"{path}: snapshot offset {item['offset']} where {len(values)} was expected")
            values.append(item["value"])
        if not page["values"]:
            return values, page
