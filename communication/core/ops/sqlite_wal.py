"""SQLite's write-ahead log for the system database, switched on before DBOS opens the file.

WAL is a property of the database file: once set, every process that opens the file (HTTP nodes, workers, the
``dbos`` CLI) uses it. A commit appends to the ``-wal`` file instead of rewriting pages through a rollback journal,
and readers never hold off a writer. ``synchronous`` keeps SQLite's default (FULL): each commit is still on disk
when it returns.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from communication.core.ops.private_files import sqlite_path

log = logging.getLogger("communication.core.ops.sqlite_wal")


def use_wal(url: str) -> bool:
    """Put the SQLite database of ``url`` in WAL mode; whether it is now in WAL mode.

    Other URLs (Postgres, in-memory) are left alone and answer ``False``. A file another process holds locked
    keeps its mode (SQLite answers with the mode it kept); that is logged, not raised: the server runs either way.
    """
    path = sqlite_path(url)
    if path is None:
        return False
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
    mode = str(row[0]).lower() if row else "unknown"
    if mode != "wal":
        log.warning("SQLite database %s stays in journal mode %r (WAL could not be set)", path, mode)
        return False
    return True
