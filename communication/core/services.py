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
    inbox: InboxService
    inbox_feed: InboxFeed

    @classmethod
    def build(cls, settings: Settings, registry: WorkflowRegistry, hub: Hub) -> Core:
        """Wire the services for ``settings`` around the process's fan-out ``hub``."""
        workflows = WorkflowControl(settings, registry)
        messages = MessageService()
        streams = StreamService()
        inbox = InboxService(messages)
        return cls(
            settings=settings,
            registry=registry,
            workflows=workflows,
            events=EventService(settings, hub),
            hub=hub,
            messages=messages,
            streams=streams,
            sessions=SessionService(settings, workflows, messages, streams),
            schedules=ScheduleService(settings, registry),
            inbox=inbox,
            inbox_feed=InboxFeed(inbox, settings.inbox_poll_seconds),
        )
