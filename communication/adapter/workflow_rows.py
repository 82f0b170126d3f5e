"""A workflow's status row and its recorded steps, read directly and decoded safely.

Why not ``DBOS.get_workflow_status`` / ``list_workflow_steps`` / ``handle.get_result``: they unpickle the
recorded input, output, error and step outputs with an unrestricted ``pickle.loads``, and a gateway reads
workflows of other applications, whose pickles may name any code. Here the rows are read as text and each value
is decoded only on demand, through :mod:`communication.adapter.safe_decode` (portable JSON, or a pickle of plain
data). Synchronous; callers run these with ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from communication.adapter.safe_decode import PORTABLE_JSON, decode_error_raw, decode_value, not_decodable
from communication.adapter.safe_decode import UndecodableValue as _Undecodable
from communication.adapter.store import sysdb


@dataclass(frozen=True)
class WorkflowRow:
    """One ``workflow_status`` row; the recorded values stay encoded until asked for."""

    workflow_id: str
    name: str | None
    status: str
    created_at: int | None
    updated_at: int | None
    executor_id: str | None
    queue_name: str | None
    forked_from: str | None
    schedule_name: str | None
    application_name: str | None
    serialization: str | None
    raw_input: str | None
    raw_output: str | None
    raw_error: str | None

    def input(self) -> dict[str, Any] | None:
        """The recorded arguments as ``{"args": [...], "kwargs": {...}}``. Raises ValueNotDecodable."""
        raw = decode_value(self.raw_input, self.serialization, workflow_id=self.workflow_id, key="input", kind="input")
        if raw is None:
            return None
        if self.serialization == PORTABLE_JSON and isinstance(raw, dict):
            return {"args": list(raw.get("positionalArgs") or []), "kwargs": dict(raw.get("namedArgs") or {})}
        if isinstance(raw, dict):
            return {"args": list(raw.get("args") or ()), "kwargs": dict(raw.get("kwargs") or {})}
        return {"args": [raw], "kwargs": {}}

    def output(self) -> Any:
        """The recorded output. Raises ValueNotDecodable."""
        return decode_value(
            self.raw_output, self.serialization, workflow_id=self.workflow_id, key="output", kind="output"
        )

    def error(self) -> str | None:
        """The recorded error as ``"<Type>: <message>"``. Raises ValueNotDecodable."""
        try:
            return decode_error_raw(self.raw_error, self.serialization)
        except _Undecodable as why:
            raise not_decodable(self.workflow_id, "error", "error", self.serialization, why) from why


def read_workflow(workflow_id: str) -> WorkflowRow | None:
    """The workflow's status row (``None`` if there is no such workflow). One indexed read."""
    db = sysdb()
    ws = db.tables.workflow_status
    wi, wo = db.tables.workflow_input, db.tables.workflow_output
    cols = (
        ws.c.workflow_uuid,
        ws.c.name,
        ws.c.status,
        ws.c.created_at,
        ws.c.updated_at,
        ws.c.executor_id,
        ws.c.queue_name,
        ws.c.forked_from,
        ws.c.schedule_name,
        ws.c.application_name,
        ws.c.serialization,
        # DBOS keeps the values in their own tables (older rows: in workflow_status), as its status read does.
        sa.func.coalesce(wi.c.inputs, ws.c.inputs),
        sa.func.coalesce(wo.c.output, ws.c.output),
        sa.func.coalesce(wo.c.error, ws.c.error),
    )
    joined = ws.outerjoin(wi, wi.c.workflow_uuid == ws.c.workflow_uuid).outerjoin(
        wo, wo.c.workflow_uuid == ws.c.workflow_uuid
    )
    with db.engine.begin() as c:
        row = c.execute(sa.select(*cols).select_from(joined).where(ws.c.workflow_uuid == workflow_id)).first()
    if row is None:
        return None
    return WorkflowRow(
        workflow_id=str(row[0]),
        name=row[1],
        status=str(row[2]),
        created_at=None if row[3] is None else int(row[3]),
        updated_at=None if row[4] is None else int(row[4]),
        executor_id=row[5],
        queue_name=row[6],
        forked_from=row[7],
        schedule_name=row[8],
        application_name=row[9],
        serialization=row[10],
        raw_input=row[11],
        raw_output=row[12],
        raw_error=row[13],
    )


@dataclass(frozen=True)
class StepRow:
    """One recorded step, decoded."""

    function_id: int
    function_name: str
    output: Any
    error: str | None
    child_workflow_id: str | None
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None


def read_steps(workflow_id: str) -> list[StepRow]:
    """The workflow's recorded steps in order, each output and error decoded safely.

    Raises:
        ValueNotDecodable: a step's output or error cannot be decoded (``details.key = "step <id>"``).
    """
    db = sysdb()
    oo = db.tables.operation_outputs
    with db.engine.begin() as c:
        rows = c.execute(
            sa.select(
                oo.c.function_id,
                oo.c.function_name,
                oo.c.output,
                oo.c.error,
                oo.c.child_workflow_id,
                oo.c.started_at_epoch_ms,
                oo.c.completed_at_epoch_ms,
                oo.c.serialization,
            )
            .where(oo.c.workflow_uuid == workflow_id)
            .order_by(oo.c.function_id)
        ).fetchall()
    steps = []
    for r in rows:
        key = f"step {int(r[0])}"
        output = decode_value(r[2], r[7], workflow_id=workflow_id, key=key, kind="step")
        try:
            error = decode_error_raw(r[3], r[7])
        except _Undecodable as why:
            raise not_decodable(workflow_id, key, "step", r[7], why) from why
        steps.append(StepRow(int(r[0]), str(r[1]), output, error, r[4], r[5], r[6]))
    return steps
