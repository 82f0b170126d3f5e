"""Graceful shutdown state of an app: set by the process's signal handler, read by the app's lifespan and /readyz."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI


def begin_shutdown(app: FastAPI, grace_seconds: float) -> None:
    """Mark ``app`` as shutting down: not ready, and the grace deadline set (idempotent: the first call wins)."""
    app.state.ready = False
    if getattr(app.state, "shutdown_deadline", None) is None:
        app.state.shutdown_deadline = time.monotonic() + grace_seconds


def shutting_down(app: Any) -> bool:
    """Whether a signal has started ``app``'s shutdown (live responses end so clients reconnect elsewhere)."""
    state = getattr(app, "state", None)
    return getattr(state, "shutdown_deadline", None) is not None


def remaining_grace(app: FastAPI) -> float:
    """Seconds left of the shutdown grace; 0 when no signal started the shutdown (tests, embedding)."""
    deadline: float | None = getattr(app.state, "shutdown_deadline", None)
    return 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
