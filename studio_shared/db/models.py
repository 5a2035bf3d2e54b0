"""The studio's tables. Every tenant-owned row carries ``tenant_id`` and every secondary index leads with it.

Two deliberate exceptions, both lookups that happen *before* the tenant is known and both by a
value that is unique anyway: ``users.email`` (login takes only an email) and primary keys
(webhook deliveries and API keys arrive with an id, then everything after is tenant-scoped).
System scans across every tenant (the run sweep, the scheduler) have indexes of their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, synonym

from studio_shared.db.base import Base, Tenanted, Timestamps
from studio_shared.db.types import JSONDoc, str_enum, utcnow
from studio_shared.rbac import Role
from studio_shared.types import (
    Decision,
    EventWaitStatus,
    HumanTaskStatus,
    IdempotencyState,
    MessageDirection,
    RunStatus,
    StepStatus,
    WebhookAuth,
)

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


def _fk(target: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


class Tenant(Base, Timestamps):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    max_concurrent_runs: Mapped[int | None]
    # Stored-output quotas of this tenant (bytes), instead of STUDIO_MAX_TENANT_OUTPUT_BYTES and
    # STUDIO_MAX_RUN_OUTPUT_BYTES; 0: no limit.
    max_output_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_run_output_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    max_live_runs: Mapped[int | None]  # overrides Settings.max_live_runs_per_tenant
    # The workflow started when a live top-level run of a workflow without an error workflow of its own fails.
    # No foreign key (it would close a cycle with workflows.tenant_id): the API checks it is one of this tenant's.
    default_error_workflow_id: Mapped[uuid.UUID | None]
    # Model spending per UTC day (an ADMIN sets them: setModelBudget), instead of STUDIO_LLM_TENANT_DAILY_*;
    # None: the setting's default; 0: no limit.
    llm_daily_max_tokens: Mapped[int | None] = mapped_column(sa.BigInteger)
    llm_daily_max_cost_usd: Mapped[float | None] = mapped_column(sa.Float)


class User(Tenanted, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.Index(None, "tenant_id", "created_at", "id"),
        # Unique per tenant: whether another tenant has an email is nobody's business. Login looks emails up
        # before it knows the tenant, hence the index on the email alone.
        sa.UniqueConstraint("tenant_id", "email"),
        sa.Index(None, "email"),
    )

    email: Mapped[str] = mapped_column(sa.String(320))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # Tokens issued before this second are refused: a password change or reset ends the other sessions.
    password_changed_at: Mapped[datetime | None]
    # Set: the password is a temporary one from an admin's reset. It works until then, and only to set a new one.
    password_expires_at: Mapped[datetime | None]


class ApiKey(Tenanted, Base):
    __tablename__ = "api_keys"
    __table_args__ = (sa.Index(None, "tenant_id", "created_at"),)

    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    # Refused any GraphQL document but the trusted ones (STUDIO_TRUSTED_DOCUMENTS; README: "Trusted documents").
    trusted_documents_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # null: no expiry; from then on the key reads as unknown


class Workflow(Tenanted, Timestamps, Base):
    __tablename__ = "workflows"
    __table_args__ = (
        sa.Index(None, "tenant_id", "created_at", "id"),
        sa.Index(None, "tenant_id", "name"),
    )

    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    draft: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    revision: Mapped[int] = mapped_column(default=1)  # bumped on every draft edit: optimistic concurrency
    archived: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))
    # Started when a live top-level run of this workflow fails (null: the tenant's default). Checked, not a
    # foreign key: the API takes only a workflow of the same tenant; the engine resolves it when a run fails.
    error_workflow_id: Mapped[uuid.UUID | None]


class WorkflowVersion(Tenanted, Base):
    """An immutable snapshot of a workflow's draft: a published version (1, 2, …), or a test snapshot.

    A test snapshot (``test``) is what test runs of the draft execute: the draft at one revision with the pins in
    effect then, reused by every test run of that (revision, pins). Its ``version`` is negative (-1, -2, … in the
    order they were taken) so the unique key holds; every published-version lookup (lists, "latest", triggers,
    child runs, publish's numbering) leaves snapshots out.
    """

    __tablename__ = "workflow_versions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "workflow_id", "version"),
        sa.Index(None, "tenant_id", "workflow_id", "test", "draft_revision"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(_fk("workflows.id"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    test: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    draft_revision: Mapped[int | None]  # a test snapshot: the draft revision it copies
    # A test snapshot: the pins in effect, {node_id: {"output": …, "branches": [...] | null}}, and their digest.
    pins: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    pins_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str | None] = mapped_column(sa.Text)
    published_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = synonym("published_at")  # lets versions page like every other list


class NodePin(Tenanted, Timestamps, Base):
    """A node's pinned output on a workflow's draft: test runs and test steps use it instead of running the node.
    Pins belong to the draft; a published run never reads one."""

    __tablename__ = "node_pins"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "workflow_id", "node_id"),)

    workflow_id: Mapped[uuid.UUID] = mapped_column(_fk("workflows.id"))
    node_id: Mapped[str] = mapped_column(sa.String(64))
    output: Mapped[Any | None] = mapped_column(JSONDoc)
    branches: Mapped[list[str] | None] = mapped_column(JSONDoc)  # branches taken; None: every outgoing edge
    source: Mapped[str] = mapped_column(sa.String(16))  # "run": copied from a run's step; "manual": typed by hand
    source_run_id: Mapped[uuid.UUID | None] = mapped_column(_fk("runs.id", "SET NULL"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))


class Conversation(Tenanted, Timestamps, Base):
    """An agent's memory across runs: the turns (chat messages) of one conversation, under the agent's rendered
    ``conversation_key`` (e.g. a chat thread's id). Each turn remembers the step execution that wrote it."""

    __tablename__ = "conversations"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"), sa.Index(None, "tenant_id", "updated_at", "id"))

    key: Mapped[str] = mapped_column(sa.String(512))
    turns: Mapped[list[Any]] = mapped_column(JSONDoc)  # [{"by": step idempotency key, "message": {...}}]


class Run(Tenanted, Timestamps, Base):
    __tablename__ = "runs"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "workflow_id", "idempotency_key"),
        sa.Index(None, "tenant_id", "created_at", "id"),
        sa.Index(None, "tenant_id", "workflow_id", "created_at", "id"),
        sa.Index(None, "tenant_id", "status", "created_at"),
        sa.Index(None, "tenant_id", "parent_run_id", "item_index"),
        sa.Index(None, "tenant_id", "updated_at"),  # what changed while a subscriber's bus was away
        # The Runs page's filters, each keyset-paged on (created_at, id): by trigger kind, by the person a run was
        # started for, and top-level runs only (its default view: a 10,000-item foreach does not bury the rest).
        sa.Index(None, "tenant_id", "trigger", "created_at", "id"),
        sa.Index(None, "tenant_id", "started_by_user", "created_at", "id"),
        # Test runs of the draft: the Runs page's "test or live" filter, and the per-workflow retention.
        sa.Index(None, "tenant_id", "test", "created_at", "id"),
        sa.Index(None, "tenant_id", "workflow_id", "test", "created_at", "id"),
        sa.Index(
            "ix_runs_top_level",
            "tenant_id",
            "created_at",
            "id",
            postgresql_where=sa.text("parent_run_id IS NULL"),
            sqlite_where=sa.text("parent_run_id IS NULL"),
        ),
        # System scans of the reconciler and scheduler (every tenant at once): the one place an index
        # leads with something other than the tenant.
        sa.Index("ix_runs_sweep_lease", "status", "lease_expires_at"),
        sa.Index("ix_runs_sweep_wake", "status", "wake_at"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(_fk("workflows.id"))
    workflow_version_id: Mapped[uuid.UUID] = mapped_column(_fk("workflow_versions.id"))
    version: Mapped[int]  # the published version it runs; 0 for a test run of the draft
    # A test run of the draft (testRun, testStep, testReplay): it runs a test snapshot, may use pinned outputs,
    # and is kept by the per-workflow test-run retention.
    test: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus), default=RunStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(sa.String(32))
    trigger_data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # e.g. the raw webhook delivery
    input: Mapped[Any | None] = mapped_column(JSONDoc)
    output: Mapped[Any | None] = mapped_column(JSONDoc)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(_fk("runs.id"))
    parent_step_id: Mapped[str | None] = mapped_column(sa.String(64))
    item_index: Mapped[int | None]
    depth: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(sa.String(80))  # "user:<id>", "apikey:<id>", "schedule:<id>"
    # The person on whose authority the run tree started: the user, an API key's user, or the user who made the
    # webhook or schedule that started it; children inherit it. Who may not approve its tasks when self-approval
    # is off. No foreign key: it is a fact about the past, copied into every child run.
    started_by_user: Mapped[uuid.UUID | None]
    last_seq: Mapped[int] = mapped_column(default=0)  # the seq of the newest run_events row
    # Bytes of JSON the run holds (its input and trigger data, its steps' input, output, error, envelope and state,
    # its output, every event's data; as serialized): kept by the fenced batch statement, checked against the
    # stored-output quotas.
    stored_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # The run lease: one driver at a time advances a run; every write batch checks it (a fencing token).
    lease_owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_expires_at: Mapped[datetime | None]
    wake_at: Mapped[datetime | None]  # a WAITING run resumes here (delay, retry backoff, approval expiry)
    cancel_requested_at: Mapped[datetime | None]
    # A QUEUED run a worker could not admit (its tenant was at its limit): the next run to finish dispatches it.
    held_since: Mapped[datetime | None]
    # Bumped by anyone who needs the driver's attention (cancel, a decision); a driver parks or finishes a run
    # only if the signal is still the one it loaded, so a poke that races with parking is never lost.
    signal: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The error run this run's failure started (written in its final transaction); its trigger data names this run.
    error_run_id: Mapped[uuid.UUID | None]
    # The W3C traceparent of the span that started the run (studio_shared.tracing), when traces are on: every worker
    # that runs one of its steps, now or after a crash or an approval days later, continues this trace.
    traceparent: Mapped[str | None] = mapped_column(sa.String(64))


class Step(Tenanted, Timestamps, Base):
    __tablename__ = "steps"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "run_id", "step_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    node_type: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[StepStatus] = mapped_column(str_enum(StepStatus), default=StepStatus.PENDING)
    attempt: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=0)  # bumped on every transition: claims compare it
    # Attempts lost to a dead worker: they count as attempts but spend no retry budget.
    interruptions: Mapped[int] = mapped_column(default=0, server_default="0")
    input: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # the rendered config of the latest attempt
    branches: Mapped[list[str] | None] = mapped_column(JSONDoc)  # branches taken; None: every outgoing edge
    output: Mapped[Any | None] = mapped_column(JSONDoc)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # node-private progress (fan-out cursors, ...)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_expires_at: Mapped[datetime | None]
    wake_at: Mapped[datetime | None]  # a delay or retry backoff resumes here, holding no worker
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RunEvent(Base):
    __tablename__ = "run_events"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "run_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(_fk("tenants.id"))
    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(40))
    step_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str | None] = mapped_column(sa.String(16))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class HumanTask(Tenanted, Timestamps, Base):
    __tablename__ = "human_tasks"
    __table_args__ = (
        sa.Index(None, "tenant_id", "status", "created_at", "id"),
        sa.Index(None, "tenant_id", "run_id", "step_id"),
        sa.Index(None, "tenant_id", "updated_at"),  # what changed while a subscriber's bus was away
    )

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[HumanTaskStatus] = mapped_column(str_enum(HumanTaskStatus), default=HumanTaskStatus.OPEN)
    title: Mapped[str] = mapped_column(sa.String(500))
    message: Mapped[str | None] = mapped_column(sa.Text)
    form_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    assignee_role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.APPROVER)
    assignees: Mapped[list[str] | None] = mapped_column(JSONDoc)  # user emails
    required_approvals: Mapped[int] = mapped_column(default=1)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[Any | None] = mapped_column(JSONDoc)
    expires_at: Mapped[datetime | None]
    escalate_at: Mapped[datetime | None]
    escalate_to_role: Mapped[Role | None] = mapped_column(str_enum(Role))
    escalated_at: Mapped[datetime | None]  # escalate_at passed while OPEN: escalate_to_role may decide as well
    decided_at: Mapped[datetime | None]


