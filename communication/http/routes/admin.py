"""/v1/admin: operator actions across nodes (recovering a dead executor's workflows)."""

from __future__ import annotations

from fastapi import APIRouter

from communication.core.ops.recovery import recover_executors_async
from communication.http.schemas import error_responses
from communication.protocol.requests import RecoverRequest, RecoverResult

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/recover", summary="Recover the pending workflows of dead executors", responses=error_responses())
async def recover(body: RecoverRequest) -> RecoverResult:
    """Re-enqueue every PENDING workflow of ``executor_ids`` (this application version).

    Only for executors that are gone for good: a restarted process recovers its own workflows by itself.
    """
    return RecoverResult(executor_ids=body.executor_ids, recovered=await recover_executors_async(body.executor_ids))
