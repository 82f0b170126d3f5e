"""The ``pipeline`` workflow: load configuration → collect from several sources → (approval) → publish an artifact.

Modelled on the seed's scrape-and-deploy pipeline and meant to be scheduled. Sources are simulated, deterministically
from the input, so behaviour under failure is reproducible: a source produces ``items`` items, may fail its first
``fail_times`` attempts, fail every attempt (``always_fail``), or take ``delay_seconds`` per attempt (beyond
``source_timeout_seconds`` that is a timeout).

Durability choices:
- each collection is a DBOS step with a timeout and retries with exponential backoff (``DBOS.run_step_async``, so
  the retry policy comes from the input); a source that still fails is recorded in ``errors`` and the run goes on;
- progress goes to stream ``progress_stream`` from the workflow body (exactly-once, so a recovered run never
  repeats or skips a value), as JSON objects with a ``type``; the stream is closed at the end;
- publishing writes ``<pipeline_artifact_dir>/<name>-<workflow id>.json`` (atomically, idempotent: a retried step
  rewrites the same file) when the process is configured with a directory, and always sets event ``artifact``.

Returns ``{success, message, item_count, errors: [{source, error}], published, artifact}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from dbos import DBOS, StepOptions
from pydantic import BaseModel, Field, model_validator

from communication.kit import registry
from communication.protocol.names import NOTIFICATION_TOPIC, PROGRESS_STREAM, STATUS_EVENT

ARTIFACT_EVENT = "artifact"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Config:
    """Process configuration, set by :func:`configure` at launch (workflows cannot see Settings)."""

    artifact_dir: Path | None = None


def configure(artifact_dir: Path | None) -> None:
    """Where this process writes published artifacts (``Settings.pipeline_artifact_dir``); ``None``: event only."""
    _Config.artifact_dir = artifact_dir


class SourceSpec(BaseModel):
    """One simulated data source."""

    name: str = Field(pattern=_NAME, description="Source name (unique within the pipeline).")
    items: int = Field(3, ge=0, le=10_000, description="Items the source produces when it succeeds.")
    fail_times: int = Field(0, ge=0, le=100, description="Fail the first N attempts, then succeed.")
    always_fail: bool = Field(False, description="Fail every attempt.")
    delay_seconds: float = Field(0.0, ge=0.0, le=600.0, description="Simulated latency of each attempt.")


def _default_sources() -> list[SourceSpec]:
    return [SourceSpec(name="alpha"), SourceSpec(name="beta"), SourceSpec(name="gamma")]


class PipelineInput(BaseModel):
    """Input of the ``pipeline`` workflow."""

    name: str = Field("pipeline", pattern=_NAME, description="Pipeline (and artifact) name.")
    sources: list[SourceSpec] = Field(default_factory=_default_sources, min_length=1, max_length=50)
    max_attempts: int = Field(3, ge=1, le=10, description="Attempts per source (1 = no retry).")
    retry_interval_seconds: float = Field(0.5, ge=0.0, le=60.0, description="Wait before the first retry.")
    backoff_rate: float = Field(2.0, ge=1.0, le=10.0, description="Each further retry waits this much longer.")
    source_timeout_seconds: float = Field(10.0, gt=0.0, le=600.0, description="Limit for one attempt.")
    require_approval: bool = Field(False, description="Wait for an approval message before publishing.")
    approval_topic: str = Field(NOTIFICATION_TOPIC, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$")
    approval_timeout_seconds: float = Field(3600.0, gt=0.0, le=7 * 24 * 3600.0)

    @model_validator(mode="after")
    def _unique_sources(self) -> PipelineInput:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        return self


async def _load_configuration(params: dict[str, Any]) -> dict[str, Any]:
    """Resolve the run's configuration once; recorded, so a recovered run sees the same one."""
    p = PipelineInput.model_validate(params)
    return {"name": p.name, "sources": [s.model_dump() for s in p.sources], "loaded_at": time.time()}


async def _collect(source: dict[str, Any]) -> dict[str, Any]:
    """One attempt at collecting from a simulated source (DBOS retries and times it out)."""
    spec = SourceSpec.model_validate(source)
    status = DBOS.step_status
    attempt = status.current_attempt if status is not None and status.current_attempt is not None else 0
    if spec.delay_seconds:
        await asyncio.sleep(spec.delay_seconds)
    if spec.always_fail or attempt < spec.fail_times:
        raise ConnectionError(f"source {spec.name!r} unavailable (attempt {attempt + 1})")
    items = [
        {"source": spec.name, "n": i, "value": hashlib.sha256(f"{spec.name}:{i}".encode()).hexdigest()[:12]}
        for i in range(spec.items)
    ]
    return {"source": spec.name, "items": items, "attempts": attempt + 1}


