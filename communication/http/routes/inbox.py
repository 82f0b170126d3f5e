"""The inbox of human-input requests (``communication.kit.ask``): list, live list (SSE), one request, its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request

from communication.core.live.inbox_feed import MAX_SUBSCRIBERS, InboxFeed
from communication.http.deps import CoreDep, SettingsDep, WorkflowId
from communication.http.frames import encode_json, sse_frame
from communication.http.live import SSE_RESPONSE, sse
from communication.http.schemas import error_responses
from communication.http.sse_response import FrameStream
from communication.protocol.errors import TooManySubscriptions
from communication.protocol.inbox import AnswerResult, InboxItem, InboxList, InboxStatus
from communication.protocol.validation import KEY_PATTERN

router = APIRouter(tags=["inbox"])

StatusFilter = Annotated[
    InboxStatus | Literal["all"],
    Query(description="open (default), answered, expired, cancelled, or all."),
]
ApplicationFilter = Annotated[
    str | None, Query(max_length=200, description="Only requests of workflows of this DBOS application.")
]
AssigneeFilter = Annotated[str | None, Query(max_length=200, description="Only requests assigned to this name.")]
Topic = Annotated[str, Path(pattern=KEY_PATTERN, description="The request's topic.", examples=["refund"])]


@router.get("/v1/inbox", summary="Requests for human input, across applications", responses=error_responses(422))
async def list_inbox(
    core: CoreDep,
    status: StatusFilter = "open",
    application: ApplicationFilter = None,
    assignee: AssigneeFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most requests returned.")] = 200,
) -> InboxList:
    """Every request of every application on the database matching the filters, latest deadline first."""
    wanted = None if status == "all" else status
    # An empty filter (?application=&assignee=) means no filter.
    return await core.inbox.list(status=wanted, application=application or None, assignee=assignee or None, limit=limit)


async def _snapshots(feed: InboxFeed, application: str | None, assignee: str | None) -> AsyncIterator[bytes]:
    async with feed.subscribe() as queue:
        while True:
            items = await queue.get()
            chosen = [
                item.model_dump(mode="json", by_alias=True)
                for item in items
                if (application is None or item.application == application)
                and (assignee is None or assignee in item.assignees)
            ]
            yield sse_frame(encode_json({"requests": chosen}), event="inbox")


@router.get(
    "/v1/inbox/live",
    summary="The open requests, live (SSE): a full snapshot on connect and after every change",
    response_class=FrameStream,
    responses={**SSE_RESPONSE, **error_responses(429)},
)
async def live_inbox(
    request: Request,
    core: CoreDep,
    settings: SettingsDep,
    application: ApplicationFilter = None,
    assignee: AssigneeFilter = None,
) -> Any:
    """Frames ``event: inbox`` with ``{"requests": [...]}`` (the open requests, latest deadline first): one on
    connect and one whenever a request opens or closes. One database read per ``COMM_INBOX_POLL_SECONDS`` per
    process serves every subscriber."""
    if core.inbox_feed.subscribers >= MAX_SUBSCRIBERS:
        raise TooManySubscriptions("too many live inbox subscribers", scope="inbox", limit=MAX_SUBSCRIBERS)
    return sse(_snapshots(core.inbox_feed, application or None, assignee or None), settings)


@router.get(
    "/v1/workflows/{workflow_id}/requests/{topic}",
    summary="One request for human input",
    responses=error_responses(404),
)
async def get_request(workflow_id: WorkflowId, topic: Topic, core: CoreDep) -> InboxItem:
    """The request on ``topic`` (its latest, whatever its status)."""
    return await core.inbox.get(workflow_id, topic)


@router.post(
    "/v1/workflows/{workflow_id}/requests/{topic}/answer",
    summary="Answer a request for human input (validated, exactly once)",
    responses=error_responses(404, 409, 410, 413, 422),
)
async def answer_request(
    workflow_id: WorkflowId,
    topic: Topic,
    core: CoreDep,
    answer: Annotated[Any, Body(description="The answer: JSON matching the request's schema.")],
    via: Annotated[
        Literal["api", "dashboard", "cli", "client"], Query(description="Where the answer came from (recorded).")
    ] = "api",
) -> AnswerResult:
    """``422 answer_invalid`` with the schema's errors (nothing delivered); ``409 already_answered`` for any answer
    after the first, whichever channel (API, signed link, dashboard) delivered it; ``410 request_closed`` once the
    request expired or its workflow ended."""
    return await core.inbox.answer(workflow_id, topic, answer, via)
