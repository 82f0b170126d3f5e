"""``bulky``: writes ``count`` values of ``size`` characters each as stream values, events and step outputs, so page
byte budgets can be tested (``tests/test_page_budget.py``) and measured (``bench/page_budget.py``)."""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, Field

from communication.core.registry import registry


class BulkyInput(BaseModel):
    """Input of the ``bulky`` workflow."""

    count: int = Field(10, ge=1, le=1000, description="How many values of each kind.")
    size: int = Field(1000, ge=1, le=5_000_000, description="Characters per value.")
    events: bool = Field(True, description="Also write one event per value.")
    steps: bool = Field(True, description="Also record one step per value.")


@DBOS.step()
async def _bulky_step(i: int, size: int) -> str:
    return str(i % 10) * size


@registry.register("bulky", BulkyInput, "Writes count values of size characters to stream 'bulk', events, steps.")
async def bulky_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Write the values, then close the stream."""
    p = BulkyInput.model_validate(params)
    for i in range(p.count):
        await DBOS.write_stream_async("bulk", {"i": i, "pad": str(i % 10) * p.size})
        if p.events:
            await DBOS.set_event_async(f"k{i:04d}", str(i % 10) * p.size)
        if p.steps:
            await _bulky_step(i, p.size)
    await DBOS.close_stream_async("bulk")
    return {"count": p.count}
