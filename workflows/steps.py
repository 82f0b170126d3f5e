"""Small DBOS steps shared by the demo workflows (the "real work" the seed does per step)."""

from __future__ import annotations

import time

from dbos import DBOS


def fibonacci(n: int) -> int:
    """The n-th Fibonacci number (F(0)=0, F(1)=1), iteratively."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


@DBOS.step(name="compute_fibonacci")
async def compute_fibonacci(n: int) -> int:
    """One unit of real work, checkpointed by DBOS so recovery never recomputes it."""
    return fibonacci(n)


@DBOS.step(name="now")
async def now() -> float:
    """Wall-clock time as a step, so replays see the recorded timestamp."""
    return time.time()
