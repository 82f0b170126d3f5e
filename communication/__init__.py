"""The HTTP data plane for DBOS workflows: events, messages and streams over HTTP, durably, exactly once, resumably.

The public face (the rooms behind these names are described in ARCHITECTURE.md). Names are imported lazily
(PEP 562 module ``__getattr__``), so ``from communication.client import Client`` (or ``from communication import
Client``) never imports FastAPI or DBOS — a client-only user pays for httpx alone:

* ``workflow_type``, ``registry``, ``reply``, ``tracked_step``, ``publish_callback_link``, ``ask`` and its
  ``Timeout`` — for workflow code (:mod:`communication.kit`);
* ``create_app``, ``mount`` — serve the API standalone or inside your own FastAPI app (:mod:`communication.app`);
* ``Settings`` — the one settings object;
* ``Client``, ``AsyncClient`` — the Python client (:mod:`communication.client`);
* ``CommError`` (the server's error tree, :mod:`communication.protocol.errors`) and ``ClientError`` (the client's).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "workflow_type": "communication.kit",
    "registry": "communication.kit",
    "reply": "communication.kit",
    "tracked_step": "communication.kit",
    "publish_callback_link": "communication.kit",
    "ask": "communication.kit",
    "Timeout": "communication.kit",
    "WorkflowType": "communication.kit",
    "WorkflowRegistry": "communication.kit",
    "create_app": "communication.app.factory",
    "mount": "communication.app.mount",
    "Settings": "communication.core.settings",
    "Client": "communication.client",
    "AsyncClient": "communication.client",
    "ClientError": "communication.client",
    "CommError": "communication.protocol.errors",
}

__all__ = [
    "AsyncClient",
    "Client",
    "ClientError",
    "CommError",
    "Settings",
    "Timeout",
    "WorkflowRegistry",
    "WorkflowType",
    "ask",
    "create_app",
    "mount",
    "publish_callback_link",
    "registry",
    "reply",
    "tracked_step",
    "workflow_type",
]

if TYPE_CHECKING:  # names for type checkers and IDEs; at run time __getattr__ imports them on first use
    from communication.app.factory import create_app as create_app
    from communication.app.mount import mount as mount
    from communication.client import AsyncClient as AsyncClient
    from communication.client import Client as Client
    from communication.client import ClientError as ClientError
    from communication.core.settings import Settings as Settings
    from communication.kit import Timeout as Timeout
    from communication.kit import WorkflowRegistry as WorkflowRegistry
    from communication.kit import WorkflowType as WorkflowType
    from communication.kit import ask as ask
    from communication.kit import publish_callback_link as publish_callback_link
    from communication.kit import registry as registry
    from communication.kit import reply as reply
    from communication.kit import tracked_step as tracked_step
    from communication.kit import workflow_type as workflow_type
    from communication.protocol.errors import CommError as CommError


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'communication' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
