"""What a tenant's limits count on the run table: its live runs (against its cap), its busy and held runs (against
its concurrency limit) and its stored bytes (against its output quotas).

Live runs are counted with a bounded count (``LIMIT cap``) over the ``(tenant_id, status, created_at)`` index: the
cost grows with the tenant's live runs up to the cap, never with its history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.types import RunStatus
from studio_worker.engine.records import runs, tenants

LIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)
MAX_KICK = 100  # held runs dispatched by one finishing run at most (the rest by the next ones, or the sweep)


def live_cap() -> sa.ScalarSelect[Any] | sa.ColumnElement[Any]:
    """The tenant's cap on live runs: its row's ``max_live_runs``, else ``b_default_cap``."""
    return sa.func.coalesce(
        sa.select(tenants.c.max_live_runs).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
        sa.bindparam("b_default_cap"),
    )


def live_runs(beyond: int = 0) -> sa.ScalarSelect[Any]:
    """The tenant's live runs, counted up to its cap (plus ``beyond``) at most (an index range, however many it has
    had)."""
    bounded = (
        sa.select(sa.literal_column("1"))
        .where(runs.c.tenant_id == sa.bindparam("b_tenant"), runs.c.status.in_(LIVE))
        .limit(live_cap() + beyond if beyond else live_cap())
        .subquery()
    )
    return sa.select(sa.func.count()).select_from(bounded).scalar_subquery()


_LIVE_RUNS = sa.select(live_runs().label("live"), live_cap().label("cap"))
# Does the tenant already have runs waiting for a slot? Then a new one joins them instead of being dispatched:
# a tenant that queues thousands must not fill the shared queue with jobs that can only be refused. And how many
# live runs does it have, against its cap? One statement, on the path of every start.
_ANY_HELD = (
    sa.select(runs.c.id)
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.status == RunStatus.QUEUED,
        runs.c.held_since.is_not(None),
    )
    .limit(1)
)
_START_ROOM = sa.select(sa.exists(_ANY_HELD).label("held"), live_runs().label("live"), live_cap().label("cap"))


async def live_room(conn: Any, tenant_id: uuid.UUID, default_cap: int) -> tuple[int, int]:
    """The tenant's live runs (counted up to its cap) and its cap (a Core connection or a session)."""
    row = (await conn.execute(_LIVE_RUNS, {"b_tenant": tenant_id, "b_default_cap": default_cap})).one()
    return int(row.live), int(row.cap)


# A live run ending in the same transaction as a start (a failed run starting its error run) counts itself: one more.
_LIVE_RUNS_AND_ONE = sa.select(live_runs(1).label("live"), live_cap().label("cap"))


async def live_room_replacing(conn: Any, tenant_id: uuid.UUID, default_cap: int) -> tuple[int, int]:
    """The tenant's live runs other than the one ending in this transaction (counted up to its cap), and its cap:
    what a start in the final transaction of a live run checks (the caller's run is live until it commits)."""
    row = (await conn.execute(_LIVE_RUNS_AND_ONE, {"b_tenant": tenant_id, "b_default_cap": default_cap})).one()
    return max(int(row.live) - 1, 0), int(row.cap)


async def start_room(conn: Any, tenant_id: uuid.UUID, default_cap: int) -> tuple[bool, int, int]:
    """What a start checks: does the tenant have held runs; its live runs and its cap."""
    row = (await conn.execute(_START_ROOM, {"b_tenant": tenant_id, "b_default_cap": default_cap})).one()
    return bool(row.held), int(row.live), int(row.cap)


# -- concurrency: busy and held runs ------------------------------------------------------------------------

