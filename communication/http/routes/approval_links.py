"""Callback links: mint one (API key), show its approval page and take the decision (the link is the credential).

A link minted by ``communication.kit.ask`` for a request for input shows a form generated from the request's JSON
schema (``http/answer_form.py``) and delivers the answer through the inbox (one answer per request, whichever
channel is first); any other link shows Approve / Reject. The pages are plain HTML with a form POST (no
JavaScript). Every answer carries ``X-Error-Code`` on failure, ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (the token is in the URL and must not leak to other sites), and a CSP that forbids
framing (an approve button must not be clickjacked).
"""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import HTMLResponse

from communication.core.security.approval_links import (
    LINK_PATH_PREFIX,
    MAX_COMMENT_CHARS,
    CallbackLink,
    CallbackLinks,
    CallbackService,
    LinkClaims,
)
from communication.core.services import Core
from communication.core.settings import Settings
from communication.core.workflows import is_terminal
from communication.http.answer_form import parse_answer, render_fields
from communication.http.deps import CoreDep, WorkflowId
from communication.http.schemas import error_responses
from communication.protocol.errors import (
    AlreadyAnswered,
    AnswerInvalid,
    CommError,
    RequestClosed,
    RequestNotFound,
    ValidationFailed,
    WorkflowFinished,
)
from communication.protocol.inbox import InboxItem
from communication.protocol.requests import CreateLinkRequest

router = APIRouter(prefix="/v1/workflows/{workflow_id}", tags=["callback links"])
public_router = APIRouter(prefix="/v1/callbacks", tags=["callback links"])

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "dt{font-weight:600}dd{margin:0 0 .5rem}textarea{width:100%;min-height:5rem}"
    "button{font-size:1rem;padding:.5rem 1.5rem;margin:.75rem .5rem 0 0}.code{color:#777;font-size:.85rem}"
    ".field{margin:.75rem 0}.field label{display:block;font-weight:600}.field input,.field select{font-size:1rem}"
    ".hint{display:block;color:#666}.error{color:#b00020}"
)


async def get_links(core: CoreDep) -> CallbackLinks:
    """The core's link minter (built in ``Core.build``)."""
    return core.links


LinksDep = Annotated[CallbackLinks, Depends(get_links)]


async def get_callbacks(core: CoreDep) -> CallbackService:
    """The core's approval-link service (links redeemed as messages)."""
    return core.approvals


CallbacksDep = Annotated[CallbackService, Depends(get_callbacks)]
Token = Annotated[str, Path(description="The signed link token (anything else answers 404).")]


@router.post(
    "/callback-links",
    status_code=201,
    summary="Mint a single-use approval link for one topic of a workflow",
    responses=error_responses(400, 404, 409),
)
async def create_link(
    workflow_id: WorkflowId,
    core: CoreDep,
    links: LinksDep,
    request: Request,
    body: Annotated[CreateLinkRequest | None, Body()] = None,
) -> CallbackLink:
    """Anyone holding the returned ``url`` can approve or reject once, until ``expires_at``; no API key needed.

    The decision arrives on ``topic`` as ``{"approved": bool, "message": str}``.
    """
    options = body or CreateLinkRequest()
    info = await core.workflows.status(workflow_id, detail=False)
    if is_terminal(info.status):
        raise WorkflowFinished(
            f"workflow {workflow_id!r} has finished ({info.status}) and no longer receives messages",
            workflow_id=workflow_id,
            workflow_status=info.status,
        )
    return links.mint(
        workflow_id,
        options.topic,
        prompt=options.prompt,
        ttl_seconds=options.ttl_seconds,
        base_url=link_base_url(request),
    )


def link_base_url(request: Request) -> str | None:
    """Where minted links point: ``COMM_PUBLIC_BASE_URL``; else the request's own URL only when its ``Host`` was
    vetted by ``COMM_ALLOWED_HOSTS`` (a bare ``Host`` header is attacker-chosen: a link built from it could send
    the approver to another site); else ``None`` (the link is a path)."""
    settings: Settings = request.app.state.settings
    if settings.public_base_url:
        return str(settings.public_base_url)
    if settings.allowed_hosts and "*" not in settings.allowed_hosts:
        return str(request.base_url).rstrip("/") + str(request.scope.get("root_path", ""))
    return None


def _page(title: str, body: str, status: int = 200, code: str | None = None) -> HTMLResponse:
    headers = dict(_HEADERS)
    if code:
        headers["X-Error-Code"] = code
        body += f'<p class="code">{html.escape(code)}</p>'
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=headers)


_TITLES = {404: "Link not valid", 409: "Link already used", 410: "Link no longer valid", 422: "Invalid decision"}
_CODE_TITLES = {"already_answered": "Already answered", "request_closed": "Request closed"}


def _error_page(exc: CommError) -> HTMLResponse:
    title = _CODE_TITLES.get(exc.code) or _TITLES.get(exc.status, "Something went wrong")
    return _page(title, f"<p>{html.escape(exc.message[:1].upper() + exc.message[1:])}.</p>", exc.status, exc.code)


