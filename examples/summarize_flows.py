"""A ``--workflows`` module: typed workflows of your own, served by ``python server.py`` without forking it.

Run (from the repository root)::

    PYTHONPATH=examples COMM_WORKFLOWS=workflows,summarize_flows python server.py
    # or: PYTHONPATH=examples python server.py --workflows workflows,summarize_flows

    wfc start summarize --input '{"text": "durable", "times": 3}' --workflow-id s-1
    wfc stream s-1 words --follow
    wfc send s-1 '"looks good"'
    wfc result s-1
"""

from __future__ import annotations

from dbos import DBOS
from pydantic import BaseModel

from communication import workflow_type

SETTINGS: dict[str, str] = {}


def configure(settings: object) -> None:
    """Called once by the server (or worker) before DBOS launches, with its settings."""
    SETTINGS["app_name"] = str(getattr(settings, "app_name", ""))


class Style(BaseModel):
    """Nested inputs are ordinary pydantic models."""

    separator: str = " "
    upper: bool = False


@workflow_type(description="Repeat a text, streaming each word; then wait for a review message.")
async def summarize(text: str, times: int = 2, style: Style | None = None) -> dict[str, object]:
    """``POST /v1/workflows {"type": "summarize", "input": {"text": "hi", "times": 3}}`` calls this."""
    style = style or Style()
    words = [text.upper() if style.upper else text] * times
    for word in words:
        await DBOS.write_stream_async("words", word)
    await DBOS.close_stream_async("words")
    await DBOS.set_event_async("status", "awaiting_review")
    review = await DBOS.recv_async("notification", timeout_seconds=300)
    return {"summary": style.separator.join(words), "review": review}
