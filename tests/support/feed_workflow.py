"""``feed_busy``: a test-only workflow for the workflow feed (``tests/test_feed.py``, ``tests/test_feed_browser.py``).

It sets events and writes two streams interleaved, waits for a message on topic ``go`` in the middle, then does
the same again, sets a secret event, closes stream ``tokens`` and returns. :data:`EXPECTED_BEFORE` and
:data:`EXPECTED_AFTER` are the feed's data frames (``kind``, ``key``, ``value``) in commit order, before and after
the message. Loaded by the server with ``COMM_WORKFLOWS=workflows,tests.support.feed_workflow``.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.core.registry import registry

GO_TOPIC = "go"
SECRET_KEY = "secret.token"


class FeedBusyInput(BaseModel):
    """Input of ``feed_busy``."""

    rounds: int = Field(
        2, ge=1, le=1000, description="Interleaved (event, token, log) rounds on each side of the wait."
    )
    extra_streams: int = Field(0, ge=0, le=100, description="Streams x00, x01, ... of one value each, written first.")
    fail: bool = Field(False, description="Raise right after the 'go' message (the run ends in ERROR).")
    pad: int = Field(0, ge=0, le=100_000, description="Characters of padding ('pad') added to each 'log' value.")


def expected(rounds: int, *, secret: bool) -> list[tuple[str, str, Any]]:
    """The data frames of a whole run in commit order: ``(kind, key, value)``."""
    out: list[tuple[str, str, Any]] = []
    for half in (0, 1):
        for i in range(rounds):
            n = half * rounds + i
            out += [("event", "progress", n), ("stream", "tokens", f"t{n}"), ("stream", "log", {"line": n})]
    if secret:
        out.append(("event", SECRET_KEY, "s3cr3t"))
    out.append(("event", "phase", "done"))
    return out


@registry.register(
    "feed_busy",
    FeedBusyInput,
    "Test only: interleaves events and two streams, waits for a 'go' message in the middle, closes 'tokens'.",
)
async def feed_busy(params: dict[str, Any]) -> dict[str, Any]:
    """Write ``rounds`` (event, token, log) triples, wait for ``go``, write ``rounds`` more, then finish."""
    p = FeedBusyInput.model_validate(params)
    for j in range(p.extra_streams):
        await DBOS.write_stream_async(f"x{j:02d}", j)
    for half in (0, 1):
        for i in range(p.rounds):
            n = half * p.rounds + i
            await DBOS.set_event_async("progress", n)
            await DBOS.write_stream_async("tokens", f"t{n}")
            await DBOS.write_stream_async("log", {"line": n, "pad": "x" * p.pad} if p.pad else {"line": n})
        if half == 0:
            got = await DBOS.recv_async(GO_TOPIC, timeout_seconds=120)
            if got is None:
                raise TimeoutError("no 'go' message")
            if p.fail:
                raise RuntimeError("asked to fail")
    await DBOS.set_event_async(SECRET_KEY, "s3cr3t")
    await DBOS.close_stream_async("tokens")
    await DBOS.set_event_async("phase", "done")
    return {"rounds": p.rounds}
