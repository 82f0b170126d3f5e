"""ARCHITECTURE.md is a true map: every file, folder and ``file::name`` it names exists, and every room of the
library is on it. A room moved or renamed without the map fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "ARCHITECTURE.md"
LIBRARY = ROOT / "communication"

#: Backticked tokens that look like paths: ``room/file.py``, ``folder/``, ``file.py::name``.
_TOKEN = re.compile(r"`([A-Za-z0-9_./-]+(?:\.py|/)(?:::[A-Za-z_][A-Za-z0-9_.]*)?)`")


def _resolve(token: str) -> Path | None:
    path = token.split("::", 1)[0].rstrip("/")
    for base in (ROOT, LIBRARY, LIBRARY / "core", LIBRARY / "http"):
        if (base / path).exists():
            return base / path
    if "/" not in path:
        found = sorted(LIBRARY.rglob(path))
        return found[0] if found else None
    return None


def _named_paths() -> list[str]:
    return sorted(set(_TOKEN.findall(MAP.read_text(encoding="utf-8"))))


def test_every_path_the_map_names_exists() -> None:
    tokens = _named_paths()
    assert len(tokens) > 30, "the map names the rooms' files"
    missing = [t for t in tokens if _resolve(t) is None]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist : {missing}"


def test_every_name_the_map_points_into_is_defined_there() -> None:
    wrong: list[str] = []
    for token in _named_paths():
        if "::" not in token:
            continue
        path = _resolve(token)
        name = token.split("::", 1)[1].split(".")[0]
        assert path is not None
        if not re.search(
            rf"^\s*(?:async def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*[:=]", path.read_text(), re.M
        ):
            wrong.append(token)
    assert not wrong, f"ARCHITECTURE.md points at names that are not defined there: {wrong}"


def test_every_room_and_sub_room_of_the_library_is_on_the_map() -> None:
    text = MAP.read_text(encoding="utf-8")
    rooms = [p for p in LIBRARY.rglob("*") if p.is_dir() and (p / "__init__.py").exists()]
    absent = [str(p.relative_to(ROOT)) for p in rooms if f"{p.name}/" not in text]
    assert not absent, f"rooms missing from ARCHITECTURE.md: {absent}"
