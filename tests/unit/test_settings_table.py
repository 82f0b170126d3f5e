"""README's configuration table is generated from the settings object: every setting once, never stale."""

from __future__ import annotations

from pathlib import Path

from communication.core.settings import Settings
from communication.core.settings_table import markdown, render_into

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert render_into(text) == text, "run python .ci/gen_settings_table.py"


def test_every_setting_appears_once() -> None:
    table = markdown()
    for name in Settings.model_fields:
        env = f"`COMM_{name.upper()}`"
        if name == "database_url":
            env = "`DBOS_SYSTEM_DATABASE_URL`"
        assert table.count(env) == 1, env