_LIMIT = sa.func.coalesce(
    sa.select(tenants.c.max_concurrent_runs).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
    sa.bindparam("b_default_limit"),
)
# The tenant's slots taken: RUNNING runs, and QUEUED ones that are not held (their job is in the queue: dispatched
# or started, they take a slot when a worker claims them). Counted up to the limit at most.
_BUSY = (
    sa.select(sa.func.count())
    .select_from(
        sa.select(sa.literal_column("1"))
        .where(
            runs.c.tenant_id == sa.bindparam("b_tenant"),
            sa.or_(
                runs.c.status == RunStatus.RUNNING,
                sa.and_(runs.c.status == RunStatus.QUEUED, runs.c.held_since.is_(None)),
            ),
        )
        .limit(_LIMIT)
        .subquery("busy")
    )
    .scalar_subquery()
)
_FREE = sa.case((_LIMIT - _BUSY > MAX_KICK, MAX_KICK), (_LIMIT - _BUSY > 0, _LIMIT - _BUSY), else_=0)
# The oldest held runs of a tenant, as many as it has free slots: one read (a tenant at its limit, or with nothing
# held, reads no run row beyond its busy ones).
_HELD_WITHIN_LIMIT = (
    sa.select(runs.c.id)
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.status == RunStatus.QUEUED,
        runs.c.held_since.is_not(None),
        runs.c.lease_owner.is_(None),
    )
    .order_by(runs.c.created_at, runs.c.id)
    .limit(_FREE)
)
# Dispatching a held run ends its hold, in the same conditional update that decides who dispatches it: a run is
# dispatched once, however many finishing runs look at the held ones at the same moment, and it counts as busy from
# then on. (A dispatched run whose claim is refused is held again; one whose job is lost is re-sent by the sweep
# after requeue_after_s, counted from here.)
_UNHOLD = (
    runs.update()
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.id.in_(sa.bindparam("b_ids", expanding=True)),
        runs.c.status == RunStatus.QUEUED,
        runs.c.held_since.is_not(None),
        runs.c.lease_owner.is_(None),
    )
    .values(held_since=None, updated_at=sa.bindparam("b_now"))
    .returning(runs.c.id)
)
# Tenants whose held runs have waited a while (a kick may have been lost): the sweep gives them their free slots.
_HOLDING_TENANTS = (
    sa.select(runs.c.tenant_id)
    .where(runs.c.status == RunStatus.QUEUED, runs.c.held_since < sa.bindparam("b_before"))
    .distinct()
    .limit(100)
)


async def held_within_limit(conn: AsyncConnection, tenant_id: uuid.UUID, default_limit: int) -> list[uuid.UUID]:
    """The oldest held runs of a tenant, as many as it has free slots (at most ``MAX_KICK``)."""
    return list(await conn.scalars(_HELD_WITHIN_LIMIT, {"b_tenant": tenant_id, "b_default_limit": default_limit}))


async def unhold(conn: AsyncConnection, tenant_id: uuid.UUID, ids: list[uuid.UUID], now: datetime) -> list[uuid.UUID]:
    """End the hold of those of ``ids`` still held: the ones this caller dispatches."""
    return list(await conn.scalars(_UNHOLD, {"b_tenant": tenant_id, "b_ids": ids, "b_now": now}))


async def holding_tenants(conn: AsyncConnection, before: datetime) -> list[uuid.UUID]:
    """Tenants with a run held since before ``before`` (at most 100)."""
    return list(await conn.scalars(_HOLDING_TENANTS, {"b_before": before}))


# -- stored bytes -------------------------------------------------------------------------------------------

_USAGE = sa.select(
    sa.select(sa.func.coalesce(sa.func.sum(runs.c.stored_bytes), 0))
    .where(runs.c.tenant_id == sa.bindparam("b_tenant"))
    .scalar_subquery()
    .label("stored"),
    sa.select(tenants.c.max_output_bytes).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
    sa.select(tenants.c.max_run_output_bytes).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
)


async def stored_usage(conn: AsyncConnection, tenant_id: uuid.UUID) -> tuple[int, int | None, int | None]:
    """The tenant's stored bytes (the sum of its runs'), its output quota and its per-run quota (null: the default)."""
    row = (await conn.execute(_USAGE, {"b_tenant": tenant_id})).one()
    return int(row[0] or 0), row[1], row[2]
