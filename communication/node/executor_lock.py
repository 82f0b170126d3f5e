"""One live process per executor id and database, enforced before DBOS launches (and so before it recovers).

DBOS recovers, at launch, every pending workflow of its executor id. Two live processes with one executor id on one
database therefore both run the same workflows. The lock makes the second process refuse to start instead:

- **SQLite**: an exclusive ``fcntl.flock`` on ``<database file>.executor-<id>.lock`` next to the database file's
  *real* path (symlinks and relative paths resolved, so every name of one file shares one lock file), which also
  records the holder (pid, host, start time). The kernel drops the lock when the process dies, however it dies, so
  a stale file never blocks a restart.
- **Postgres**: a session-level advisory lock (``pg_try_advisory_lock``) on a dedicated connection held for the
  process's life; the key is derived from the executor id. The connection's ``application_name`` names the holder,
  which the refusal reads back from ``pg_stat_activity``. A dead process's session ends and its lock with it.

:mod:`communication.node.entry` takes it before anything launches DBOS (server, worker, the ``--reload`` child) and
holds it for the process's life. It is re-entrant within a process: :func:`acquire` counts, :func:`release` frees
the lock with the last holder.

A held lock can still be lost behind the process's back: the Postgres session ends (database restart,
``pg_terminate_backend``, a cut network) or the SQLite lock file is deleted or replaced. Another process with the
same executor id could then take the lock and recover -- run a second time -- the workflows this one is running.
:func:`watch` therefore checks the lock every :data:`CHECK_INTERVAL_SECONDS` on the lock's own connection (and
:func:`verify` checks it on demand, before recovery); on loss it prints one line and ends the process at once with
:data:`EXIT_LOCK_LOST`, before another step can run. Re-acquiring is not attempted: between the loss and the check
another process may already hold the lock and have recovered.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from communication.core.settings import Settings

#: Exit status of a process whose executor lock was lost (README, "The command line").
EXIT_LOCK_LOST = 5
#: How often :func:`watch` checks the held locks.
CHECK_INTERVAL_SECONDS = 1.0

#: Prefix of the advisory lock's key material, so our key space does not collide with other users of the database.
_KEY_NAMESPACE = "dbos-comm-executor:"
_APP_PREFIX = "wfc-exec"


class ExecutorIdInUse(Exception):
    """Another live process holds this executor id on this database (the message is the one line to print)."""


class LockLost(Exception):
    """A held lock is no longer held (the message says why, in one line)."""


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
    check: Any  # () -> None, raises LockLost
    resources: list[Any] = field(default_factory=list)


_lock = threading.Lock()
_held: dict[tuple[str, str], _Held] = {}


def _sqlite_path(url: str) -> Path:
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path)


def sqlite_lock_path(url: str, executor_id: str) -> Path:
    """The lock file of ``executor_id`` on the SQLite database of ``url``.

    Derived from the database file's real path, so a symlink, a relative path or ``..`` naming the same file
    lands on the same lock file (two names of one file must not admit two processes).
    """
    db = Path(os.path.realpath(_sqlite_path(url)))
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in executor_id)
    return db.with_name(f"{db.name}.executor-{safe}.lock")


def _acquire_sqlite(url: str, executor_id: str) -> _Held:
    db = _sqlite_path(url)
    lock_path = sqlite_lock_path(url, executor_id)
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

    def check() -> None:
        # The flock lives on our open file; if the path no longer names that file (deleted or replaced), the
        # next process opens a new file there and gets a lock of its own.
        try:
            current = os.stat(lock_path)
        except OSError:
            raise LockLost(f"its lock file {str(lock_path)!r} was removed") from None
        mine = os.fstat(handle.fileno())
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            raise LockLost(f"its lock file {str(lock_path)!r} was replaced")

    return _Held(1, release, check, [handle])


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
            # A cut network must fail the periodic check within seconds instead of hanging it.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            tcp_user_timeout=10_000,
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

    def check() -> None:
        try:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = %s",
                (key,),
            ).fetchone()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LockLost(f"its Postgres session ended ({first})") from None
        if not (row and row[0]):
            raise LockLost("its Postgres session no longer holds the advisory lock")

    return _Held(1, release, check, [conn])


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


def verify() -> None:
    """Check every lock this process holds, now (e.g. before recovering workflows).

    Raises:
        LockLost: one is no longer held (the message says which and why).
    """
    with _lock:
        held = list(_held.items())
    for key, entry in held:
        try:
            entry.check()
        except LockLost as exc:
            with _lock:
                if _held.get(key) is not entry:
                    continue  # released meanwhile (a graceful stop closed the connection): not a loss
            raise LockLost(f"executor lock lost: executor id {key[1]!r}: {exc}") from None


def verify_or_exit() -> None:
    """:func:`verify`, ending the process with :data:`EXIT_LOCK_LOST` (via :func:`lost`) when a lock is lost."""
    try:
        verify()
    except LockLost as exc:
        lost(str(exc))


def lost(message: str) -> None:
    """End the process at once with :data:`EXIT_LOCK_LOST`, after one line on stderr and in the log.

    ``os._exit`` rather than ``sys.exit``: no shutdown hook, no pending step or recovery may run once another
    process can hold the lock.
    """
    line = f"error: {message}; stopping at once so that no workflow runs twice (exit {EXIT_LOCK_LOST})"
    with contextlib.suppress(Exception):
        if logging.getLogger().handlers:  # the configured log goes to stderr already: one line, not two
            logging.getLogger("communication.node.executor_lock").critical(line)
            for handler in logging.getLogger().handlers:
                handler.flush()
        else:
            print(line, file=sys.stderr, flush=True)
    os._exit(EXIT_LOCK_LOST)


_watcher: threading.Thread | None = None


def _watch_loop(interval: float) -> None:
    while True:
        time.sleep(interval)
        verify_or_exit()


def watch(interval: float = CHECK_INTERVAL_SECONDS) -> None:
    """Start (once per process) the daemon thread that checks the held locks every ``interval`` seconds and ends
    the process with :data:`EXIT_LOCK_LOST` when one is lost. Only for processes the lock is *for* (the server and
    worker commands): it exits the whole process."""
    global _watcher
    with _lock:
        if _watcher is not None and _watcher.is_alive():
            return
        _watcher = threading.Thread(target=_watch_loop, args=(interval,), name="executor-lock-watch", daemon=True)
        _watcher.start()
