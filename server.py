"""The durable workflow communication server's entry: ``python server.py [--worker] [--help]``.

Run ``python server.py`` (embedded SQLite under ./data) or set ``DBOS_SYSTEM_DATABASE_URL=postgresql://...``.
The command line is :mod:`communication.node.entry` (shared with ``wfc serve``); the application itself is
:func:`communication.create_app`.
"""

from __future__ import annotations

import sys

from communication.app.factory import create_app
from communication.node.entry import main

__all__ = ["create_app", "main"]


if __name__ == "__main__":
    sys.exit(main())
