"""The leases of runs: a process gives one up, renews the ones it holds, and sweeps up runs nobody holds."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.types import RunStatus
from studio_worker.engine.records import runs


async def release(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, owner: str) -> None:
    """Give up ``owner``'s lease on a run (steps it left RUNNING are re-run as interrupted)."""
    await conn.execute(
        runs.update()
        .where(runs.c.tenant_id == tenant_id, runs.c.id == run_id, runs.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


async def renew(
    conn: AsyncConnection, owner: str, run_ids: Collection[uuid.UUID], until: datetime
) -> list[tuple[uuid.UUID, datetime | None]]:
    """Extend ``owner``'s leases on ``run_ids`` to ``until``: (run id, cancel requested at) of each renewed.

    A run whose row a commit holds right now is skipped (the next beat renews it): waiting for it made this statement
    and the commits of several drivers lock rows in different orders, and each deadlock PostgreSQL broke after a
    second (found in the noisy-tenant scenario)."""
    mine = sa.and_(runs.c.lease_owner == owner, runs.c.id.in_(list(run_ids)))
    free = sa.select(runs.c.id).where(mine).with_for_update(skip_locked=True)
    rows = await conn.execute(
        runs.update()
        .where(mine, runs.c.id.in_(free))
        .values(lease_expires_at=until)
        .returning(runs.c.id, runs.c.cancel_requested_at)
    )
    return [(run_id, cancel_requested_at) for run_id, cancel_requested_at in rows]


async def unheld(
    conn: AsyncConnection, now: datetime, requeue_after: timedelta, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant id, run id) of runs nobody holds that need a driver: expired leases, due wake-ups, cancellations,
    and QUEUED runs (not held) whose job was lost (not updated for ``requeue_after``)."""
    unleased = sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < now)
    condition = sa.or_(
        sa.and_(runs.c.status == RunStatus.RUNNING, unleased),
        sa.and_(runs.c.status == RunStatus.WAITING, runs.c.wake_at <= now, unleased),
        sa.and_(runs.c.status == RunStatus.WAITING, runs.c.cancel_requested_at.is_not(None), unleased),
        sa.and_(
            runs.c.status == RunStatus.QUEUED,
            runs.c.updated_at < now - requeue_after,
            runs.c.held_since.is_(None),
            unleased,
        ),
    )
    rows = await conn.execute(sa.select(runs.c.tenant_id, runs.c.id).where(condition).limit(limit))
    return [(r.tenant_id, r.id) for r in rows]
