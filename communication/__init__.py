"""The HTTP data plane for DBOS workflows: events, messages and streams over HTTP, durably, exactly once, resumably.

What users import (the rooms behind these names are described in ARCHITECTURE.md)::

    from communication import create_app, Settings          # serve: create_app(Settings()) is a FastAPI app
    from communication import registry                      # in workflow code: register startable types
    from communication import Client, AsyncClient           # talk to a server (HTTP only)
    from communication import CommError, ClientError        # the error trees (server side, client side)

Names are loaded lazily, so ``from communication.client import Client`` (or ``from communication import Client``)
never imports FastAPI or DBOS: a client-only user pays for httpx alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from communication.client import AsyncClient, Client, ClientError
    from communication.core.registry import WorkflowRegistry, WorkflowType, registry
    from communication.core.settings import Settings
    from communication.http.app import create_app
    from communication.protocol.errors import CommError

#: public name -> the module that defines it
_EXPORTS = {
    "AsyncClient": "communication.client",
    "Client": "communication.client",
    "ClientError": "communication.client",
    "CommError": "communication.protocol.errors",
    "Settings": "communication.core.settings",
    "WorkflowRegistry": "communication.core.registry",
    "WorkflowType": "communication.core.registry",
    "create_app": "communication.http.app",
    "registry": "communication.core.registry",
}

__all__ = [
    "AsyncClient",
    "Client",
    "ClientError",
    "CommError",
    "Settings",
    "WorkflowRegistry",
    "WorkflowType",
    "create_app",
    "registry",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'communication' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
