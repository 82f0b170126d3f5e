"""One live process per executor id and database, enforced before DBOS launches (and so before it recovers).

DBOS recovers, at launch, every pending workflow of its executor id. Two live processes with one executor id on one
database therefore both run the same workflows. The lock makes the second process refuse to start instead:

- **SQLite**: an exclusive ``fcntl.flock`` on ``<database file>.executor-<id>.lock`` next to the database file,
  which also records the holder (pid, host, start time). The kernel drops the lock when the process dies, however
  it dies, so a stale file never blocks a restart.
- **Postgres**: a session-level advisory lock (``pg_try_advisory_lock``) on a dedicated connection held for the
  process's life; the key is derived from the executor id. The connection's ``application_name`` names the holder,
  which the refusal reads back from ``pg_stat_activity``. A dead process's session ends and its lock with it.

:mod:`communication.node.entry` takes it before anything launches DBOS (server, worker, the ``--reload`` child) and
holds it for the process's life. It is re-entrant within a process: :func:`acquire` counts, :func:`release` frees
the lock with the last holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from communication.core.settings import Settings

#: Prefix of the advisory lock's key material, so our key space does not collide with other users of the database.
_KEY_NAMESPACE = "dbos-comm-executor:"
_APP_PREFIX = "wfc-exec"


class ExecutorIdInUse(Exception):
    """Another live process holds this executor id on this database (the message is the one line to print)."""


class DatabaseUnreachable(Exception):
    """The system database could not be reached to take the lock (the message is the one line to print)."""


def executor_id_of(settings: Settings) -> str:
    """The executor id DBOS will use for ``settings`` (DBOS's own default is ``local``)."""
    return settings.executor_id or os.environ.get("DBOS__VMID") or "local"


def advisory_key(executor_id: str) -> int:
    """The signed 64-bit advisory-lock key of ``executor_id``."""
    digest = hashlib.blake2b((_KEY_NAMESPACE + executor_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _holder_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}"


def _advice(executor_id: str, holder: str) -> str:
    return (
        f"executor id {executor_id!r} is in use on this database by {holder}; stop that process, or give this one "
        f"another id (COMM_EXECUTOR_ID=<name>, e.g. COMM_EXECUTOR_ID={executor_id}-2)"
    )


@dataclass
class _Held:
    count: int
    release: Any  # () -> None
    resources: list[Any] = field(default_factory=list)


_lock = threading.Lock()
_held: dict[tuple[str, str], _Held] = {}


def _sqlite_path(url: str) -> Path:
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path)


def _acquire_sqlite(url: str, executor_id: str) -> _Held:
    db = _sqlite_path(url)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in executor_id)
    lock_path = db.with_name(f"{db.name}.executor-{safe}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = lock_path.open("a+")
    except OSError as exc:
        raise DatabaseUnreachable(f"cannot use the SQLite database directory {str(db.parent)!r}: {exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ExecutorIdInUse(_advice(executor_id, holder)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(_holder_text() + "\n")
    handle.flush()

    def release() -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    return _Held(1, release, [handle])


def _pg_conninfo(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def _acquire_postgres(url: str, executor_id: str, connect_timeout: float) -> _Held:
    import psycopg

    app_name = f"{_APP_PREFIX} {executor_id} pid {os.getpid()}@{socket.gethostname()}"[:63]
    try:
        conn = psycopg.connect(
            _pg_conninfo(url),
            autocommit=True,
            connect_timeout=max(1, round(connect_timeout)),
            application_name=app_name,
        )
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnreachable(f"cannot reach the Postgres system database: {first}") from None
    key = advisory_key(executor_id)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (row and row[0]):
        found = conn.execute(
            "SELECT a.application_name, a.pid, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s LIMIT 1",
            (key,),
        ).fetchone()
        conn.close()
        if found is not None:
            holder = f"{found[0] or 'a session'} (backend pid {found[1]}, client {found[2] or 'local socket'})"
        else:
            holder = "another session"
        raise ExecutorIdInUse(_advice(executor_id, holder))

    def release() -> None:
        with contextlib.suppress(Exception):  # closing the session frees the lock; a dead connection already did
            conn.close()

    return _Held(1, release, [conn])


def acquire(settings: Settings, connect_timeout: float = 10.0) -> None:
    """Take the executor-id lock of ``settings``'s database for this process (re-entrant; pair with :func:`release`).

    Raises:
        ExecutorIdInUse: another live process holds it (message: who, and how to choose another id).
        DatabaseUnreachable: the database (or the SQLite file's directory) cannot be reached.
    """
    url = settings.resolved_database_url()
    executor_id = executor_id_of(settings)
    key = (url, executor_id)
    with _lock:
        held = _held.get(key)
        if held is not None:
            held.count += 1
            return
        if url.startswith("sqlite"):
            _held[key] = _acquire_sqlite(url, executor_id)
        else:
            _held[key] = _acquire_postgres(url, executor_id, connect_timeout)


def release(settings: Settings) -> None:
    """Drop one hold of the lock; the last one frees it (a no-op if not held)."""
    key = (settings.resolved_database_url(), executor_id_of(settings))
    with _lock:
        held = _held.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count <= 0:
            del _held[key]
            held.release()
