"""The dashboard's copy of the JS package (``ui_static/vendor/dbos-comm``) is generated, whole and packaged.

A byte-for-byte check needs node (``python .ci/gen_dashboard_client.py --check``, run in .ci/run's JS step); this
one runs without node: every module of js/src has its generated copy, each marked as generated, and the copy is
in the package data the wheel ships.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "communication" / "http" / "ui_static" / "vendor" / "dbos-comm"
HEADER = "// generated from js/ by .ci/gen_dashboard_client.py: do not edit\n"


def test_every_module_of_the_package_has_its_generated_copy() -> None:
    modules = {p.stem for p in (ROOT / "js" / "src").glob("*.ts") if not p.name.endswith(".d.ts")}
    copies = {p.stem for p in VENDOR.glob("*.js")}
    assert copies == modules, "stale copy: run python .ci/gen_dashboard_client.py"
    for path in VENDOR.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith(HEADER), path.name
        assert "sourceMappingURL" not in text, path.name


def test_the_copy_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["communication.http"]
    assert "ui_static/vendor/dbos-comm/*.js" in patterns
