"""Owner-only files for what holds secrets: the SQLite database (callback links, messages) and its directory.

SQLite creates its database (and later its ``-wal`` / ``-shm`` files, which copy the database file's mode) with
the process umask, typically 0644: readable by every local user. Creating the file first, empty (an empty file is
a valid SQLite database), with mode 0600 and its directory with 0700 fixes that at creation. Existing files are
left as they are: an operator may have chosen their modes deliberately.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) owner-only; an existing directory is left as it is."""
    if path.is_dir():
        return
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; the directory is ours, just created


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL (``sqlite:///rel/path`` or ``sqlite:////abs/path``); ``None`` for other
    URLs and in-memory databases."""
    if not url.startswith("sqlite:///"):
        return None
    path = unquote(url.removeprefix("sqlite:///").split("?", 1)[0])
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def create_private_sqlite(url: str) -> None:
    """Before DBOS opens it: create the SQLite database file 0600 (and its directory 0700) if it does not exist."""
    path = sqlite_path(url)
    if path is None:
        return
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
