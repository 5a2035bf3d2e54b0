"""Schedule latency: the delay from a cron tick to its run starting (``scheduled_for`` → ``runs.started_at``).

For each mode, on a fresh database: S schedules (default 5) of a one-step workflow fire every second
(``* * * * * *``, overlap ``allow``) for D seconds (default 30); then they are paused and every run is waited
for. Reports p50/p95/p99/max of ``runs.started_at - schedule_fires.scheduled_for`` over every tick, and checks
the guarantee on the way: each schedule's ticks are consecutive seconds (none lost) and each tick has exactly
one fire and one run.

Modes: ``embedded`` (SQLite; the scheduler and the workers run inside the API process, as ``studio serve``
without Redis) and ``services-N`` (PostgreSQL + Redis, two ``studio scheduler`` processes and N
``studio worker`` processes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import (
    DEFAULT_REDIS_URL,
    _observer,
    _settings,
    flush_redis,
    seed,
    studio,
    worker_processes,
)
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.events import channels
from studio_shared.rbac import Role
from studio_shared.store import schedules
from studio_shared.types import FINAL_RUN_STATUSES

NAME = "schedule-latency"
HELP = "p50/p95 delay from a cron tick to its run starting: embedded and with scheduler + worker processes"
MODES = ("embedded", "services-1")
WORKFLOW = {
    "nodes": [
        {"id": "start", "type": "trigger.schedule", "config": {}},
        {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}},
    ],
    "edges": [{"source": "start", "target": "echo"}],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: embedded, services-N")
    parser.add_argument("--schedules", type=int, default=5, help="schedules firing every second (default 5)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long they fire (default 30)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


@dataclass
class Figures:
    mode: str
    schedules: int
    ticks: int
    runs: int
    lost_ticks: int
    latencies_ms: list[float]

    def row(self) -> str:
        ms = self.latencies_ms
        return (
            f"| {self.mode} | {self.schedules} | {self.ticks} | {self.runs} | {self.lost_ticks}"
            f" | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | {percentile(ms, 99):.0f} | {max(ms):.0f} |"
        )


HEADER = (
    "| mode | schedules | ticks | runs | lost ticks | tick→started p50 ms | p95 ms | p99 ms | max ms |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


async def measure(mode: str, count: int, seconds: float, admin_url: str, redis_url: str) -> Figures:
    services = mode.startswith("services-")
    workers = int(mode.split("-", 1)[1]) if services else 0
    async with fresh_database("postgres" if services else "sqlite", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
            settings = _settings(url, redis_url if services else None, Path(tmp))
            if services:
                await flush_redis(redis_url)
            observer = _observer(url)
            try:
                async with studio(settings) as state:
                    tenant_id, workflow_id = await seed(state, WORKFLOW)
                    actor = Principal(tenant_id=tenant_id, role=Role.ADMIN)
                    with (
                        worker_processes(workers, settings, Path(tmp)),
                        worker_processes(2 if services else 0, settings, Path(tmp), command="scheduler"),
                    ):
                        ids: list[uuid.UUID] = []
                        async with state.sessions.begin() as s:
                            for _ in range(count):
                                spec = schedules.ScheduleSpec(cron="* * * * * *", overlap="allow")
                                row = await schedules.create(s, tenant_id, actor, state.registry, workflow_id, spec)
                                ids.append(row.id)
                        await state.bus.publish(channels.schedules(), {"schedule": "bench"})
                        await asyncio.sleep(seconds)
                        async with state.sessions.begin() as s:
                            for schedule_id in ids:
                                await schedules.set_enabled(s, tenant_id, actor, schedule_id, False)
                        await _settled(observer, tenant_id, limit_s=120)
                    return await _figures(observer, mode, tenant_id, ids)
            finally:
                await observer.dispose()


async def _settled(observer: AsyncEngine, tenant_id: uuid.UUID, limit_s: float) -> None:
    """Wait until no fire is pending and every run is final."""
    fires, runs = models.ScheduleFire.__table__, models.Run.__table__
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        async with observer.connect() as conn:
            pending = await conn.scalar(
                sa.select(sa.func.count()).where(fires.c.tenant_id == tenant_id, fires.c.outcome == "pending")
            )
            active = await conn.scalar(
                sa.select(sa.func.count()).where(
                    runs.c.tenant_id == tenant_id, runs.c.status.not_in(list(FINAL_RUN_STATUSES))
                )
            )
        if not pending and not active:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"fires or runs still open after {limit_s}s")


async def _figures(observer: AsyncEngine, mode: str, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Figures:
    fires, runs = models.ScheduleFire.__table__, models.Run.__table__
    async with observer.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(fires.c.schedule_id, fires.c.scheduled_for, fires.c.outcome, runs.c.id, runs.c.started_at)
                .select_from(
                    fires.outerjoin(runs, sa.and_(runs.c.tenant_id == fires.c.tenant_id, runs.c.id == fires.c.run_id))
                )
                .where(fires.c.tenant_id == tenant_id)
                .order_by(fires.c.schedule_id, fires.c.scheduled_for)
            )
        ).all()
        run_count = await conn.scalar(sa.select(sa.func.count()).where(runs.c.tenant_id == tenant_id))
    bad = [r for r in rows if r.outcome != "started" or r.started_at is None]
    if bad:
        raise RuntimeError(f"{len(bad)} fires did not start a run, e.g. {bad[0].outcome}")
    if run_count != len(rows):
        raise RuntimeError(f"{run_count} runs for {len(rows)} ticks: a tick fired twice")
    lost = 0
    for schedule_id in ids:
        ticks = [r.scheduled_for for r in rows if r.schedule_id == schedule_id]
        lost += sum(int((b - a) / timedelta(seconds=1)) - 1 for a, b in itertools.pairwise(ticks))
    latencies = [(r.started_at - r.scheduled_for).total_seconds() * 1000 for r in rows]
    return Figures(mode, len(ids), len(rows), run_count or 0, lost, latencies)


def main(args: argparse.Namespace) -> int:
    results = [
        asyncio.run(measure(mode, args.schedules, args.seconds, args.postgres_url, args.redis_url))
        for mode in args.modes.split(",")
    ]
    print(HEADER)
    for figures in results:
        print(figures.row())
    return 0 if all(f.lost_ticks == 0 for f in results) else 1
