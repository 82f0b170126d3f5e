"""Vendor the built JavaScript package (js/dist, npm ``dbos-comm``) into the dashboard's static files.

The dashboard is plain ES modules served by the Python package, without a bundler and without network access at
run time, so it imports a copy of the package's compiled ESM files (they only import each other, relatively) from
``communication/http/ui_static/vendor/dbos-comm/``. This script builds the package (``npm run build`` in js/, which
needs node and js/node_modules: ``cd js && npm ci``) and writes that copy; ``--check`` fails when the copy is stale.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
DIST = JS / "dist"
TARGET = ROOT / "communication" / "http" / "ui_static" / "vendor" / "dbos-comm"
HEADER = "// generated from js/ by .ci/gen_dashboard_client.py: do not edit\n"


def build() -> None:
    """Compile js/src into js/dist with the package's own build."""
    subprocess.run(["npm", "run", "--silent", "build"], cwd=JS, check=True)


def rendered() -> dict[str, str]:
    """The vendored files by name: js/dist's top-level ESM files, each with the header and without its source map
    reference (the maps are not vendored)."""
    files: dict[str, str] = {}
    for path in sorted(DIST.glob("*.js")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("//# sourceMappingURL=")]
        files[path.name] = HEADER + "".join(kept)
    if "index.js" not in files:
        raise SystemExit(f"{DIST} has no index.js: the build produced nothing")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the vendored copy differs from a fresh build")
    parser.add_argument("--no-build", action="store_true", help="use js/dist as it is (already built)")
    args = parser.parse_args()
    if not args.no_build:
        build()
    wanted = rendered()
    present = {p.name: p.read_text(encoding="utf-8") for p in sorted(TARGET.glob("*.js"))} if TARGET.is_dir() else {}
    if args.check:
        if present != wanted:
            stale = sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))
            print(f"{TARGET.relative_to(ROOT)} is stale ({', '.join(stale)}): run python .ci/gen_dashboard_client.py")
            return 1
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in present.keys() - wanted.keys():
        (TARGET / name).unlink()
    for name, text in wanted.items():
        if present.get(name) != text:
            (TARGET / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