async def _publish(
    name: str, workflow_id: str, items: list[dict[str, Any]], errors: list[dict[str, str]]
) -> dict[str, Any]:
    """Generate the artifact; write it to the configured directory (atomic rename) if there is one."""
    document = {
        "pipeline": name,
        "workflow_id": workflow_id,
        "item_count": len(items),
        "items": items,
        "errors": errors,
    }
    body = json.dumps(document, sort_keys=True, indent=2).encode()
    summary: dict[str, Any] = {
        "name": name,
        "item_count": len(items),
        "sha256": hashlib.sha256(body).hexdigest(),
        "path": None,
    }
    directory = _Config.artifact_dir
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{name}-{workflow_id}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, target)  # readers never see a half-written artifact
        summary["path"] = str(target)
    return summary


def _decision(message: Any) -> tuple[bool, str]:
    """``{"approved": true, "message": "..."}`` approves; anything else rejects, with its reason."""
    if isinstance(message, dict):
        return message.get("approved") is True, str(message.get("message") or message.get("reason") or "")
    return False, f"unrecognised approval message: {message!r}"


async def _progress(kind: str, **fields: Any) -> None:
    await DBOS.write_stream_async(PROGRESS_STREAM, {"type": kind, **fields})


async def _finish(result: dict[str, Any]) -> dict[str, Any]:
    await _progress("complete", **{k: result[k] for k in ("success", "message", "item_count", "published")})
    await DBOS.close_stream_async(PROGRESS_STREAM)
    await DBOS.set_event_async(STATUS_EVENT, "completed" if result["success"] else "failed")
    return result


@registry.register(
    "pipeline",
    PipelineInput,
    "Loads its configuration, collects from several simulated sources (timeouts, retries with backoff; a failing "
    "source does not fail the run), optionally waits for approval, publishes an artifact; streams progress to "
    "'progress_stream'.",
)
async def pipeline_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Run the pipeline (see the module docstring)."""
    p = PipelineInput.model_validate(params)
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None
    await DBOS.set_event_async(STATUS_EVENT, "loading_configuration")
    await _progress("start", pipeline=p.name, sources=len(p.sources))
    config = await DBOS.run_step_async({"name": "load_configuration"}, _load_configuration, params)
    await _progress("config_loaded", sources=[s["name"] for s in config["sources"]])

    await DBOS.set_event_async(STATUS_EVENT, "collecting")
    items: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for source in config["sources"]:
        options: StepOptions = {
            "name": f"collect:{source['name']}",
            "retries_allowed": p.max_attempts > 1,
            "max_attempts": p.max_attempts,
            "interval_seconds": p.retry_interval_seconds,
            "backoff_rate": p.backoff_rate,
            "timeout_seconds": p.source_timeout_seconds,
        }
        try:
            collected = await DBOS.run_step_async(options, _collect, source)
        except Exception as exc:  # noqa: BLE001 - a failed source is data for the result, not a failed run
            error = f"{type(exc).__name__}: {exc}"
            errors.append({"source": source["name"], "error": error})
            await _progress("source_failed", source=source["name"], error=error)
            continue
        items.extend(collected["items"])
        await _progress(
            "source_collected", source=source["name"], items=len(collected["items"]), attempts=collected["attempts"]
        )

    ok_sources = len(config["sources"]) - len(errors)
    summary = f"collected {len(items)} items from {ok_sources}/{len(config['sources'])} sources"
    result: dict[str, Any] = {
        "success": False,
        "message": summary,
        "item_count": len(items),
        "errors": errors,
        "published": False,
        "artifact": None,
    }
    if ok_sources == 0:
        result["message"] = f"{summary}; nothing to publish"
        return await _finish(result)

    if p.require_approval:
        await DBOS.set_event_async(STATUS_EVENT, "waiting_for_approval")
        await _progress("awaiting_approval", topic=p.approval_topic)
        message = await DBOS.recv_async(topic=p.approval_topic, timeout_seconds=p.approval_timeout_seconds)
        if message is None:
            await _progress("approval_timeout")
            result["message"] = f"{summary}; no approval within {p.approval_timeout_seconds:g} seconds"
            return await _finish(result)
        approved, reason = _decision(message)
        await _progress("approved" if approved else "rejected", reason=reason)
        result["approval"] = {"approved": approved, "message": reason}
        if not approved:
            result["message"] = f"{summary}; rejected: {reason or 'no reason given'}"
            return await _finish(result)

    await DBOS.set_event_async(STATUS_EVENT, "publishing")
    artifact = await DBOS.run_step_async({"name": "publish_artifact"}, _publish, p.name, workflow_id, items, errors)
    await DBOS.set_event_async(ARTIFACT_EVENT, artifact)
    await _progress("published", artifact=artifact)
    result.update(success=True, published=True, artifact=artifact, message=f"{summary}; published {p.name!r}")
    return await _finish(result)
