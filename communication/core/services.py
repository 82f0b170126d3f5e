"""The communication core: one object bundling the services the HTTP layer (and tests) call."""

from __future__ import annotations

from dataclasses import dataclass

from communication.core.events import EventService
from communication.core.inbox import InboxService
from communication.core.live.hub import Hub
from communication.core.live.inbox_feed import InboxFeed
from communication.core.messages import MessageService
from communication.core.registry import WorkflowRegistry
from communication.core.schedules import ScheduleService
from communication.core.security.approval_links import CallbackLinks, CallbackService
from communication.core.security.credentials import ServerSecret
from communication.core.security.webhooks import WebhookService, WebhookVerifier
from communication.core.sessions import SessionService
from communication.core.settings import Settings
from communication.core.streams import StreamService
from communication.core.workflows import WorkflowControl


@dataclass(frozen=True)
class Core:
    """Services over one running DBOS instance."""

    settings: Settings
    registry: WorkflowRegistry
    hub: Hub
    workflows: WorkflowControl
    events: EventService
    messages: MessageService
    streams: StreamService
    sessions: SessionService
    schedules: ScheduleService
    links: CallbackLinks
    approvals: CallbackService
    webhooks: WebhookService
    inbox: InboxService
    inbox_feed: InboxFeed

    @classmethod
    def build(
        cls, settings: Settings, registry: WorkflowRegistry, hub: Hub, *, secret: ServerSecret | None = None
    ) -> Core:
        """Wire the services for ``settings`` around the process's fan-out ``hub``.

        Args:
            settings: the one settings object.
            registry: the workflow types.
            hub: the process's fan-out hub.
            secret: the server secret the HTTP layer's access control signs with (read tokens), so approval links
                share it; default: read from ``settings``.

        Raises:
            ValueError: a configured webhook secret is malformed (the start fails, not the first delivery).
        """
        workflows = WorkflowControl(settings, registry)
        messages = MessageService()
        streams = StreamService(settings.page_max_bytes)
        links = CallbackLinks(settings, secret if secret is not None else ServerSecret(settings))
        inbox = InboxService(messages)
        return cls(
            settings=settings,
            registry=registry,
            workflows=workflows,
            events=EventService(settings, hub),
            hub=hub,
            messages=messages,
            streams=streams,
            sessions=SessionService(settings, workflows, messages, streams, hub.stream_written),
            schedules=ScheduleService(settings, registry),
            links=links,
            approvals=CallbackService(links, messages),
            webhooks=WebhookService(WebhookVerifier(settings), messages, settings.max_json_depth),
            inbox=inbox,
            inbox_feed=InboxFeed(inbox, settings.inbox_poll_seconds),
        )
