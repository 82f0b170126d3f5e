"""Bring-your-own-workflows test support: a workflow module that lives outside the project."""

from __future__ import annotations

import os
from pathlib import Path

#: A user's module: imports only the public face and DBOS. Written to a temporary directory, put on PYTHONPATH.
BYO_MODULE = '''
"""A workflow module of a user's own project (not under the repository)."""

from dbos import DBOS

from communication import workflow_type

CONFIGURED = {}


def configure(settings):
    CONFIGURED["app_name"] = settings.app_name


@workflow_type(description="Repeat a text, streaming each copy; then wait for an approval message.")
async def byo_summarize(text: str, times: int = 2) -> dict:
    for i in range(times):
        await DBOS.write_stream_async("copies", f"{i}:{text}")
    await DBOS.close_stream_async("copies")
    approval = await DBOS.recv_async("notification", timeout_seconds=120)
    return {"summary": " ".join([text] * times), "approval": approval, "configured": CONFIGURED.get("app_name")}
'''


def write_module(directory: Path, name: str = "byo_flows", source: str = BYO_MODULE) -> Path:
    """Write ``source`` as module ``name`` into ``directory`` and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(source)
    return directory


def python_path(*directories: Path) -> str:
    """A PYTHONPATH with ``directories`` first, then whatever the test process had."""
    parts = [str(d) for d in directories]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)
