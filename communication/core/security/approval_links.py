"""Pre-signed callback links: single-use, expiring approval links scoped to one (workflow, topic).

A link is ``/v1/callbacks/<token>`` where the token carries its own claims (workflow id, topic, a random
nonce, expiry, and the prompt shown to the approver) and an HMAC under a key derived from the server secret,
so nothing is stored when a link is minted. Single use comes from the message layer: the decision is sent
with the idempotency key ``callback-link:<nonce>``, which DBOS stores exactly once per workflow; a second
decision is a duplicate and is refused.

Workflows mint links with :func:`publish_callback_link` (a DBOS step, so a replay publishes the same link);
the HTTP API mints them with :meth:`CallbackLinks.mint`. Nothing here imports FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from communication.adapter import store
from communication.core.messages import MessageService
from communication.core.security.credentials import Clock, ServerSecret, Signer
from communication.core.settings import Settings
from communication.protocol.errors import (
    LinkClosed,
    LinkExpired,
    LinkNotFound,
    LinkUsed,
    WorkflowFinished,
    WorkflowNotFound,
)
from communication.protocol.models import SendResult
from communication.protocol.validation import KEY_PATTERN, MAX_PROMPT_CHARS, WORKFLOW_ID_PATTERN, check_key

log = logging.getLogger("communication.core.security.approval_links")

#: Event key under which workflows publish their approval link by default.

#: Path prefix of every callback link.
LINK_PATH_PREFIX = "/v1/callbacks/"
#: Longest prompt a link carries (it travels inside the URL).
#: Longest comment an approver may add.
MAX_COMMENT_CHARS = 2000

_WORKFLOW_ID_RE = re.compile(WORKFLOW_ID_PATTERN)
_KEY_RE = re.compile(KEY_PATTERN)


class CallbackLink(BaseModel):
    """A minted link, as returned by the API and published as a workflow event."""

    url: str = Field(description="Absolute URL when the base URL is known, else the path.")
    path: str = Field(description="The link's path on this server (/v1/callbacks/<token>).")
    workflow_id: str
    topic: str = Field(description="Topic the decision is delivered on.")
    prompt: str = Field(description="What the approver is asked to decide.")
    expires_at: datetime


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link grants: one decision for ``workflow_id`` on ``topic`` before ``expires_at``."""

    workflow_id: str
    topic: str
    nonce: str
    expires_at: float
    prompt: str

    @property
    def idempotency_key(self) -> str:
        """The message idempotency key that makes the link single-use."""
        return f"callback-link:{self.nonce}"

    @property
    def expires_at_datetime(self) -> datetime:
        """Expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


class CallbackLinks:
    """Mints and verifies callback links with the server secret."""

    def __init__(self, settings: Settings, secret: ServerSecret, clock: Clock = time.time) -> None:
        self._signer = Signer(secret, "callback-link")
        self._default_ttl = settings.callback_link_ttl_seconds
        self._public_base_url = settings.public_base_url.rstrip("/") if settings.public_base_url else None
        self._clock = clock

    def mint(
        self,
        workflow_id: str,
        topic: str,
        *,
        prompt: str = "",
        ttl_seconds: float | None = None,
        base_url: str | None = None,
        now: float | None = None,
    ) -> CallbackLink:
        """A new single-use link for a decision on ``topic`` of ``workflow_id``.

        Args:
            prompt: shown on the approval page (truncated to ``MAX_PROMPT_CHARS``).
            ttl_seconds: lifetime; default ``Settings.callback_link_ttl_seconds``.
            base_url: prefix for ``url``; default ``Settings.public_base_url`` (else ``url`` is the path).
            now: issue time (tests mint already-expired links with it).
        """
        check_key(topic, "topic")
        issued = self._clock() if now is None else now
        expires = round(issued + (self._default_ttl if ttl_seconds is None else ttl_seconds), 3)
        text = prompt[:MAX_PROMPT_CHARS]
        token = self._signer.sign(
            {"kind": "link", "wf": workflow_id, "topic": topic, "nonce": secrets.token_urlsafe(16), "exp": expires}
            | ({"prompt": text} if text else {})
        )
        path = LINK_PATH_PREFIX + token
        base = (base_url or self._public_base_url or "").rstrip("/")
        return CallbackLink(
            url=base + path,
            path=path,
            workflow_id=workflow_id,
            topic=topic,
            prompt=text,
            expires_at=datetime.fromtimestamp(expires, tz=UTC),
        )

    def verify(self, token: str) -> LinkClaims:
        """The claims of an authentic, unexpired link.

        Raises:
            LinkNotFound: malformed, tampered with or signed by another secret (one answer for all of them).
            LinkExpired: authentic but past its expiry.
        """
        claims = self._signer.verify(token)
        if claims is None or claims.get("kind") != "link":
            raise LinkNotFound("this link is not valid")
        wf, topic, nonce, exp = claims.get("wf"), claims.get("topic"), claims.get("nonce"), claims.get("exp")
        prompt = claims.get("prompt", "")
        if not (
            isinstance(wf, str)
            and _WORKFLOW_ID_RE.fullmatch(wf)
            and isinstance(topic, str)
            and _KEY_RE.fullmatch(topic)
            and isinstance(nonce, str)
            and isinstance(exp, int | float)
            and isinstance(prompt, str)
        ):
            raise LinkNotFound("this link is not valid")
        if float(exp) <= self._clock():
            raise LinkExpired("this link has expired", expired_at=datetime.fromtimestamp(exp, tz=UTC).isoformat())
        return LinkClaims(workflow_id=wf, topic=topic, nonce=nonce, expires_at=float(exp), prompt=prompt)


class CallbackService:
    """Shows and redeems callback links over the message layer."""

    def __init__(self, links: CallbackLinks, messages: MessageService) -> None:
        self._links = links
        self._messages = messages

    def verify(self, token: str) -> LinkClaims:
        """Verify a link's signature and expiry only. Raises LinkNotFound, LinkExpired."""
        return self._links.verify(token)

    async def inspect(self, token: str) -> LinkClaims:
        """Verify a link and check it can still be used (for the approval page).

        Raises:
            LinkNotFound, LinkExpired, LinkUsed (a decision was delivered), LinkClosed (workflow finished).
        """
        claims = self._links.verify(token)
        status = await asyncio.to_thread(store.workflow_status, claims.workflow_id)
        if status is None:
            raise LinkNotFound("this link is not valid")
        if await asyncio.to_thread(store.message_sent, claims.workflow_id, claims.idempotency_key):
            raise LinkUsed("this link has already been used")
        if store.is_terminal(status):
            raise LinkClosed("this request is closed: the workflow no longer waits for a decision")
        return claims

    async def decide(self, token: str, approved: bool, comment: str = "") -> tuple[LinkClaims, SendResult]:
        """Deliver the decision ``{"approved": bool, "message": str}`` exactly once.

        Raises:
            LinkNotFound, LinkExpired, LinkUsed, LinkClosed.
        """
        claims = self._links.verify(token)
        text = comment.strip()[:MAX_COMMENT_CHARS] or ("Approved" if approved else "Rejected") + " via callback link"
        decision: dict[str, Any] = {"approved": approved, "message": text}
        try:
            sent = await self._messages.send(claims.workflow_id, decision, claims.topic, claims.idempotency_key)
        except WorkflowNotFound as exc:
            raise LinkNotFound("this link is not valid") from exc
        except WorkflowFinished as exc:
            if await asyncio.to_thread(store.message_sent, claims.workflow_id, claims.idempotency_key):
                raise LinkUsed("this link has already been used") from exc
            raise LinkClosed("this request is closed: the workflow no longer waits for a decision") from exc
        if sent.outcome == "duplicate":
            raise LinkUsed("this link has already been used")
        return claims, sent


# The process's link minter, used by workflows (which have no request to take it from). Installed by the
# server at start; a process that never installed one (a bare worker) builds it from the environment.
_installed: CallbackLinks | None = None


def install(links: CallbackLinks) -> None:
    """Make ``links`` the minter :func:`publish_callback_link` uses in this process."""
    global _installed
    _installed = links


def current() -> CallbackLinks:
    """The installed minter, or one built from ``Settings()`` (the environment) on first use."""
    global _installed
    if _installed is None:
        settings = Settings()
        log.info("no callback link minter installed; using settings from the environment")
        _installed = CallbackLinks(settings, ServerSecret(settings))
    return _installed
