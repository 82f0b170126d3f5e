"""Write README.md's configuration table from communication/core/settings.py; ``--check`` fails when it is stale."""

from __future__ import annotations

import sys
from pathlib import Path

from communication.app.settings_table import render_into

README = Path(__file__).resolve().parent.parent / "README.md"


def main(argv: list[str]) -> int:
    """Regenerate (or with ``--check`` verify) the table; exit 1 when the check finds README stale."""
    current = README.read_text(encoding="utf-8")
    fresh = render_into(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md's settings table is stale: run python .ci/gen_settings_table.py", file=sys.stderr)
            return 1
        print("README settings table is up to date")
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
