"""What a tenant's backlog costs admission: the claim of a run and the live-run check of a start, against N runs.

Seeds one tenant with N QUEUED runs (default 10,000: a fan-out's children) on a fresh database, then times, R times
each (median and p95, in ms):

- the claim of the newest QUEUED run, which counts the runs ahead of it (RUNNING, and QUEUED ones before it) against
  the tenant's concurrency limit: the statement the engine runs (the count bounded at the limit), and the same
  statement with an unbounded count (as it was), to show what the bound saves;
- the admission statement of every start (any held runs? how many live, up to the cap?), against the same backlog
  and against an empty tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import POSTGRES_URL, fresh_database, percentile
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.types import RunStatus
from studio_worker.engine.records import _CLAIM, ACTIVE_RUN
from studio_worker.engine.records.limits import _START_ROOM as _ADMISSION

NAME = "admission"
HELP = "the claim and the start's live-run check against a tenant with 10,000 queued runs"

runs, tenants, workflows, versions = (
    models.Run.__table__,
    models.Tenant.__table__,
    models.Workflow.__table__,
    models.WorkflowVersion.__table__,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--queued", type=int, default=10_000, help="QUEUED runs of the tenant (default 10,000)")
    parser.add_argument("--repeat", type=int, default=200, help="timed executions of each statement")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)


def _unbounded_claim() -> sa.Update:
    """The claim as it was: every run ahead counted."""
    other = runs.alias("other")
    ahead = (
        sa.select(sa.func.count())
        .select_from(other)
        .where(
            other.c.tenant_id == sa.bindparam("b_tenant"),
            sa.or_(
                other.c.status == RunStatus.RUNNING,
                sa.and_(
                    other.c.status == RunStatus.QUEUED,
                    sa.tuple_(other.c.created_at, other.c.id) < sa.tuple_(runs.c.created_at, runs.c.id),
                ),
            ),
        )
        .scalar_subquery()
    )
    limit = sa.func.coalesce(
        sa.select(tenants.c.max_concurrent_runs).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
        sa.bindparam("b_default_limit"),
    )
    return (
        runs.update()
        .where(
            runs.c.tenant_id == sa.bindparam("b_tenant"),
            runs.c.id == sa.bindparam("b_run"),
            runs.c.status.in_(ACTIVE_RUN),
            sa.or_(
                runs.c.lease_owner.is_(None),
                runs.c.lease_owner == sa.bindparam("b_owner"),
                runs.c.lease_expires_at < sa.bindparam("b_now"),
            ),
            sa.or_(runs.c.status != RunStatus.QUEUED, runs.c.cancel_requested_at.is_not(None), ahead < limit),
        )
        .values(lease_owner=sa.bindparam("b_owner"), lease_expires_at=sa.bindparam("b_expires"), held_since=None)
        .returning(runs.c.id)
    )


async def _seed(db: AsyncEngine, queued: int) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A tenant with ``queued`` QUEUED runs of one workflow (no steps: the statements read run rows only); an empty
    tenant; the newest run."""
    tenant_id, empty_id, workflow_id, version_id = (uuid.uuid4() for _ in range(4))
    now = utcnow()
    async with db.begin() as conn:
        await conn.execute(
            tenants.insert(),
            [{"id": t, "slug": f"bench-{t.hex[:8]}", "name": "bench", "created_at": now, "updated_at": now}
             for t in (tenant_id, empty_id)],
        )  # fmt: skip
        await conn.execute(
            workflows.insert(),
            {"id": workflow_id, "tenant_id": tenant_id, "name": "w", "draft": {}, "archived": False,
             "revision": 1, "created_at": now, "updated_at": now},
        )  # fmt: skip
        await conn.execute(
            versions.insert(),
            {"id": version_id, "tenant_id": tenant_id, "workflow_id": workflow_id, "version": 1, "definition": {},
             "published_at": now},
        )  # fmt: skip
        rows: list[dict[str, Any]] = []
        newest = uuid.uuid4()
        for i in range(queued):
            rows.append(
                {
                    "id": newest if i == queued - 1 else uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "workflow_id": workflow_id,
                    "workflow_version_id": version_id,
                    "version": 1,
                    "status": RunStatus.QUEUED,
                    "trigger": "bench",
                    "depth": 0,
                    "last_seq": 1,
                    "signal": 0,
                    "held_since": now,
                    "created_at": now + timedelta(microseconds=i),  # oldest first, the newest last
                    "updated_at": now,
                }
            )
            if len(rows) == 1000:
                await conn.execute(runs.insert(), rows)
                rows = []
        if rows:
            await conn.execute(runs.insert(), rows)
    return tenant_id, empty_id, newest


async def _time(db: AsyncEngine, statement: Any, params: dict[str, Any], repeat: int, write: bool) -> list[float]:
    took: list[float] = []
    for _ in range(repeat):
        async with db.connect() as conn:
            began = time.perf_counter()
            result = await conn.execute(statement, params)
            result.all()
            took.append((time.perf_counter() - began) * 1000)
            if write:
                await conn.rollback()
    return took


async def measure(backend: str, queued: int, repeat: int, admin_url: str) -> list[tuple[str, list[float]]]:
    async with fresh_database(backend, admin_url) as url:
        db = create_async_engine(url)
        try:
            tenant_id, empty_id, newest = await _seed(db, queued)
            if backend == "postgres":
                async with db.connect() as conn:
                    await conn.execute(sa.text("ANALYZE runs"))
                    await conn.commit()
            now = utcnow()
            claim = {
                "b_tenant": tenant_id,
                "b_run": newest,
                "b_owner": "bench",
                "b_now": now,
                "b_expires": now,
                "b_default_limit": 100,
            }
            results = [
                ("claim of the newest QUEUED run, count unbounded (before)", _unbounded_claim(), claim, True),
                ("claim of the newest QUEUED run, count bounded at the limit", _CLAIM, claim, True),
                (
                    f"start's admission check, {queued:,} live runs (cap 10,000)",
                    _ADMISSION,
                    {"b_tenant": tenant_id, "b_default_cap": 10_000},
                    False,
                ),
                (
                    "start's admission check, no live runs",
                    _ADMISSION,
                    {"b_tenant": empty_id, "b_default_cap": 10_000},
                    False,
                ),
            ]
            measured = []
            for label, statement, params, write in results:
                await _time(db, statement, params, 5, write)  # warm-up: statement caches, connections
                measured.append((label, await _time(db, statement, params, repeat, write)))
            return measured
        finally:
            await db.dispose()


def main(args: argparse.Namespace) -> int:
    measured = asyncio.run(measure(args.backend, args.queued, args.repeat, args.postgres_url))
    print(f"| {args.backend}: statement | p50 ms | p95 ms |")
    print("| --- | ---: | ---: |")
    for label, took in measured:
        print(f"| {label} | {percentile(took, 50):.2f} | {percentile(took, 95):.2f} |")
    return 0
