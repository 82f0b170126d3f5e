"""The one settings object of the server (pydantic-settings).

Nothing reads ``os.environ`` at import time: ``Settings()`` is built by ``server.main()`` (or by a test) and
passed into ``create_app(settings)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Server configuration. Every field can be set from the environment with the ``COMM_`` prefix.

    The database URL is also read from ``DBOS_SYSTEM_DATABASE_URL``, the name DBOS itself documents.
    """

    model_config = SettingsConfigDict(env_prefix="COMM_", extra="ignore", populate_by_name=True)

    app_name: str = Field("dbos-comm", description="DBOS application name.")
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (0 picks a free port).")
    log_level: LogLevel = Field("info", description="Log level for the server and DBOS.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DBOS_SYSTEM_DATABASE_URL", "COMM_DATABASE_URL"),
        description="DBOS system database URL (postgresql://... or sqlite:///...). "
        "Unset: an SQLite file under data_dir.",
    )
    data_dir: Path = Field(Path("data"), description="Where the default SQLite database lives.")
    # Why 0.01 s: DBOS's SQLite backend has no push notifications and polls at this interval
    # (its default 1.0 s makes every blocking wait feel broken). One indexed read per waiter
    # every 10 ms keeps hops well under 50 ms and costs little on an embedded database.
    sqlite_polling_interval_sec: float = Field(
        0.01, ge=0.001, le=5.0, description="SQLite notification polling interval (seconds)."
    )
    # Why 0.001 s: on Postgres, DBOS coalesces stream/event NOTIFYs off the write path; the
    # interval is pure added latency and its minimum still caps notifying commits at 1000/s.
    notification_coalesce_sec: float = Field(
        0.001, ge=0.001, le=1.0, description="Postgres LISTEN/NOTIFY coalescing interval (seconds)."
    )
    sys_db_pool_size: int = Field(20, ge=2, le=200, description="System database pool size.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body, in bytes (413 beyond).")
    max_json_depth: int = Field(32, ge=2, le=256, description="Deepest accepted JSON nesting.")
    default_wait_seconds: float = Field(
        30.0, ge=0.0, description="Wait used by blocking reads when the caller gives no timeout."
    )
    max_wait_seconds: float = Field(
        120.0, ge=1.0, le=3600.0, description="Upper clamp for every caller-supplied timeout."
    )
    demo_step_delay_seconds: float = Field(
        0.5,
        ge=0.0,
        le=60.0,
        description="Pause between steps of workflows started through the seed endpoints, so progress is observable.",
    )
    executor_id: str | None = Field(None, description="DBOS executor id of this process.")

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
            raise ValueError("must start with postgresql:// or sqlite:/// (got a URL with another scheme)")
        return value

    def resolved_database_url(self) -> str:
        """The system database URL, defaulting to an SQLite file under ``data_dir`` (created here)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{self.app_name}.sqlite').resolve()}"

    def is_sqlite(self) -> bool:
        """Whether the resolved database is SQLite."""
        return self.resolved_database_url().startswith("sqlite")

    def clamp_wait(self, requested: float | None) -> float:
        """Bound a caller-supplied wait to ``[0, max_wait_seconds]``; ``None`` means the default."""
        if requested is None:
            requested = self.default_wait_seconds
        return max(0.0, min(float(requested), self.max_wait_seconds))
