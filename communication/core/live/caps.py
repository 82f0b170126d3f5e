"""The caps on open live subscriptions of one process: in all, and per workflow.

Every live path (stream tails, event watches, workflow feeds, over SSE and WebSocket) takes its place here before
it reads anything, so one hostile subscriber cannot exhaust a workflow's or the process's share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from communication.protocol.errors import SubscriptionCapacity, TooManySubscriptions


class SubscriptionCaps:
    """Counts open subscriptions; :meth:`acquire` refuses one over a cap and hands back its release."""

    def __init__(self, *, max_per_workflow: int, max_per_process: int) -> None:
        self._max_per_workflow = max_per_workflow
        self._max_per_process = max_per_process
        self._by_workflow: Counter[str] = Counter()
        self.total = 0

    def acquire(self, workflow_id: str) -> Callable[[], None]:
        """Take a place for a subscription of ``workflow_id``; call the returned function once to give it back.

        Raises:
            SubscriptionCapacity: the process holds its maximum. TooManySubscriptions: the workflow does.
        """
        if self.total >= self._max_per_process:
            raise SubscriptionCapacity(
                f"this server holds its maximum of {self._max_per_process} live subscriptions; retry later",
                scope="process",
                limit=self._max_per_process,
            )
        if self._by_workflow[workflow_id] >= self._max_per_workflow:
            raise TooManySubscriptions(
                f"workflow {workflow_id!r} has its maximum of {self._max_per_workflow} live subscriptions",
                scope="workflow",
                limit=self._max_per_workflow,
                workflow_id=workflow_id,
            )
        self.total += 1
        self._by_workflow[workflow_id] += 1

        def release() -> None:
            self.total -= 1
            self._by_workflow[workflow_id] -= 1
            if self._by_workflow[workflow_id] <= 0:
                del self._by_workflow[workflow_id]

        return release
