"""/v1/admin: operator actions across nodes (recovering a dead executor's workflows)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from communication.core.ops.recovery import recover_executors_async
from communication.http.schemas import error_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RecoverRequest(BaseModel):
    """Executors whose pending workflows another process should take over."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"executor_ids": ["node-b"]}]})

    executor_ids: list[str] = Field(
        min_length=1, max_length=100, description="DBOS executor ids of processes that will never come back."
    )


class RecoverResult(BaseModel):
    """The workflows put back on their queues."""

    executor_ids: list[str]
    recovered: list[str] = Field(description="Ids of the re-enqueued workflows; any live process may run them.")


@router.post("/recover", summary="Recover the pending workflows of dead executors", responses=error_responses())
async def recover(body: RecoverRequest) -> RecoverResult:
    """Re-enqueue every PENDING workflow of ``executor_ids`` (this application version).

    Only for executors that are gone for good: a restarted process recovers its own workflows by itself.
    """
    return RecoverResult(executor_ids=body.executor_ids, recovered=await recover_executors_async(body.executor_ids))
