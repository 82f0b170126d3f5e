"""Outbound notifications of requests for human input: ``request.opened`` and ``request.expired``.

Sent by the asking workflow's process (``communication.kit.ask`` calls :func:`notify` inside a DBOS step, so a
replay does not send twice and a crash before the step ends sends again: receivers dedupe on ``webhook-id``,
which is stable per request and kind). Signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``), the scheme the server verifies
inbound (``security/webhooks.py``). Configured by ``COMM_INBOX_WEBHOOK_URL`` / ``COMM_INBOX_WEBHOOK_SECRET`` from
the environment of the process that runs the workflow (or :func:`install`). A notification never fails the
workflow: two attempts of at most ``TIMEOUT_SECONDS`` each, then a logged warning.

Why the standard library's ``urllib`` and not httpx: the core carries no HTTP framework or client (the import
contracts); one small POST needs none.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from communication.core.security.webhooks import sign_standard
from communication.core.settings import Settings

log = logging.getLogger("communication.core.inbox_webhook")

Kind = Literal["request.opened", "request.expired"]
#: Seconds one attempt may take.
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2


@dataclass(frozen=True)
class InboxWebhook:
    """Where notifications go and the secret that signs them."""

    url: str
    secret: str | None

    def send(self, kind: Kind, workflow_id: str, request: dict[str, Any]) -> bool:
        """POST one notification (blocking; run it in a thread). ``True`` when the receiver answered 2xx."""
        msg_id = f"{workflow_id}:{request.get('topic')}:{request.get('seq')}:{kind}"
        timestamp = int(time.time())
        body = json.dumps(
            {"type": kind, "timestamp": timestamp, "data": {"workflow_id": workflow_id, **request}},
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
        if self.secret:
            headers["webhook-signature"] = sign_standard(self.secret, msg_id, timestamp, body)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.warning("inbox webhook %s attempt %d failed: %s", kind, attempt, exc)
        return False


_installed: InboxWebhook | None = None
_loaded = False


def install(webhook: InboxWebhook | None) -> None:
    """Make ``webhook`` this process's notification target (``None``: no notifications)."""
    global _installed, _loaded
    _installed, _loaded = webhook, True


def current() -> InboxWebhook | None:
    """The installed target, or the one the environment configures (read once)."""
    global _installed, _loaded
    if not _loaded:
        settings = Settings()
        if settings.inbox_webhook_url:
            _installed = InboxWebhook(settings.inbox_webhook_url, settings.inbox_webhook_secret)
        _loaded = True
    return _installed
