"""Error runs: the run of a workflow's error workflow that a failed live run starts, written in the failed run's
final transaction.

A failed run's final batch carries an ``ErrorStart`` (built by ``studio_worker.engine.error_workflows`` before the
batch is committed). Inside the batch's transaction, before the fenced run-row update, ``prepare`` decides, reading
that same transaction: a run with the idempotency key ``error:<failed run id>`` exists already (a failure committed
again, say after ``retryRun``: no second error run), or the tenant has no room under its cap on live runs (no error
run, and the event says so), or the error run starts. After the fence, ``write`` inserts its rows
(``records.new_runs``, the one home of new runs) with the failed run's final state, so a worker killed at any point
leaves either both or neither. Its ``run.error_workflow`` event, on the failed run just before ``run.failed``, says
which happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models
from studio_shared.events import EventKind
from studio_worker.engine.records import Batch, EventDraft, runs, tenants, versions
from studio_worker.engine.records.limits import live_room_replacing
from studio_worker.engine.records.new_runs import NewRun, insert_new_runs

ERROR_TRIGGER = "error"  # Run.trigger of an error run

workflows = models.Workflow.__table__

# The failed run's workflow (its name) and which error workflow applies: its own, else the tenant's default.
_SETTING = sa.select(
    workflows.c.name,
    workflows.c.error_workflow_id,
    sa.select(tenants.c.default_error_workflow_id)
    .where(tenants.c.id == sa.bindparam("b_tenant"))
    .scalar_subquery()
    .label("default_id"),
).where(workflows.c.tenant_id == sa.bindparam("b_tenant"), workflows.c.id == sa.bindparam("b_workflow"))
# The error workflow: its name, archived flag and latest published version (test snapshots are never run).
_TARGET = (
    sa.select(workflows.c.name, workflows.c.archived, versions.c.id.label("version_id"), versions.c.version)
    .select_from(
        workflows.outerjoin(
            versions,
            sa.and_(
                versions.c.tenant_id == workflows.c.tenant_id,
                versions.c.workflow_id == workflows.c.id,
                versions.c.test.is_(False),
            ),
        )
    )
    .where(workflows.c.tenant_id == sa.bindparam("b_tenant"), workflows.c.id == sa.bindparam("b_workflow"))
    .order_by(versions.c.version.desc().nulls_last())
    .limit(1)
)
_BY_KEY = sa.select(runs.c.id).where(
    runs.c.tenant_id == sa.bindparam("b_tenant"),
    runs.c.workflow_id == sa.bindparam("b_workflow"),
    runs.c.idempotency_key == sa.bindparam("b_key"),
)


def error_key(failed_run_id: uuid.UUID) -> str:
    """The idempotency key of the error run a failed run starts: one per failed run, however often it fails."""
    return f"error:{failed_run_id}"


async def error_setting(conn: Any, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> tuple[str, uuid.UUID | None, str]:
    """The failed run's workflow name, the error workflow that applies (or None) and where it is set
    (``workflow`` or ``tenant``)."""
    row = (await conn.execute(_SETTING, {"b_tenant": tenant_id, "b_workflow": workflow_id})).first()
    if row is None:
        return "", None, "workflow"
    if row.error_workflow_id is not None:
        return str(row.name), row.error_workflow_id, "workflow"
    return str(row.name), row.default_id, "tenant"


async def error_target(conn: Any, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> Any:
    """The error workflow's (name, archived, version_id, version), version null when it has none published; None
    when it does not exist in the tenant."""
    return (await conn.execute(_TARGET, {"b_tenant": tenant_id, "b_workflow": workflow_id})).first()


@dataclass(slots=True)
class ErrorStart:
    """The error run a failed run's final batch starts, or the reason it starts none (``new`` is None then)."""

    tenant_id: uuid.UUID
    failed_run_id: uuid.UUID
    error_workflow_id: uuid.UUID
    source: str  # "workflow" or "tenant": which setting named the error workflow
    new: NewRun | None
    reason: str | None
    default_cap: int  # Settings.max_live_runs_per_tenant (a tenant row's max_live_runs overrides it)
    draft: EventDraft = field(default_factory=lambda: EventDraft(EventKind.RUN_ERROR_WORKFLOW))
    started: bool = False  # set by prepare: this transaction inserts the error run

    @property
    def key(self) -> str:
        return error_key(self.failed_run_id)

    def stage(self, batch: Batch) -> None:
        """Put its event in the batch, just before the run's final event (the last one), and say it is there."""
        batch.events.insert(max(len(batch.events) - 1, 0), self.draft)
        batch.error_start = self
        self._decided(self.reason, None)

    def _decided(self, reason: str | None, run_id: uuid.UUID | None, batch: Batch | None = None) -> None:
        data: dict[str, Any] = {"error_workflow_id": str(self.error_workflow_id), "source": self.source}
        data["started"] = self.started
        if run_id is not None:
            data["error_run_id"] = str(run_id)
        if reason is not None:
            data["reason"] = reason
        self.draft.data, self.draft.encoded = data, None
        if batch is not None:
            if run_id is not None:
                batch.run_values["error_run_id"] = run_id
            else:
                batch.run_values.pop("error_run_id", None)

    async def prepare(self, conn: AsyncConnection, batch: Batch) -> None:
        """Decide in the batch's transaction, before its fenced update (a group retried one batch at a time decides
        again): no second error run for a known key; none beyond the tenant's cap on live runs."""
        self.started = False
        if self.new is None:
            self._decided(self.reason, None, batch)
            return
        params = {"b_tenant": self.tenant_id, "b_workflow": self.error_workflow_id, "b_key": self.key}
        existing = await conn.scalar(_BY_KEY, params)
        if existing is not None:
            self._decided(
                "this run already started its error run (a failure committed again starts none)", existing, batch
            )
            return
        live, cap = await live_room_replacing(conn, self.tenant_id, self.default_cap)  # the failed run is not counted
        if live + 1 > cap:
            self._decided(
                f"the tenant may have at most {cap} live runs (queued, running or waiting) and has {live} besides this "
                "one: no error run was started (raise STUDIO_MAX_LIVE_RUNS_PER_TENANT or the tenant's max_live_runs)",
                None,
                batch,
            )
            return
        self.started = True
        self._decided(None, self.new.id, batch)

    async def write(self, conn: AsyncConnection) -> None:
        """After the fence: insert the error run's rows in the same transaction as the failed run's final state."""
        if self.started and self.new is not None:
            await insert_new_runs(conn, [self.new])
