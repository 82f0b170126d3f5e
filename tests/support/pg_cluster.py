"""A throwaway Postgres cluster owned by one test: ``initdb`` + ``pg_ctl`` on a free port, in a temporary directory.

Why a cluster of its own: the chaos suite stops and restarts Postgres under a live server, which must never
happen to the machine's shared cluster (port 5432) that other tests and engineers use. This one lives in a
temporary directory (data, socket and log), listens on 127.0.0.1 on a free port, and is removed by
:meth:`PgCluster.destroy` (or the context manager) whatever happened.

Postgres refuses to run as root: when the test runs as root, every binary runs as the ``postgres`` OS user through
``runuser`` and the directory is handed to that user. :func:`unavailable_reason` says why a cluster cannot be made
here (no binaries, no ``postgres`` user), so tests can skip with that reason.

Usage::

    with PgCluster.create() as pg:
        url = pg.url                # postgresql://postgres@127.0.0.1:<port>/postgres
        pg.stop(mode="immediate")   # a crash; pg.start() recovers from the WAL
        pg.start()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.server_proc import free_port

PG_USER = "postgres"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl`` (or on PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be made on this machine, or ``None`` if it can."""
    if find_bindir() is None:
        return "Postgres server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH"
    if _as_root():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no {PG_USER!r} OS user to run Postgres as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (needed to run Postgres as the postgres user)"
    return None


class PgClusterError(RuntimeError):
    """A ``pg_ctl``/``initdb`` command failed; the message carries its output and the server log's tail."""


class PgCluster:
    """One throwaway cluster. Create with :meth:`create`; always :meth:`destroy` (or use ``with``)."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.data_dir = root / "data"
        self.log_path = root / "postgres.log"
        self.port = port
        self.url = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
        self.stops = 0

    @classmethod
    def create(cls, timeout: float = 60.0) -> PgCluster:
        """``initdb`` a new cluster in a fresh temporary directory and start it.

        Raises:
            PgClusterError: a binary is missing or a command failed (the directory is removed again).
        """
        reason = unavailable_reason()
        if reason is not None:
            raise PgClusterError(reason)
        bindir = find_bindir()
        assert bindir is not None
        # Not under pytest's tmp_path: its parents are private to root, and Postgres runs as another user.
        root = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        cluster = cls(bindir, root, free_port())
        try:
            if _as_root():
                pw = pwd.getpwnam(PG_USER)
                os.chown(root, pw.pw_uid, pw.pw_gid)
            os.chmod(root, 0o700)
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data_dir),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                timeout=timeout,
            )
            cluster.start(timeout=timeout)
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _command(self, binary: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / binary), *args]
        return ["runuser", "-u", PG_USER, "--", *cmd] if _as_root() else cmd

    def _run(self, binary: str, *args: str, timeout: float) -> None:
        try:
            done = subprocess.run(
                self._command(binary, *args),
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PgClusterError(f"{binary} failed: {exc}\n{self.log_tail()}") from exc
        if done.returncode != 0:
            output = f"{done.stdout}{done.stderr}\n{self.log_tail()}"
            raise PgClusterError(f"{binary} {' '.join(args)} exited with {done.returncode}:\n{output}")

    def start(self, timeout: float = 60.0) -> None:
        """Start the cluster and wait (``pg_ctl -w``) until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )

    def stop(self, *, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the cluster: ``fast`` (clients disconnected, clean shutdown) or ``immediate`` (a crash)."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout)), "stop", timeout=timeout + 10
        )
        self.stops += 1

    def running(self) -> bool:
        """Whether the postmaster is up (``pg_ctl status``)."""
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "status", timeout=10)
        except PgClusterError:
            return False
        return True

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the cluster's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (FileNotFoundError, PermissionError):
            return ""

    def destroy(self) -> None:
        """Stop the cluster at once if it runs and remove its directory."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(PgClusterError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()
