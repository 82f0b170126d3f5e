"""README's configuration table is generated from the settings object: every setting once, never stale."""

from __future__ import annotations

from pathlib import Path

from communication.app.settings_table import markdown, render_into
from communication.compat.settings import CompatSettings
from communication.core.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert render_into(text) == text, "run python .ci/gen_settings_table.py"


def test_every_setting_appears_once() -> None:
    table = markdown()
    names = [f"COMM_{name.upper()}" for name in Settings.model_fields if name != "database_url"]
    names += ["DBOS_SYSTEM_DATABASE_URL", "COMM_COMPAT"]
    names += [f"COMM_{name.upper()}" for name in CompatSettings.model_fields if name != "enabled"]
    for env in names:
        assert table.count(f"`{env}`") == 1, env