class HumanTaskDecision(Tenanted, Base):
    """One approver's vote; the unique key makes "exactly one decision per approver" a database fact."""

    __tablename__ = "human_task_decisions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "task_id", "user_id"),)

    task_id: Mapped[uuid.UUID] = mapped_column(_fk("human_tasks.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.id"))
    decision: Mapped[Decision] = mapped_column(str_enum(Decision))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[Any | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventWait(Tenanted, Timestamps, Base):
    """A ``wait.event`` step waiting for an outside event (its resume URL or ``signalRun``).

    The id derives from the step's idempotency key, so a re-executed step finds its wait again (and a step run
    again by ``retryRun`` opens a new one). It leaves WAITING exactly once, through a conditional update: the first
    resume (RECEIVED, with its payload), the timeout (TIMED_OUT) or the run's end (CANCELLED).
    """

    __tablename__ = "event_waits"
    __table_args__ = (sa.Index(None, "tenant_id", "run_id", "step_id", "created_at"),)

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    event: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[EventWaitStatus] = mapped_column(str_enum(EventWaitStatus), default=EventWaitStatus.WAITING)
    payload_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    expires_at: Mapped[datetime | None]
    payload: Mapped[Any | None] = mapped_column(JSONDoc)
    via: Mapped[str | None] = mapped_column(sa.String(16))  # "url" or "signal"
    actor: Mapped[str | None] = mapped_column(sa.String(200))  # who signalled (user:<id>, apikey:<id>); null for a URL
    received_at: Mapped[datetime | None]


class Webhook(Tenanted, Timestamps, Base):
    __tablename__ = "webhooks"
    __table_args__ = (sa.Index(None, "tenant_id", "workflow_id"),)

    workflow_id: Mapped[uuid.UUID] = mapped_column(_fk("workflows.id"))
    auth: Mapped[WebhookAuth] = mapped_column(str_enum(WebhookAuth), default=WebhookAuth.STANDARD)
    secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    previous_secret_expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    rate_limit_per_minute: Mapped[int | None]
    # Verified delivery keys are remembered this long (in idempotency_records) and a repeat is refused as a
    # replay even when it started no run or its run was deleted; null: no window beyond the run's own key.
    replay_window_s: Mapped[int | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))  # the starter of its runs


