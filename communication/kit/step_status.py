"""Step status as a durable stream: one generic mechanism for "which step is running, done or failed".

Decorate a workflow's step with :func:`tracked_step` instead of ``DBOS.step``: every call then appends
``{"step", "status": "Running" | "Completed" | "Failed", "timestamp", "error"?}`` to the workflow's stream
:data:`STEP_STATUS_STREAM`. Any client tails that stream (SSE, WebSocket, the client library); the seed's
``WS /ws/{user_id}`` maps each record onto a ``"<step>: <status>"`` frame. Workflows never hand-write status
messages.

Why the records are written by the workflow, around the step, and not inside it: DBOS stream writes from a
workflow are checkpointed operations (exactly once, skipped on replay), while writes from inside a step are
at-least-once (a step retried or re-run after a crash would append its "Running" twice). The step itself is an
ordinary ``DBOS.step``, so its retries, checkpointing and recovery are unchanged.

No HTTP concerns here: workflows import this module.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, ParamSpec, TypeVar

from dbos import DBOS

#: The stream every tracked step reports to.
from communication.protocol.names import STEP_STATUS_STREAM

StepState = Literal["Running", "Completed", "Failed"]
RUNNING: StepState = "Running"
COMPLETED: StepState = "Completed"
FAILED: StepState = "Failed"

P = ParamSpec("P")
R = TypeVar("R")


def status_record(step: str, status: StepState, error: str | None = None) -> dict[str, Any]:
    """One record of :data:`STEP_STATUS_STREAM` (portable JSON)."""
    record: dict[str, Any] = {"step": step, "status": status, "timestamp": time.time()}
    if error is not None:
        record["error"] = error
    return record


def _in_workflow_body() -> bool:
    """Whether we run in workflow code proper (not inside a step, not outside DBOS)."""
    return DBOS.workflow_id is not None and DBOS.step_id is None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def tracked_step(
    name: str | None = None, **step_options: Any
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorator: a ``DBOS.step`` whose start, completion and failure are recorded to :data:`STEP_STATUS_STREAM`.

    Args:
        name: the step's name (in DBOS's step list and in the status records); default the function's name.
        step_options: passed to ``DBOS.step`` (``retries_allowed``, ``max_attempts``, ...). A failure is
            recorded once, after DBOS has given up retrying.

    Raises:
        TypeError: at decoration, if the function is not ``async`` (status writes are awaited).

    Called from inside another step (DBOS runs nested steps inline) or outside a workflow, the step runs
    without status records: only workflow code can write them exactly once.
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tracked_step needs an async function, got {fn!r}")
        step_name = name or fn.__name__
        step = DBOS.step(name=step_name, **step_options)(fn)

        @functools.wraps(fn)
        async def tracked(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _in_workflow_body():
                return await step(*args, **kwargs)
            await DBOS.write_stream_async(STEP_STATUS_STREAM, status_record(step_name, RUNNING))
            try:
                result = await step(*args, **kwargs)
            except Exception as exc:
                # Recorded, then re-raised: the workflow decides whether a failed step fails the workflow.
                await DBOS.write_stream_async(STEP_STATUS_STREAM, status_record(step_name, FAILED, _error_text(exc)))
                raise
            await DBOS.write_stream_async(STEP_STATUS_STREAM, status_record(step_name, COMPLETED))
            return result

        return tracked

    return decorate


__all__ = ["COMPLETED", "FAILED", "RUNNING", "STEP_STATUS_STREAM", "StepState", "status_record", "tracked_step"]
