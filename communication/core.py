"""The communication core: one object bundling the services the HTTP layer (and tests) call."""

from __future__ import annotations

from dataclasses import dataclass

from communication.control import WorkflowControl
from communication.events import EventService
from communication.messages import MessageService
from communication.settings import Settings
from communication.streams import StreamService
from workflows.registry import WorkflowRegistry


@dataclass(frozen=True)
class Core:
    """Services over one running DBOS instance."""

    settings: Settings
    registry: WorkflowRegistry
    workflows: WorkflowControl
    events: EventService
    messages: MessageService
    streams: StreamService

    @classmethod
    def build(cls, settings: Settings, registry: WorkflowRegistry) -> Core:
        """Wire the services for ``settings``."""
        return cls(
            settings=settings,
            registry=registry,
            workflows=WorkflowControl(settings, registry),
            events=EventService(settings),
            messages=MessageService(),
            streams=StreamService(),
        )
