"""Configuration from ``STUDIO_*`` environment variables; built once by a composition root and passed down."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
# The web app's build output; `make frontend` (and `make run`) writes it.
DEFAULT_FRONTEND_DIR = Path(__file__).resolve().parents[1] / "frontend" / "dist"


class Env(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class TrustedDocuments(StrEnum):
    """Who may send a GraphQL document's text rather than a trusted document (README: "Trusted documents").

    A trusted document is one of the manifests the server ships (the web app's, the Python client's), sent by id or
    as its exact text."""

    ALLOW = "allow"  # anyone sends any document; the keys' flag is kept but not enforced
    FLAGGED_KEYS = "flagged-keys"  # API keys created with trustedDocumentsOnly send trusted documents only
    REQUIRE = "require"  # every API key and session sends trusted documents only, but an ADMIN user's session


class InsecureSettings(ValueError):
    """Raised when production would start with generated, default or weak secrets."""


class Settings(BaseSettings):
    """Every knob of the studio. Defaults run a laptop studio on SQLite with in-process workers."""

    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    env: Env = Env.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///.studio/studio.db"
    redis_url: str | None = None
    storage_url: str = "file://.studio/storage"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = False  # endpoint/bucket/key addressing, as MinIO wants
    s3_create_bucket: bool = False  # `studio migrate` creates the bucket of an s3:// storage URL when it is missing
    max_artifact_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # GET /audit/export: the longest time range one export covers, and the most entries it holds (past either, the
    # request is refused with what to narrow; nothing is cut short).
    audit_export_max_days: int = Field(default=366, ge=1)
    audit_export_max_rows: int = Field(default=100_000, ge=1)
    state_dir: Path = Path(".studio")
    frontend_dir: Path = DEFAULT_FRONTEND_DIR  # served at / by `studio serve`

    jwt_secret: SecretStr | None = None
    secret_key: SecretStr | None = None
    jwt_issuer: str = "workflow-agent-studio"
    jwt_audience: str = "workflow-agent-studio"
    access_token_ttl_s: int = Field(default=8 * 3600, gt=0)
    # Sign-in limits: failed logins per account (email, known or not) and per client address before each further
    # attempt waits, from login_lockout_base_s doubling up to login_lockout_max_s; a success forgets the account's
    # failures.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=30, ge=1)
    login_lockout_base_s: float = Field(default=5.0, gt=0, le=3600)  # the first lock; then doubling
    login_lockout_max_s: int = Field(default=900, ge=1)
    # The longest lifetime createApiKey(expiresAt:) accepts (keys without an expiry are still allowed).
    api_key_max_ttl_days: int = Field(default=365, ge=1, le=3650)
    # How long the temporary password of an admin's reset works (only to set a new one).
    temporary_password_ttl_s: int = Field(default=24 * 3600, gt=0)

    # GraphQL hygiene: documents over these limits are rejected before any resolver runs.
    graphql_max_depth: int = Field(default=12, ge=2)
    graphql_max_aliases: int = Field(default=30, ge=1)
    graphql_max_tokens: int = Field(default=4000, ge=100)
    # What one operation may ask the database for: fields, each list multiplying what it holds by its page size
    # (studio_gql.hygiene.cost.CostRule). The web app's heaviest document costs about 6,400.
    graphql_max_cost: int = Field(default=50_000, ge=100)
    graphql_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    trusted_documents: TrustedDocuments = TrustedDocuments.FLAGGED_KEYS
    graphiql: bool | None = None  # None: on outside production
    # Introspection (__schema, __type) and "Did you mean …?" in errors; None: on outside production.
    graphql_introspection: bool | None = None
    max_subscriptions_per_connection: int = Field(default=50, ge=1)
    # Open websockets per user or API key, and per tenant, in each API process: beyond them a connection is closed
    # (4429) right after connection_init. A browser tab holds one; a tenant's users share the tenant's cap.
    max_ws_per_principal: int = Field(default=20, ge=1)
    max_ws_per_tenant: int = Field(default=500, ge=1)
    # A websocket re-checks its credentials this often: an expired token, a disabled user or a revoked key
    # closes it (4401) within this bound; a changed role applies to its next subscriptions.
    ws_reauth_interval_s: float = Field(default=5.0, gt=0, le=300)

    # Run engine.
    node_plugins: str = ""  # comma-separated modules that add node types (NODE_TYPES documents + SPECS handlers)
    worker_concurrency: int = Field(default=50, ge=1)  # runs one process drives at once
    max_parallel_steps_per_run: int = Field(default=16, ge=1)
    max_concurrent_runs_per_tenant: int = Field(default=100, ge=1)  # RUNNING at once; the rest wait QUEUED, in order
    # Starts of runs a tenant may make per second, every kind counted together (startRun, replayRun, retryRun,
    # webhooks, messages, schedules; 0: no limit): beyond it a start waits its turn, or is refused with a retry
    # delay, so one tenant's flood cannot take the API and the database's write path from the others. The default
    # sits above what one API process admits on 2 cores (170-300 starts/s: bench webhooks), so a burst
    # is never throttled below the engine's capacity; fairness in running them comes from
    # max_concurrent_runs_per_tenant (a tenant's runs beyond it wait QUEUED while other tenants' runs dispatch).
    run_starts_per_tenant_per_s: int = Field(default=200, ge=0)
    # Live runs (QUEUED, RUNNING or WAITING, child runs included) a tenant may have at once (a tenant row's
    # max_live_runs overrides it): a start beyond it is refused (retryable), a foreach/subworkflow/loop step that
    # would exceed it fails, so nested fan-outs cannot fill the database and the queue without bound.
    max_live_runs_per_tenant: int = Field(default=10_000, ge=1)
    # Test runs of the draft (testRun, testStep, testReplay) kept per workflow: starting one deletes the finished
    # test runs beyond the newest this many, with their steps, events and artifacts. Live runs are never pruned.
    test_runs_kept_per_workflow: int = Field(default=50, ge=1)
    run_lease_s: float = Field(default=10.0, gt=0.5)  # a dead worker's runs are taken over after this
    sweep_interval_s: float = Field(default=2.0, gt=0)
    requeue_after_s: float = Field(default=30.0, gt=0)  # a QUEUED run nobody picked up is dispatched again
    arq_poll_delay_s: float = Field(default=0.5, gt=0)  # workers also wake at once on a pub/sub nudge
    # On SIGTERM a worker starts no new step, lets running ones finish for this long, then hands its runs over.
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    max_run_depth: int = Field(default=10, ge=1)  # child runs (foreach, subworkflow, loop) nest at most this deep
    max_foreach_items: int = Field(default=10_000, ge=1)
    # Stored-output quotas: bytes of JSON a run's steps keep (rendered inputs, outputs, errors, logs, state, event
    # data; as serialized). A step that would pass one fails with OutputQuotaExceeded and stores nothing of its
    # result; its run ends FAILED. 0: no limit. A tenant row's max_run_output_bytes / max_output_bytes override
    # them. 64 MiB per run: far above any run that keeps data rather than documents (a 10,000-item foreach of
    # 5 KiB results fits), near Temporal's 50 MB history limit, and the run's outputs are held in its driver's
    # memory while it runs (50 runs per worker). 10 GiB per tenant: 160 runs at the run limit, or a million runs
    # of 10 KiB; deleting runs frees it.
    max_run_output_bytes: int = Field(default=64 * 1024 * 1024, ge=0, le=2**31 - 1)
    max_tenant_output_bytes: int = Field(default=10 * 1024**3, ge=0)
    # Cron schedules: the scheduler sleeps until the next due tick, at most this long (a created or changed
    # schedule wakes it at once); a tick it reaches later than the grace counts as missed (the catch-up policy).
    scheduler_interval_s: float = Field(default=1.0, gt=0, le=60)
    scheduler_misfire_grace_s: float = Field(default=30.0, ge=0)
    # `studio worker` and `studio scheduler` write a heartbeat to Redis this often; `--check` finds it stale after
    # three intervals (studio_shared/heartbeat.py).
    heartbeat_interval_s: float = Field(default=5.0, gt=0, le=300)
    # Human approval tasks: False keeps the user who started a run from deciding that run's tasks.
    allow_self_approval: bool = True

    # Webhook deliveries (POST /hooks/{id}).
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    webhook_rotation_overlap_s: int = Field(default=24 * 3600, ge=0)  # the old secret verifies this long
    webhook_max_wait_s: float = Field(default=30.0, gt=0, le=300)  # ?wait= is capped here
    message_max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # POST /messages/{channel}
    # The studio's address as outside systems reach it: the absolute resume URLs of wait.event steps start with it.
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    # Outbound HTTP from nodes: public addresses only, unless opted in for on-premise targets.
    http_allow_private: bool = False
    http_allowed_hosts: str = ""  # comma-separated hosts ("*.corp.example"), IPs or CIDRs that may be private
    # agent MCP tools over stdio: name -> argv (JSON). Only these commands run; a definition names one, never one.
    mcp_stdio_servers: dict[str, list[str]] = Field(default_factory=dict)
    # Time allowed to fetch an MCP server's tool list (when an agent step starts).
    mcp_list_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # email.send: at most this many recipients (to + cc + bcc) and this many bytes of message per step.
    email_max_recipients: int = Field(default=50, ge=1, le=10_000)
    email_max_message_bytes: int = Field(default=1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # sql.query: a step's row_limit may not exceed sql_max_rows; a result stops (truncated) past
    # sql_max_result_bytes of JSON. The studio's own PostgreSQL server is refused unless the operator allows it.
    sql_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    sql_max_result_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    sql_allow_studio_database: bool = False
    # LLM usage cost: {"model": {"prompt": USD per 1M tokens, "completion": USD per 1M tokens}}
    llm_prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Model budgets (0: no limit). Per run, and per tenant per UTC day (a tenant's own llm_daily_* fields, set by an
    # ADMIN, take precedence). A cost limit refuses models without a price above. A call that names no max_tokens
    # under a budget is sent with llm_budget_max_tokens, so its worst case (what it reserves) is known.
    llm_run_max_tokens: int = Field(default=0, ge=0)
    llm_run_max_cost_usd: float = Field(default=0.0, ge=0)
    llm_tenant_daily_max_tokens: int = Field(default=0, ge=0)
    llm_tenant_daily_max_cost_usd: float = Field(default=0.0, ge=0)
    llm_budget_max_tokens: int = Field(default=1024, ge=1)
    # The code node: operator-provided package folders for Python steps (comma-separated directories, e.g. made with
    # `pip install --target DIR`; bound read-only into the sandbox and put on sys.path), the explicit opt-out of the
    # bubblewrap sandbox (single-user installs only), and how many code steps one worker process runs at once.
    code_python_packages: str = ""
    code_python_unsafe_no_sandbox: bool = False
    code_max_concurrent: int = Field(default=4, ge=1, le=64)
    artifact_link_ttl_s: int = Field(default=900, ge=10, le=900)  # signed download links live at most 15 min

    # Prometheus metrics (studio_shared/metrics.py). GET /metrics on the API answers an ADMIN token, or this token
    # when set (compared in constant time). `studio worker` / `studio scheduler` serve the same text format on
    # metrics_port (or --metrics-port; 0 picks a free port, logged), bound to metrics_host, without a token: keep the
    # bind on a private interface. Tenant ids label the studio_tenant_* series only when metrics_tenant_labels is on.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_tenant_labels: bool = False

    # Traces and logs (studio_shared/tracing.py, studio_shared/logs.py). Traces are off unless otel_enabled or
    # OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT is set; otel_spans_file also writes spans as JSON lines ("{pid}" in
    # it: one file per process). log_format: json lines, text, or auto (text on a terminal, json otherwise).
    otel_enabled: bool = False
    otel_spans_file: str | None = None
    log_format: Literal["auto", "json", "text"] = "auto"

    db_pool_size: int = Field(default=10, ge=1)
    db_echo: bool = False

    @field_validator(
        "redis_url", "s3_endpoint_url", "s3_region", "metrics_token", "metrics_port", "otel_spans_file", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``STUDIO_REDIS_URL=`` (empty) means unset, as it reads: the embedded default."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Self:
        if self.env is Env.PRODUCTION:
            for name in ("jwt_secret", "secret_key"):
                value: SecretStr | None = getattr(self, name)
                if value is None:
                    raise InsecureSettings(f"STUDIO_{name.upper()} must be set when STUDIO_ENV=production")
                if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
                    raise InsecureSettings(f"STUDIO_{name.upper()} must be at least {MIN_SECRET_BYTES} bytes")
        return self

    @property
    def graphiql_enabled(self) -> bool:
        return self.env is not Env.PRODUCTION if self.graphiql is None else self.graphiql

    @property
    def graphql_introspection_enabled(self) -> bool:
        return self.env is not Env.PRODUCTION if self.graphql_introspection is None else self.graphql_introspection

    @property
    def embedded(self) -> bool:
        """No Redis configured: the API hosts the worker pool, scheduler and event bus in-process."""
        return self.redis_url is None

    def with_dev_secrets(self) -> Settings:
        """Fill missing secrets from ``state_dir``, generating each once; production never gets here unset."""
        updates: dict[str, SecretStr] = {}
        for name in ("jwt_secret", "secret_key"):
            if getattr(self, name) is None:
                updates[name] = SecretStr(_load_or_generate(self.state_dir / name))
        return self.model_copy(update=updates) if updates else self

    def jwt_key(self) -> str:
        if self.jwt_secret is None:
            raise InsecureSettings(
                "no JWT secret configured: call Settings.with_dev_secrets() or set STUDIO_JWT_SECRET"
            )
        return self.jwt_secret.get_secret_value()


def _load_or_generate(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must agree on one secret, not overwrite each other's.
    try:
        with path.open("x") as fh:
            fh.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


def load_settings() -> Settings:
    """The settings a process starts with: environment, then generated dev secrets where allowed."""
    return Settings().with_dev_secrets()
