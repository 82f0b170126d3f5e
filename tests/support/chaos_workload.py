"""The chaos suite's workload over HTTP, and the Jepsen-style check of the end state.

Workload (all concurrent, all through retrying clients from ``tests/support/chaos_support.py``):

- ``profile.workflows`` runs of the ``chaos`` workflow (``workflows/chaos_workflow.py``), each writing
  ``values`` numbered values to stream ``numbers`` and consuming ``messages`` numbered messages, which a sender
  posts one by one with idempotency keys (sometimes repeating an acknowledged one on purpose);
- SSE followers of streams ``numbers`` and ``consumed`` of every workflow and of every session, resuming with
  ``Last-Event-ID``: for each, one through the cutting proxy and one connected to the server directly (cut only
  when the server process dies, so it stays connected through database restarts);
- ``profile.sessions`` durable sessions, each receiving ``session_events`` events with ids, then ``done``.

Invariants checked once everything has settled:

- every workflow completes with SUCCESS;
- every stream ``numbers`` is exactly ``{"i": 0..values-1}``, closed: no gap, no duplicate;
- every acknowledged message was consumed exactly once; nothing was consumed that was never sent, nor twice;
  the result's ``consumed`` equals the stream;
- every acknowledged session event is in the session exactly once, in posting order, and the session is closed;
- every SSE follower rebuilt its stream exactly: positions ``0..n-1`` in order, values equal to the snapshot,
  ending with ``end`` (``closed``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.chaos_support import (
    ChaosDeadline,
    Figures,
    Followed,
    Profile,
    answered,
    error_code,
    follow_sse,
    read_all,
    task_rng,
)
from tests.support.chaos_workflow import CHAOS_TOPIC, CONSUMED_STREAM, NUMBERS_STREAM


@dataclass
class WorkflowLedger:
    """Client-side record of one ``chaos`` workflow."""

    workflow_id: str
    sent: set[int] = field(default_factory=set)  # every sequence number ever posted
    acknowledged: set[int] = field(default_factory=set)  # answered 202 delivered/duplicate
    refused_finished: set[int] = field(default_factory=set)  # answered 409 workflow_finished (not acknowledged)
    tails: list[tuple[str, Followed]] = field(default_factory=list)  # (stream key, follower)


@dataclass
class SessionLedger:
    """Client-side record of one session."""

    session_id: str
    sent: set[str] = field(default_factory=set)
    acknowledged: list[str] = field(default_factory=list)  # event ids, in posting (= acknowledgement) order
    tails: list[Followed] = field(default_factory=list)


class Workload:
    """Runs the workload: requests and half of the SSE followers through ``http`` (a proxy that cuts connections
    at random), the other followers through ``direct`` (the server itself: cut only when the server dies), so
    some subscribers stay connected through every disruption that spares the server process.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        direct: httpx.AsyncClient,
        profile: Profile,
        seed: int,
        figures: Figures,
        deadline: float,
    ):
        self.http = http
        self.direct = direct
        self.profile = profile
        self.seed = seed
        self.figures = figures
        self.deadline = deadline
        self.workflows = [WorkflowLedger(f"chaos-{i}") for i in range(profile.workflows)]
        self.sessions = [SessionLedger(f"chaos-s{i}") for i in range(profile.sessions)]
        figures.workflows = len(self.workflows)

    async def run(self) -> None:
        """Start everything and return once every send is answered and every follower saw its end."""
        async with asyncio.TaskGroup() as group:
            for ledger in self.workflows:
                group.create_task(self._workflow(ledger), name=f"workflow {ledger.workflow_id}")
            for session in self.sessions:
                group.create_task(self._session(session), name=f"session {session.session_id}")

    # -- workflows ------------------------------------------------------------------------------------------
    async def _workflow(self, ledger: WorkflowLedger) -> None:
        p = self.profile
        wid = ledger.workflow_id
        body = {
            "type": "chaos",
            "workflow_id": wid,
            "input": {
                "values": p.values,
                "messages": p.messages,
                "pause_ms": p.pause_ms,
                "recv_timeout_seconds": 30,
                "max_waits": int(p.deadline_seconds // 30) + 2,
            },
        }
        response, _ = await answered(self.http, "POST", "/v1/workflows", self.figures, self.deadline, json_body=body)
        assert response.status_code in (200, 201), f"start {wid}: {response.status_code} {response.text[:300]}"
        async with asyncio.TaskGroup() as group:
            for key in (NUMBERS_STREAM, CONSUMED_STREAM):
                path = f"/v1/workflows/{wid}/streams/{key}/live"
                for route, client in (("cut", self.http), ("steady", self.direct)):
                    tail = Followed(f"{wid}/{key} ({route})")
                    ledger.tails.append((key, tail))
                    group.create_task(self._follow(client, path, tail), name=f"tail {tail.label}")
            await self._send_all(ledger)
            self.figures.mark("last message acknowledged")

    async def _follow(self, client: httpx.AsyncClient, path: str, tail: Followed) -> None:
        await follow_sse(client, path, tail, self.figures, self.deadline)
        self.figures.mark("last tail ended")

    async def _send_all(self, ledger: WorkflowLedger) -> None:
        rng = task_rng(self.seed, f"send:{ledger.workflow_id}")
        for seq in range(self.profile.messages):
            await asyncio.sleep(rng.uniform(*self.profile.send_gap))  # chaos pacing
            await self._send(ledger, seq, resend=False)
            if rng.random() < self.profile.resend_probability:
                await self._send(ledger, seq, resend=True)

    async def _send(self, ledger: WorkflowLedger, seq: int, *, resend: bool) -> None:
        wid = ledger.workflow_id
        body = {"topic": CHAOS_TOPIC, "message": {"seq": seq, "workflow_id": wid}, "idempotency_key": f"{wid}.m{seq}"}
        ledger.sent.add(seq)
        response, attempts = await answered(
            self.http, "POST", f"/v1/workflows/{wid}/messages", self.figures, self.deadline, json_body=body
        )
        f = self.figures
        if response.status_code == 202:
            outcome = response.json()["outcome"]
            if resend:
                if outcome == "duplicate":
                    f.resends_deduplicated += 1
                else:
                    f.problem(
                        f"{wid}: deliberate resend of acknowledged message {seq} was delivered again", duplicate=True
                    )
                return
            ledger.acknowledged.add(seq)
            f.messages_acknowledged += 1
            if outcome == "duplicate":
                if attempts == 1:
                    f.problem(f"{wid}: first send of message {seq} answered 'duplicate'")
                f.acks_after_lost_answer += 1
        elif response.status_code == 409 and error_code(response) == "workflow_finished":
            # Only possible once all `messages` were consumed, i.e. an earlier attempt was stored: not an ack.
            if resend:
                f.resends_deduplicated += 1
            else:
                ledger.refused_finished.add(seq)
        else:
            f.problem(f"{wid}: message {seq} answered {response.status_code} {response.text[:200]}")

    # -- sessions -------------------------------------------------------------------------------------------
    async def _session(self, session: SessionLedger) -> None:
        async with asyncio.TaskGroup() as group:
            path = f"/v1/sessions/{session.session_id}/live"
            for route, client in (("cut", self.http), ("steady", self.direct)):
                tail = Followed(f"session {session.session_id} ({route})")
                session.tails.append(tail)
                group.create_task(self._follow(client, path, tail), name=f"tail {tail.label}")
            rng = task_rng(self.seed, f"session:{session.session_id}")
            for n in range(self.profile.session_events):
                await asyncio.sleep(rng.uniform(*self.profile.send_gap) / 2)  # chaos pacing
                event = {"type": "message", "data": {"seq": n}, "id": f"{session.session_id}.e{n}"}
                await self._post(session, event, resend=False)
                if rng.random() < self.profile.resend_probability:
                    await self._post(session, event, resend=True)
            await self._post(session, {"type": "done", "data": None, "id": f"{session.session_id}.done"}, resend=False)
            self.figures.mark("last session done")

    async def _post(self, session: SessionLedger, event: dict[str, Any], *, resend: bool) -> None:
        sid, event_id = session.session_id, str(event["id"])
        session.sent.add(event_id)
        response, attempts = await answered(
            self.http, "POST", f"/v1/sessions/{sid}/events", self.figures, self.deadline, json_body=event
        )
        f = self.figures
        closed = response.status_code == 409 and error_code(response) == "session_closed"
        if response.status_code == 202:
            outcome = response.json()["outcome"]
            if resend:
                if outcome != "duplicate":
                    f.problem(f"session {sid}: deliberate repost of {event_id} stored again", duplicate=True)
                else:
                    f.resends_deduplicated += 1
                return
            if outcome == "duplicate" and attempts == 1:
                f.problem(f"session {sid}: first post of {event_id} answered 'duplicate'")
            f.acks_after_lost_answer += int(outcome == "duplicate")
        elif closed and event["type"] == "done" and (attempts > 1 or resend):
            # The first attempt stored 'done' (its answer was lost) and the session closed: acknowledged.
            f.acks_after_lost_answer += 1
        else:
            f.problem(f"session {sid}: {event_id} answered {response.status_code} {response.text[:200]}")
            return
        if not resend:
            session.acknowledged.append(event_id)
            f.session_events_acknowledged += 1

    # -- deadline reporting ---------------------------------------------------------------------------------
    def unfinished(self) -> list[str]:
        """What the clients were still waiting for (for a deadline failure)."""
        out: list[str] = []
        tails: list[Followed] = []
        for w in self.workflows:
            unanswered = sorted(w.sent - w.acknowledged - w.refused_finished)
            if unanswered or len(w.sent) < self.profile.messages:
                out.append(f"{w.workflow_id}: {len(w.acknowledged)} acknowledged, unanswered {unanswered}")
            tails += [tail for _, tail in w.tails]
        for s in self.sessions:
            tails += s.tails
            if not s.acknowledged or s.acknowledged[-1] != f"{s.session_id}.done":
                out.append(f"session {s.session_id}: {len(s.acknowledged)} acknowledged, 'done' not yet")
        for tail in tails:
            if tail.end is None:
                out.append(f"{tail.label}: tail at {tail.last_position} without end")
        return out

    async def diagnose(self) -> list[str]:
        """The server's view, asked once directly (for a deadline failure): status and stream lengths."""
        out = []
        for w in self.workflows:
            info = await self.direct.get(f"/v1/workflows/{w.workflow_id}/streams", timeout=5)
            if info.status_code != 200:
                out.append(f"{w.workflow_id}: {info.status_code}")
                continue
            body = info.json()
            streams = ", ".join(f"{s['key']} {s['length']}{' closed' if s['closed'] else ''}" for s in body["streams"])
            out.append(f"{w.workflow_id} {body['status']}: {streams}")
        return out

    # -- verification ---------------------------------------------------------------------------------------
    async def verify(self) -> None:
        """Check every invariant against the server's durable state; violations go to ``figures.problems``."""
        async with asyncio.TaskGroup() as group:
            for ledger in self.workflows:
                group.create_task(self._verify_workflow(ledger))
            for session in self.sessions:
                group.create_task(self._verify_session(session))

    async def _result(self, workflow_id: str) -> dict[str, Any]:
        while True:
            response, _ = await answered(
                self.http,
                "GET",
                f"/v1/workflows/{workflow_id}/result",
                self.figures,
                self.deadline,
                params={"timeout": 5},
            )
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            assert response.status_code == 202, f"result {workflow_id}: {response.status_code} {response.text}"
            if time.monotonic() > self.deadline:
                raise ChaosDeadline(f"{workflow_id} still running at the deadline")

    async def _verify_workflow(self, w: WorkflowLedger) -> None:
        f, p, wid = self.figures, self.profile, w.workflow_id
        result = await self._result(wid)
        if result["status"] != "SUCCESS":
            f.problem(f"{wid}: finished {result['status']}: {result.get('error')}")
            return
        f.workflows_completed += 1
        base = f"/v1/workflows/{wid}/streams"
        numbers, last = await read_all(self.http, f"{base}/{NUMBERS_STREAM}", f, self.deadline)
        seen = [v.get("i") if isinstance(v, dict) else v for v in numbers]
        counts = Counter(seen)
        for i in sorted((i for i, n in counts.items() if n > 1), key=str):
            f.problem(f"{wid}: numbers holds {i} x{counts[i]}", duplicate=True)
        for i in sorted(set(range(p.values)) - set(seen)):
            f.problem(f"{wid}: numbers lacks {i}", loss=True)
        if seen != list(range(p.values)) and len(counts) == len(seen) == p.values:
            f.problem(f"{wid}: numbers out of order: {seen}")
        if not last.get("closed"):
            f.problem(f"{wid}: numbers not closed")
        f.values_checked += len(numbers)
        consumed, last = await read_all(self.http, f"{base}/{CONSUMED_STREAM}", f, self.deadline)
        seqs = [m.get("seq") if isinstance(m, dict) else m for m in consumed]
        counts = Counter(seqs)
        for seq in sorted((s for s, n in counts.items() if n > 1), key=str):
            f.problem(f"{wid}: message {seq} consumed x{counts[seq]}", duplicate=True)
        for seq in sorted(w.acknowledged - set(seqs)):
            f.problem(f"{wid}: acknowledged message {seq} never consumed", loss=True)
        for seq in sorted(set(seqs) - w.sent, key=str):
            f.problem(f"{wid}: consumed message {seq} that was never sent")
        if result["output"].get("consumed") != consumed:
            f.problem(f"{wid}: result's consumed {result['output'].get('consumed')} differs from stream {consumed}")
        f.messages_checked += len(w.acknowledged)
        for key, tail in w.tails:
            self._check_tail(tail, numbers if key == NUMBERS_STREAM else consumed)

    async def _verify_session(self, s: SessionLedger) -> None:
        f = self.figures
        events, last = await read_all(self.http, f"/v1/sessions/{s.session_id}/events", f, self.deadline)
        ids = [e.get("id") for e in events]
        counts = Counter(ids)
        for event_id in s.acknowledged:
            if counts[event_id] == 0:
                f.problem(f"session {s.session_id}: acknowledged event {event_id} missing", loss=True)
            elif counts[event_id] > 1:
                f.problem(f"session {s.session_id}: event {event_id} stored x{counts[event_id]}", duplicate=True)
        for event_id in sorted(set(ids) - s.sent, key=str):
            f.problem(f"session {s.session_id}: stored event {event_id} that was never posted")
        stored_order = [i for i in ids if i in set(s.acknowledged)]
        if stored_order != s.acknowledged and len(stored_order) == len(set(stored_order)):
            f.problem(f"session {s.session_id}: events stored out of posting order: {stored_order}")
        if not last.get("closed"):
            f.problem(f"session {s.session_id}: not closed after 'done'")
        f.session_events_checked += len(s.acknowledged)
        for tail in s.tails:
            self._check_tail(tail, events)

    def _check_tail(self, tail: Followed, snapshot: list[Any]) -> None:
        f = self.figures
        positions = [pos for pos, _ in tail.received]
        counts = Counter(positions)
        for pos in sorted(p for p, n in counts.items() if n > 1):
            f.problem(f"{tail.label}: SSE delivered position {pos} x{counts[pos]}", duplicate=True)
        for pos in sorted(set(range(len(snapshot))) - set(positions)):
            f.problem(f"{tail.label}: SSE never delivered position {pos}", loss=True)
        if positions != sorted(set(positions)):
            f.problem(f"{tail.label}: SSE positions out of order")
        by_position = dict(tail.received)
        wrong = [pos for pos, value in enumerate(snapshot) if pos in by_position and by_position[pos] != value]
        if wrong:
            f.problem(f"{tail.label}: SSE values differ from the snapshot at {wrong[:10]}")
        if tail.end is None or tail.end.get("reason") != "closed" or tail.end.get("next_offset") != len(snapshot):
            f.problem(f"{tail.label}: SSE ended with {tail.end}, expected closed at {len(snapshot)}")
        f.sse_values_checked += len(snapshot)