def _form(claims: LinkClaims) -> str:
    prompt = claims.prompt or "A workflow is waiting for your decision."
    expires = claims.expires_at_datetime.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<p class="prompt">{html.escape(prompt)}</p><dl>'
        f"<dt>Workflow</dt><dd>{html.escape(claims.workflow_id)}</dd>"
        f"<dt>Link expires</dt><dd>{html.escape(expires)}</dd></dl>"
        f'<form method="post"><label for="comment">Comment (optional)</label>'
        f'<textarea id="comment" name="comment" maxlength="{MAX_COMMENT_CHARS}"></textarea>'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="reject">Reject</button></form>'
    )


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The page.", **_HTML},
    404: {"description": "Malformed or tampered link (link_not_found)", **_HTML},
    409: {"description": "Already used (link_used)", **_HTML},
    410: {"description": "Expired (link_expired) or the workflow finished (link_closed)", **_HTML},
}


@public_router.get(
    "/{token}", summary="Approval page of a callback link", response_class=HTMLResponse, responses=_PAGE_RESPONSES
)
async def show_link(token: Token, service: CallbacksDep, core: CoreDep) -> HTMLResponse:
    """What is being approved, with Approve / Reject buttons and an optional comment; for a request for input,
    a form generated from the request's schema."""
    try:
        item = await _request_of(core, service.verify(token), token)
        if item is not None:
            _check_open(item)
            return _page("Input requested", _answer_form(item))
        claims = await service.inspect(token)
    except CommError as exc:
        return _error_page(exc)
    return _page("Approval requested", _form(claims))


async def _request_of(core: Core, claims: LinkClaims, token: str) -> InboxItem | None:
    """The request for input this link was minted for (by ``kit.ask``), or ``None`` for a plain approval link."""
    try:
        item = await core.inbox.get(claims.workflow_id, claims.topic)
    except RequestNotFound:
        return None
    signed = item.links.signed
    return item if signed is not None and signed.endswith(LINK_PATH_PREFIX + token) else None


def _check_open(item: InboxItem) -> None:
    if item.status == "answered":
        raise AlreadyAnswered("this request was answered already")
    if item.status != "open":
        raise RequestClosed(f"this request no longer takes an answer ({item.status})")


def _answer_form(item: InboxItem, errors: list[dict[str, Any]] | None = None) -> str:
    prompt = item.prompt or "A workflow is waiting for your input."
    deadline = item.deadline.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<p class="prompt">{html.escape(prompt)}</p><dl>'
        f"<dt>Workflow</dt><dd>{html.escape(item.workflow_id)}</dd>"
        f"<dt>Answer by</dt><dd>{html.escape(deadline)}</dd></dl>"
        f'<form method="post">{render_fields(item.answer_schema, errors)}'
        '<button type="submit">Submit answer</button></form>'
    )


_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "decision": {"type": "string", "enum": ["approve", "reject"]},
                        "comment": {"type": "string", "maxLength": MAX_COMMENT_CHARS},
                    },
                    "required": ["decision"],
                }
            }
        },
    }
}


def parse_decision(body: bytes, content_type: str) -> tuple[bool, str]:
    """``(approved, comment)`` from the page's form.

    Raises:
        ValidationFailed: not a form, no valid ``decision``, or a comment over ``MAX_COMMENT_CHARS``.
    """
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise ValidationFailed("send the decision as a form (application/x-www-form-urlencoded)")
    try:
        fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    except ValueError as exc:  # more fields than max_num_fields
        raise ValidationFailed("too many form fields") from exc
    decision = (fields.get("decision") or [""])[0]
    comment = (fields.get("comment") or [""])[0]
    if decision not in ("approve", "reject"):
        raise ValidationFailed("choose approve or reject", field="decision")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValidationFailed(f"the comment is longer than {MAX_COMMENT_CHARS} characters", field="comment")
    return decision == "approve", comment


@public_router.post(
    "/{token}",
    summary="Approve or reject through a callback link (single use)",
    response_class=HTMLResponse,
    responses={**_PAGE_RESPONSES, 422: {"description": "No valid decision (validation_error)", **_HTML}},
    openapi_extra=_FORM_BODY,
)
async def decide(token: Token, request: Request, service: CallbacksDep, core: CoreDep) -> HTMLResponse:
    """Deliver ``{"approved": bool, "message": comment}`` to the workflow exactly once; for a request for input,
    the form's answer, validated against the request's schema (one answer per request, whatever the channel)."""
    try:
        claims = service.verify(token)  # a bad link answers 404/410 before the body is looked at
        item = await _request_of(core, claims, token)
        if item is not None:
            return await _answer(core, item, request)
        approved, comment = parse_decision(await request.body(), request.headers.get("content-type", ""))
        await service.decide(token, approved, comment)
    except CommError as exc:
        return _error_page(exc)
    verdict = "approved" if approved else "rejected"
    return _page("Thank you", f"<p>Your decision (<strong>{verdict}</strong>) was recorded.</p>")


async def _answer(core: Core, item: InboxItem, request: Request) -> HTMLResponse:
    _check_open(item)
    answer = parse_answer(await request.body(), request.headers.get("content-type", ""), item.answer_schema)
    try:
        await core.inbox.answer(item.workflow_id, item.topic, answer, via="link")
    except AnswerInvalid as exc:
        page = _page("Input requested", _answer_form(item, exc.details.get("errors")), exc.status, exc.code)
        return page
    return _page("Thank you", "<p>Your answer was recorded.</p>")
