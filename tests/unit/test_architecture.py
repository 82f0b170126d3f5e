"""The rules of the house that import-linter cannot express (its contracts are in pyproject.toml).

- Only ``communication/adapter`` imports DBOS internals (DBOS's underscore modules and names).
- No module reassigns a DBOS method or attribute at runtime; the adapter's one documented flag write is listed.
- The client imports neither FastAPI nor DBOS (a client-only install must work).
- A bare server registers no benchmark or chaos workflow type.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dbos import DBOS

from tests.support.server_proc import ServerProcess

# HTTP-level behaviour, the same on every backend: run once (on SQLite), see conftest.py.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = [
    ROOT / "server.py",
    *sorted((ROOT / "communication").rglob("*.py")),
    *sorted((ROOT / "workflows").rglob("*.py")),
]
ADAPTER = ROOT / "communication" / "adapter"
#: Attribute writes on DBOS objects the adapter is allowed, each with its reason in the adapter's docstring.
ALLOWED_ADAPTER_WRITES = {"_retry_connection_errors"}
DBOS_OR_MAPPING_NAMES = {n for n in dir(DBOS) + dir(dict) if not n.startswith("__")}


def _is_private_dbos(module: str) -> bool:
    """``dbos`` followed by an underscore module (DBOS's internals), e.g. its system database module."""
    parts = module.split(".")
    return parts[0] == "dbos" and len(parts) > 1 and parts[1].startswith("_")


def _private_dbos_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names_private = node.module == "dbos" and any(a.name.startswith("_") for a in node.names)
            if _is_private_dbos(node.module) or names_private:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            rel = path.relative_to(ROOT)
            found += [f"{rel}:{node.lineno} import {a.name}" for a in node.names if _is_private_dbos(a.name)]
    return found


def test_only_the_adapter_imports_dbos_internals() -> None:
    offenders = [hit for p in PRODUCTION if ADAPTER not in p.parents for hit in _private_dbos_imports(p)]
    assert offenders == [], "DBOS internals imported outside communication/adapter:\n" + "\n".join(offenders)


def _attribute_writes(path: Path) -> list[tuple[int, str, str]]:
    """``(line, object, attribute)`` of every ``obj.attr = ...`` and ``setattr(obj, ...)``."""
    writes = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                writes.append((target.lineno, target.value.id, target.attr))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
            first = node.args[0]
            writes.append((node.lineno, ast.unparse(first), "<setattr>"))
    return writes


def test_no_module_reassigns_dbos_methods_or_attributes() -> None:
    offenders = []
    for path in PRODUCTION:
        source = path.read_text()
        for line, obj, attr in _attribute_writes(path):
            if obj in {"self", "cls"} or obj.startswith("_"):
                continue
            # The adapter holds DBOS's objects: a write there to a private attribute, or one that replaces a method
            # (a name DBOS or a mapping has, e.g. ``streams_map.get``), must be on the list; its own dataclasses' fields
            # are fine.
            in_adapter = ADAPTER in path.parents
            replaces = attr.startswith("_") or attr in DBOS_OR_MAPPING_NAMES
            touches_dbos = (in_adapter and replaces) or obj in {"DBOS", "dbos"} or "dbos" in obj.lower()
            if touches_dbos and not (in_adapter and attr in ALLOWED_ADAPTER_WRITES):
                offenders.append(f"{path.relative_to(ROOT)}:{line} {obj}.{attr} = ...")
        assert "_signal_notification" not in source or ADAPTER in path.parents, path
    assert offenders == [], "runtime writes to DBOS objects:\n" + "\n".join(offenders)


def test_client_import_pulls_neither_fastapi_nor_dbos() -> None:
    code = (
        "import sys\n"
        "from communication import AsyncClient, Client\n"
        "from communication.client import LiveIterator\n"
        "import communication.cli\n"
        "server = {'fastapi', 'starlette', 'dbos', 'sqlalchemy', 'uvicorn'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in server)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"client/CLI import pulled server packages: {out.stdout.strip()}"


def test_bare_server_lists_no_bench_or_chaos_type(database_url: str, tmp_path: Path) -> None:
    # A real `python server.py` (in this test process other tests may have registered test-only types).
    with ServerProcess(database_url, log_dir=tmp_path) as server:
        r = httpx.get(f"{server.url}/v1/workflow-types", timeout=30)
    assert r.status_code == 200, r.text
    names = {t["type"] for t in r.json()}
    assert {"events", "messaging", "streaming", "monty_python"} <= names
    assert not {n for n in names if n.startswith(("bench", "test_")) or n == "chaos"}, names