class IdempotencyRecord(Tenanted, Base):
    """A keyed request seen before: webhook delivery keys kept for the webhook's replay window (scope
    ``webhook:<id>``); the unique key stops concurrent twins."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "scope", "key"),
        sa.Index(None, "tenant_id", "expires_at"),
    )

    scope: Mapped[str] = mapped_column(sa.String(100))  # e.g. "webhook:<id>"
    key: Mapped[str] = mapped_column(sa.String(200))
    request_sha256: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[IdempotencyState] = mapped_column(str_enum(IdempotencyState), default=IdempotencyState.IN_FLIGHT)
    response_status: Mapped[int | None]
    response_body: Mapped[Any | None] = mapped_column(JSONDoc)
    run_id: Mapped[uuid.UUID | None] = mapped_column(_fk("runs.id", "SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Schedule(Tenanted, Timestamps, Base):
    __tablename__ = "schedules"
    __table_args__ = (
        sa.Index(None, "tenant_id", "workflow_id"),
        # The scheduler's scan for due schedules of every tenant (see Run's sweep indexes).
        sa.Index("ix_schedules_due", "next_fire_at"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(_fk("workflows.id"))
    cron: Mapped[str] = mapped_column(sa.String(120))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    input: Mapped[Any | None] = mapped_column(JSONDoc)
    overlap: Mapped[str] = mapped_column(sa.String(20), default="skip")
    catch_up: Mapped[str] = mapped_column(sa.String(20), default="skip")
    catch_up_window_s: Mapped[int | None]
    jitter_s: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_fire_at: Mapped[datetime | None]  # next_tick_at plus the tick's jitter; None while paused
    next_tick_at: Mapped[datetime | None]  # the scheduler's cursor: the next tick not yet dealt with
    last_fire_at: Mapped[datetime | None]  # the tick of the newest fire
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))  # the starter of its runs


class ScheduleFire(Tenanted, Base):
    """One tick of one schedule; the unique key makes "exactly one fire per tick" a database fact."""

    __tablename__ = "schedule_fires"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "schedule_id", "scheduled_for"),
        # The scheduler's scan for fires still to act on, in every tenant: a few rows, whatever the history.
        sa.Index(
            "ix_schedule_fires_open",
            "outcome",
            "fired_at",
            postgresql_where=sa.text("outcome IN ('pending', 'buffered')"),
            sqlite_where=sa.text("outcome IN ('pending', 'buffered')"),
        ),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(_fk("schedules.id"))
    scheduled_for: Mapped[datetime]  # the tick, before jitter
    run_id: Mapped[uuid.UUID | None] = mapped_column(_fk("runs.id", "SET NULL"))
    # pending (claimed, run being started), started, buffered, skipped, missed, failed: see studio_worker.scheduler
    outcome: Mapped[str] = mapped_column(sa.String(20))
    error: Mapped[str | None] = mapped_column(sa.Text)  # why a failed fire could not start its run
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = synonym("scheduled_for")  # lets fires page like every other list


class Credential(Tenanted, Timestamps, Base):
    __tablename__ = "credentials"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32))
    value_encrypted: Mapped[str] = mapped_column(sa.Text)
    allowed_hosts: Mapped[list[str] | None] = mapped_column(JSONDoc)
    created_by: Mapped[uuid.UUID | None] = mapped_column(_fk("users.id", "SET NULL"))


class Artifact(Tenanted, Base):
    __tablename__ = "artifacts"
    __table_args__ = (sa.Index(None, "tenant_id", "run_id", "created_at"),)

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(200))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolCall(Tenanted, Base):
    """One tool call of an agent step, recorded before and after it runs (``studio_worker.nodes.agent``).

    The id is derived from the step's idempotency key and the call's place in the step, so a step executed again
    (after a worker died) finds it: a finished call's result is reused, and a call that started but never finished
    is run again only when its tool is marked idempotent.
    """

    __tablename__ = "tool_calls"
    __table_args__ = (sa.Index(None, "tenant_id", "run_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    tool: Mapped[str] = mapped_column(sa.String(200))
    result: Mapped[Any | None] = mapped_column(JSONDoc)  # None: started, not (known to be) finished
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class LlmCall(Tenanted, Base):
    """One model call of a step: the memo that keeps a resumed run from paying twice, and the usage ledger.

    The id is derived from the step's idempotency key and the call's position in the step, so a re-executed
    step finds its earlier answers; sums per run and per tenant are plain aggregates over this table.
    """

    __tablename__ = "llm_calls"
    __table_args__ = (sa.Index(None, "tenant_id", "run_id"), sa.Index(None, "tenant_id", "created_at"))

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(200))
    request_sha256: Mapped[str] = mapped_column(sa.String(64))
    response: Mapped[Any] = mapped_column(JSONDoc)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmSpend(Tenanted, Base):
    """What one budget scope has spent on model calls and holds reserved for calls in flight: a tenant's UTC day
    (``day:2026-12-07``) or a run (``run:<id>``). A call reserves its worst case with one conditional UPDATE
    (spent + reserved + worst <= limit), so concurrent steps cannot overshoot; it settles with the real usage."""

    __tablename__ = "llm_spend"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "scope"),)

    scope: Mapped[str] = mapped_column(sa.String(80))
    tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)
    reserved_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reserved_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)


class LlmReservation(Tenanted, Base):
    """A model call in flight: what it reserved against which ``llm_spend`` rows (the id is the call's memo id).
    Settled with the call's ledger row; a crashed worker's reservation is released when its step runs the call
    again, or by anyone once ``expires_at`` (its lease) has passed."""

    __tablename__ = "llm_reservations"
    __table_args__ = (sa.Index(None, "tenant_id", "expires_at"),)

    scopes: Mapped[Any] = mapped_column(JSONDoc)  # the llm_spend ids it holds tokens and dollars on
    tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(sa.Float, default=0.0)
    expires_at: Mapped[datetime] = mapped_column()


class EmailSend(Tenanted, Base):
    """What an ``email.send`` step handed to its SMTP server: written before the message goes out, so that a
    re-executed step returns the first send's output instead of sending again (the id derives from the step's
    idempotency key). ``state``: pending (nothing handed over yet), data (being handed over), sent."""

    __tablename__ = "email_sends"
    __table_args__ = (sa.Index(None, "tenant_id", "run_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(_fk("runs.id"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    message_id: Mapped[str] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(16))
    recipients: Mapped[int] = mapped_column(default=0)
    output: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Tenanted, Base):
    __tablename__ = "messages"
    __table_args__ = (sa.Index(None, "tenant_id", "channel", "created_at", "id"),)

    channel: Mapped[str] = mapped_column(sa.String(100))
    text: Mapped[str] = mapped_column(sa.Text)
    sender: Mapped[str | None] = mapped_column(sa.String(200))
    direction: Mapped[MessageDirection] = mapped_column(str_enum(MessageDirection))
    run_id: Mapped[uuid.UUID | None] = mapped_column(_fk("runs.id", "SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # Newest first within the tenant, on its own or filtered by who, what, or which resource (auditLog(filter:)).
    __table_args__ = (
        sa.Index(None, "tenant_id", "at", "id"),
        sa.Index(None, "tenant_id", "actor", "at", "id"),
        sa.Index(None, "tenant_id", "action", "at", "id"),
        sa.Index(None, "tenant_id", "target_kind", "target_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(_fk("tenants.id"))
    actor: Mapped[str | None] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_kind: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = synonym("at")  # lets the log page like every other list


class OidcConfig(Tenanted, Timestamps, Base):
    """A tenant's OpenID Connect provider (at most one): users sign in there, the email claim names the user."""

    __tablename__ = "oidc_configs"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    issuer: Mapped[str] = mapped_column(sa.String(500))
    client_id: Mapped[str] = mapped_column(sa.String(300))
    client_secret: Mapped[str] = mapped_column(sa.Text)  # sealed with the SecretBox, never returned
    jit_role: Mapped[Role | None] = mapped_column(str_enum(Role))  # null: unknown emails are refused
    groups_claim: Mapped[str | None] = mapped_column(sa.String(100))
    group_roles: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)  # group -> role name
    allowed_domains: Mapped[list[Any]] = mapped_column(JSONDoc, default=list)  # empty: any domain
    updated_by: Mapped[str | None] = mapped_column(sa.String(100))


class OidcLogin(Tenanted, Base):
    """A sign-in under way at a provider: what the callback must find (state, by hash), used once."""

    __tablename__ = "oidc_logins"
    # By the state's hash alone: the callback does not know the tenant yet. Few rows (expired ones are purged).
    __table_args__ = (sa.UniqueConstraint("state_hash"),)

    state_hash: Mapped[str] = mapped_column(sa.String(64))
    nonce: Mapped[str] = mapped_column(sa.String(100))
    code_verifier: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime]


class SignInCode(Tenanted, Base):
    """A one-time code the web app exchanges (POST) for an access token after an SSO sign-in, so that the token
    never appears in a URL."""

    __tablename__ = "sign_in_codes"
    __table_args__ = (sa.UniqueConstraint("code_hash"),)  # by hash alone: the exchange does not know the tenant

    code_hash: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.id"))
    expires_at: Mapped[datetime]
