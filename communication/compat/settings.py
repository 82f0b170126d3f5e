"""The compatibility room's settings: whether the server serves the seed's paths, and the Monty demo's defaults.

Read from the same places as :class:`communication.core.settings.Settings` (the environment with the ``COMM_``
prefix, then ``.env``), by their own object so the core knows nothing of the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from communication.core.ops.config_check import ConfigError, Problem


class CompatSettings(BaseSettings):
    """Settings of the seed's compatibility room (``COMM_COMPAT``, ``COMM_MONTY_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="COMM_", extra="ignore", populate_by_name=True, env_file=".env", env_file_encoding="utf-8"
    )

    enabled: bool = Field(
        True,
        validation_alias=AliasChoices("COMM_COMPAT", "enabled"),
        description="Serve the seed's paths (/start-workflow-*, /workflow-events/*, /send-message/*, "
        "/workflow-stream/*, /monty/*, /workflow/{id}/*, /ws/{user_id}, /events/{sid}, /stream/{sid}) beside /v1.",
    )
    monty_min_sleep_seconds: float = Field(
        5.0, ge=0.01, le=86_400.0, description="Seed Monty demo: shortest sleep when the request names none."
    )
    monty_max_sleep_seconds: float = Field(
        30.0, ge=0.01, le=86_400.0, description="Seed Monty demo: longest sleep when the request names none."
    )


def load_compat_settings(env_file: Path | None = None, **overrides: Any) -> CompatSettings:
    """Read :class:`CompatSettings` (``overrides`` > environment > ``env_file``, default ``.env``).

    Raises:
        ConfigError: one problem per invalid field, named by its environment variable (values are not echoed).
    """
    try:
        if env_file is not None:
            return CompatSettings(_env_file=env_file, **overrides)
        return CompatSettings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            field = str((err.get("loc") or ("?",))[0])
            name = "COMM_COMPAT" if field in ("enabled", "COMM_COMPAT") else f"COMM_{field.upper()}"
            problems.append(Problem(name, str(err.get("msg", "invalid value"))))
        raise ConfigError(problems) from None
