"""Callback links from inside a workflow: mint a single-use approval link and publish it as an event.

The decision arrives as a message on the link's topic (``{"approved": bool, "message": str}``); minting and
verifying live in :mod:`communication.core.security.approval_links`.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from communication.core.security.approval_links import current
from communication.protocol.names import APPROVAL_LINK_EVENT, is_secret_event


@DBOS.step(name="mint_callback_link")
async def _mint_link_step(workflow_id: str, topic: str, prompt: str, ttl_seconds: float | None) -> dict[str, Any]:
    # A step, because a link holds a random nonce and the current time: a replay must publish the same link.
    link = current().mint(workflow_id, topic, prompt=prompt, ttl_seconds=ttl_seconds)
    return link.model_dump(mode="json")


async def publish_callback_link(
    topic: str,
    *,
    prompt: str = "",
    ttl_seconds: float | None = None,
    event_key: str = APPROVAL_LINK_EVENT,
) -> dict[str, Any]:
    """Inside a DBOS workflow: mint a link for this workflow and ``topic`` and publish it as event ``event_key``.

    The event value is a :class:`CallbackLink` as JSON (``url``, ``path``, ``expires_at``, ...), ready to be
    mailed or posted to chat. The decision arrives on ``topic`` as ``{"approved": bool, "message": str}``.

    Returns:
        The published event value.

    Raises:
        ValueError: ``event_key`` is not a secret event key (``approval_link`` or ``secret.<name>``): a link
            published under any other key would be readable with a read token, and so usable to decide.
    """
    if not is_secret_event(event_key):
        raise ValueError(f"publish callback links under {APPROVAL_LINK_EVENT!r} or a 'secret.' key, not {event_key!r}")
    workflow_id = DBOS.workflow_id
    if workflow_id is None:
        raise RuntimeError("publish_callback_link must be called inside a DBOS workflow")
    link = await _mint_link_step(workflow_id, topic, prompt, ttl_seconds)
    await DBOS.set_event_async(event_key, link)
    return link
