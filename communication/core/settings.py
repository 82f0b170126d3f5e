"""The one settings object of the server (pydantic-settings).

Nothing reads ``os.environ`` at import time: ``Settings()`` is built by ``server.main()`` (or by a test) and
passed into ``create_app(settings)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from communication.core.ops.private_files import make_private_dir

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Server configuration. Every field can be set from the environment with the ``COMM_`` prefix.

    The database URL is also read from ``DBOS_SYSTEM_DATABASE_URL``, the name DBOS itself documents.
    Order: arguments (``python server.py --port``) > environment > ``.env`` file > defaults.
    """

    # Sources, highest first: init arguments (command-line flags), the environment, ``.env`` in the working
    # directory (``--env-file`` names another), then the defaults below.
    model_config = SettingsConfigDict(
        env_prefix="COMM_", extra="ignore", populate_by_name=True, env_file=".env", env_file_encoding="utf-8"
    )

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
    # Why on by default: in SQLite's rollback-journal mode every commit rewrites pages through a journal with
    # several fsyncs, and a reader holds off a writer's commit; in WAL mode a commit appends to the log (one fsync
    # at the default synchronous=FULL, so no durability is traded) and readers never block the writer. Measured
    # here: a session append takes about half as long.
    sqlite_wal: bool = Field(
        True,
        description="SQLite: put the system database in write-ahead-log mode at start (a property of the file, kept "
        "by every process that opens it). false: leave the file's journal mode as it is.",
    )
    # Why 0.001 s: on Postgres, DBOS coalesces stream/event NOTIFYs off the write path; the
    # interval is pure added latency and its minimum still caps notifying commits at 1000/s.
    notification_coalesce_sec: float = Field(
        0.001, ge=0.001, le=1.0, description="Postgres LISTEN/NOTIFY coalescing interval (seconds)."
    )
    sys_db_pool_size: int = Field(20, ge=2, le=200, description="System database pool size.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body, in bytes (413 beyond).")
    page_max_bytes: int = Field(
        4 * 1_048_576,
        ge=1024,
        description="Byte budget of one page of a list or snapshot; the page stops before the item that would cross "
        "it (at least one item) and says truncated with where to continue.",
    )
    max_json_depth: int = Field(32, ge=2, le=256, description="Deepest accepted JSON nesting.")
    # Slow clients: without these a client sending a byte now and then holds a connection (and a file descriptor)
    # forever, and a few thousand of them starve /health of descriptors.
    header_read_timeout_seconds: float = Field(
        10.0,
        ge=0.5,
        le=3600.0,
        description="A connection that has not sent a complete request head this long after connecting (or after its "
        "previous response) gets 408 request_timeout and is closed.",
    )
    body_read_timeout_seconds: float = Field(
        30.0,
        ge=0.5,
        le=3600.0,
        description="A request body not received in full this long after its head: 408 request_timeout, connection "
        "closed.",
    )
    keep_alive_timeout_seconds: int = Field(
        5, ge=1, le=3600, description="Idle keep-alive connections are closed after this many seconds."
    )
    max_connections: int = Field(
        8192,
        ge=16,
        le=1_000_000,
        description="Open connections (and running requests, live tails included) per server process; beyond: 503. "
        "The open-file limit is raised to its hard maximum at start to hold them.",
    )
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
    executor_id: str | None = Field(
        None,
        description="DBOS executor id of this process (default 'local'). One live process per id and database: a "
        "second one refuses to start.",
    )
    workflows: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["workflows"],
        description="Python modules imported at start-up, comma-separated; each registers workflow types "
        "(default: the built-in examples in the 'workflows' package). HTTP nodes and workers must load the same list.",
    )

    # --- live delivery ---
    sse_heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="Interval of SSE heartbeat comments (keeps proxies from closing idle tails)."
    )
    sse_send_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="A live client that accepts no data for this long is disconnected."
    )
    hub_buffer_size: int = Field(
        4096,
        ge=16,
        le=1_000_000,
        description="Values each fan-out feed keeps; a live subscriber further behind is dropped.",
    )
    # Why 2 ms: on SQLite one query per interval finds the writes for *every* tailed stream and watched workflow
    # (its cost does not grow with subscribers), and only after PRAGMA data_version (microseconds) says something
    # was committed; the interval is the added latency of every live value on SQLite.
    hub_poll_seconds: float = Field(
        0.002,
        ge=0.001,
        le=5.0,
        description="SQLite: how often the hub looks for new writes (a PRAGMA data_version check; the change query "
        "only after a commit).",
    )
    inbox_poll_seconds: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description="How often the process's one inbox read refreshes GET /v1/inbox/live (shared by all subscribers).",
    )
    hub_recheck_seconds: float = Field(
        1.0, gt=0, le=60, description="Postgres: safety re-read of each live feed in case a NOTIFY was missed."
    )
    hub_buffer_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Bytes (JSON length of the values) each fan-out feed keeps; a live subscriber further behind is "
        "dropped with 'overflow'.",
    )
    hub_linger_seconds: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        description="How long a fan-out feed without subscribers (and its buffer) is kept "
        "for reconnecting clients before it is dropped.",
    )
    max_subscriptions_per_workflow: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="Open live subscriptions (SSE, WebSocket, blocking GETs) per workflow; "
        "beyond: 429 too_many_subscriptions.",
    )
    max_subscriptions_per_process: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Open live subscriptions per server process; beyond: 503 subscription_capacity.",
    )
    max_subscriptions_per_connection: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Subscriptions one WebSocket may hold; beyond: an error frame too_many_subscriptions.",
    )
    thread_pool_size: int = Field(
        64,
        ge=4,
        le=4096,
        description="Threads of DBOS's executor, which also serves asyncio.to_thread (database reads) and sync "
        "workflows and steps: bounds the process's thread count. Each running sync workflow holds one.",
    )
    session_idle_timeout_seconds: float = Field(
        300.0, gt=0, le=7 * 24 * 3600, description="A session without posts for this long closes with 'timeout'."
    )

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
        make_private_dir(self.data_dir)  # 0700: it holds the database and the server secret
        return f"sqlite:///{(self.data_dir / f'{self.app_name}.sqlite').resolve()}"

    def is_sqlite(self) -> bool:
        """Whether the resolved database is SQLite."""
        return self.resolved_database_url().startswith("sqlite")

    def clamp_wait(self, requested: float | None) -> float:
        """Bound a caller-supplied wait to ``[0, max_wait_seconds]``; ``None`` means the default."""
        if requested is None:
            requested = self.default_wait_seconds
        return max(0.0, min(float(requested), self.max_wait_seconds))

    # --- security ---
    # Lists read from the environment are comma-separated (COMM_API_KEYS=k1,k2) or a JSON array.
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="Keys accepted as 'Authorization: Bearer <key>'. Empty: the server is open (a warning is logged).",
    )
    server_secret: str | None = Field(
        None,
        repr=False,
        min_length=16,
        description="HMAC secret for callback links and read tokens. Unset: generated on first use and kept in "
        "<data_dir>/server_secret so links survive restarts. Set it when several processes share one database.",
    )
    read_token_ttl_seconds: float = Field(900.0, ge=1.0, le=86400.0, description="Default lifetime of read tokens.")
    callback_link_ttl_seconds: float = Field(
        86400.0, ge=1.0, le=30 * 86400.0, description="Default lifetime of callback links."
    )
    public_base_url: str | None = Field(
        None,
        description="Absolute URL clients reach the server at (https://flows.example.com); prefixes callback links "
        "(minted in workflows or over the API) and is the server's own origin. Unset: links minted over the API use "
        "the request's host only when it is in COMM_ALLOWED_HOSTS; otherwise links are paths.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins allowed to use the API from a browser (CORS, state-changing requests, "
        "WebSockets; '*' for any). Empty: same-origin only, no CORS headers.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to (host or host:port; '*' any). Set: other Host headers get "
        "400 host_not_allowed, and callback links minted over the API use the request's host. Empty: any Host "
        "(on a loopback bind only localhost, 127.0.0.1 and [::1]: DNS rebinding), and such links use "
        "COMM_PUBLIC_BASE_URL or are paths.",
    )
    webhook_tolerance_seconds: float = Field(
        300.0, ge=1.0, le=86400.0, description="Largest accepted age (or skew) of a signed webhook's timestamp."
    )
    webhook_secrets_standard: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False, description="Standard Webhooks secrets (whsec_<base64>); several rotate."
    )
    webhook_secrets_stripe: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False, description="Stripe endpoint signing secrets (whsec_...); several rotate."
    )
    webhook_secrets_github: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False, description="GitHub webhook secrets; several rotate."
    )
    inbox_webhook_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Outbound webhook told when a request for human input opens (request.opened) and when its "
        "deadline passes (request.expired); sent by the asking workflow's process. Unset: no notifications.",
    )
    inbox_webhook_secret: str | None = Field(
        None,
        repr=False,
        pattern=r"^whsec_",
        description="Standard Webhooks secret (whsec_<base64>) that signs the inbox webhook; unset: unsigned.",
    )

    @field_validator(
        "api_keys",
        "cors_origins",
        "allowed_hosts",
        "workflows",
        "webhook_secrets_standard",
        "webhook_secrets_stripe",
        "webhook_secrets_github",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    # --- deployment ---
    # Checked as a whole at start by communication.core.ops.config_check (file paths, TLS parameters, combinations).
    work_queue: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="DBOS queue for workflow starts. Set: HTTP nodes enqueue starts onto it and worker processes "
        "(python -m communication.node.worker) execute them. Unset: starts run in the HTTP process.",
    )
    execute_queue_in_http: bool = Field(
        False,
        description="With work_queue set, let this HTTP process execute the queue too (a single node with limits).",
    )
    worker_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Most work-queue workflows one process runs at once. Unset: no limit."
    )
    global_concurrency: int | None = Field(
        None, ge=1, le=100_000, description="Most work-queue workflows running across all processes. Unset: no limit."
    )
    queue_polling_interval_sec: float = Field(
        1.0, ge=0.01, le=60.0, description="How often a process looks for work on the work queue (seconds)."
    )
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="On SIGINT/SIGTERM: how long open requests and in-flight workflows may continue before the "
        "process exits. Unfinished workflows are recovered when a process with the same executor id starts.",
    )
    interrupt_grace_seconds: float = Field(
        1.0,
        ge=0.0,
        le=3600.0,
        description="On SIGINT (Ctrl-C): the shutdown grace instead of shutdown_grace_seconds, so a terminal gets "
        "its prompt back at once even while workflows wait (they are durable and resume on the next start).",
    )
    app_version: str | None = Field(
        None,
        max_length=128,
        description="DBOS application version. Every process sharing a database must agree; unset: DBOS hashes "
        "the workflow code (identical code gives identical versions).",
    )
    version_check_seconds: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="ENQUEUED work on the work queue older than this is reported in /readyz (details.version_mismatch) "
        "as possibly stranded: no live worker may run its application version.",
    )
    version_check_cache_seconds: float = Field(
        5.0, ge=0, le=3600, description="How long /readyz reuses its application-version check."
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Worker mode: serve /healthz, /readyz and /metrics on this port (host: COMM_HOST). Unset: no HTTP.",
    )
    pipeline_artifact_dir: Path | None = Field(
        None, description="Where the pipeline workflow writes its published JSON artifacts. Unset: event only."
    )
    schedule_min_period_seconds: int = Field(
        60,
        ge=1,
        le=86_400,
        description="Shortest time between two fires a schedule may have (a denser cron is refused, 422).",
    )
    schedule_max: int = Field(
        100, ge=1, le=100_000, description="Most schedules the application may have (creating one more: 409)."
    )
    schedule_backfill_max: int = Field(
        1000, ge=1, le=100_000, description="Most runs one schedule backfill request may enqueue."
    )

    # --- gateway: starting another application's workflows by name ---
    gateway_workflows: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Workflows of other DBOS applications this server may start by name, as 'queue:name' entries "
        "(comma-separated or a JSON list). Empty: no start by name. Never this server's own queues or functions.",
    )
    gateway_start_timeout_sec: float = Field(
        3600.0,
        ge=1.0,
        le=30 * 86400,
        description="DBOS workflow timeout of every start by name: once dequeued, a gateway start that has not "
        "finished within this many seconds is cancelled by DBOS, so it cannot hold a queue slot for ever.",
    )

    @field_validator("gateway_workflows", mode="before")
    @classmethod
    def _split_gateway_workflows(cls, value: Any) -> Any:
        entries = cls._split_list(value)
        if isinstance(entries, list):
            for entry in entries:
                queue, _, name = str(entry).partition(":")
                if not queue or not name:
                    raise ValueError(f"gateway_workflows entry {entry!r} is not 'queue:name'")
        return entries

    def gateway_allows(self, queue: str, name: str) -> bool:
        """Whether ``gateway_workflows`` lets this server start ``name`` by name on ``queue``."""
        return f"{queue}:{name}" in self.gateway_workflows
