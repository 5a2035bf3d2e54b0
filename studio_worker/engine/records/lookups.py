"""Runs and their steps, read whole: by id or idempotency key (the API's writes: cancel, retry, test steps), and the
run a schedule's fires started."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models
from studio_shared.types import FINAL_RUN_STATUSES
from studio_worker.engine.records import runs

_fires = models.ScheduleFire.__table__
_BY_KEY = sa.select(runs).where(
    runs.c.tenant_id == sa.bindparam("b_tenant"),
    runs.c.workflow_id == sa.bindparam("b_workflow"),
    runs.c.idempotency_key == sa.bindparam("b_key"),
)


async def by_key(conn: Any, tenant_id: uuid.UUID, workflow_id: uuid.UUID, key: str) -> models.Run | None:
    """The run of the workflow an idempotency key started, if any (a detached row: one query, no session)."""
    row = (await conn.execute(_BY_KEY, {"b_tenant": tenant_id, "b_workflow": workflow_id, "b_key": key})).first()
    return models.Run(**row._mapping) if row is not None else None


async def load(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> models.Run | None:
    """The run in the session (another tenant's looks missing)."""
    run: models.Run | None = await s.scalar(
        sa.select(models.Run).where(models.Run.tenant_id == tenant_id, models.Run.id == run_id)
    )
    return run


async def steps_of(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> list[models.Step]:
    """The run's step rows in the session."""
    return list(
        await s.scalars(sa.select(models.Step).where(models.Step.tenant_id == tenant_id, models.Step.run_id == run_id))
    )


async def active_run_of_latest_fire(
    conn: Any, tenant_id: uuid.UUID, schedule_id: uuid.UUID, before: datetime, started: str
) -> uuid.UUID | None:
    """The run of the schedule's newest fire before ``before`` with outcome ``started``, if it is still active."""
    latest = (
        sa.select(_fires.c.run_id)
        .where(
            _fires.c.tenant_id == tenant_id,
            _fires.c.schedule_id == schedule_id,
            _fires.c.scheduled_for < before,
            _fires.c.outcome == started,
        )
        .order_by(_fires.c.scheduled_for.desc())
        .limit(1)
        .scalar_subquery()
    )
    run_id: uuid.UUID | None = await conn.scalar(
        sa.select(runs.c.id).where(
            runs.c.tenant_id == tenant_id, runs.c.id == latest, runs.c.status.not_in(list(FINAL_RUN_STATUSES))
        )
    )
    return run_id


async def newest_fire(
    conn: Any, tenant_id: uuid.UUID, schedule_id: uuid.UUID, outcomes: list[str], before: datetime | None
) -> Any:
    """The schedule's newest fire with one of ``outcomes`` (before ``before``) and its run's status: a row of
    (outcome, status), or None."""
    joined = _fires.outerjoin(runs, sa.and_(runs.c.tenant_id == _fires.c.tenant_id, runs.c.id == _fires.c.run_id))
    stmt = (
        sa.select(_fires.c.outcome, runs.c.status)
        .select_from(joined)
        .where(_fires.c.tenant_id == tenant_id, _fires.c.schedule_id == schedule_id, _fires.c.outcome.in_(outcomes))
        .order_by(_fires.c.scheduled_for.desc())
        .limit(1)
    )
    if before is not None:
        stmt = stmt.where(_fires.c.scheduled_for < before)
    return (await conn.execute(stmt)).first()
