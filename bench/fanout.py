"""A large foreach: time and memory for N no-op child runs (PostgreSQL + Redis + real worker processes).

One parent run with a ``foreach`` over N items (default 10,000) whose child workflow is one ``transform``;
``max_concurrency`` children at a time. Reports the wall time from start to the parent finished, items/s,
the peak resident memory of each worker process and of this (API) process, how many child runs exist
(exactly N: none lost, none doubled), and confirms the parent held no lease while its children ran.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench.common import POSTGRES_URL, fresh_database
from bench.engine import DEFAULT_REDIS_URL, _observer, _settings, flush_redis, seed, studio, worker_processes
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import FINAL_RUN_STATUSES, RunStatus

NAME = "fanout"
HELP = "time and memory of a foreach over 10,000 no-op children with worker processes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100, help="the foreach's max_concurrency (1-100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


async def measure(items: int, concurrency: int, worker_count: int, admin_url: str, redis_url: str) -> dict[str, float]:
    async with fresh_database("postgres", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
            settings = _settings(url, redis_url, Path(tmp))
            await flush_redis(redis_url)
            observer = _observer(url)
            try:
                async with studio(settings) as state:
                    tenant_id, child_id = await seed(
                        state,
                        {
                            "nodes": [
                                {"id": "start", "type": "trigger.manual", "config": {}},
                                {"id": "noop", "type": "transform", "config": {"value": "{{ input }}"}},
                            ],
                            "edges": [{"source": "start", "target": "noop"}],
                        },
                    )
                    parent = {
                        "nodes": [
                            {"id": "start", "type": "trigger.manual", "config": {}},
                            {
                                "id": "each",
                                "type": "foreach",
                                "config": {
                                    "items": "{{ input.items }}",
                                    "workflow": str(child_id),
                                    "max_concurrency": concurrency,
                                    "on_item_error": "continue",
                                },
                            },
                        ],
                        "edges": [{"source": "start", "target": "each"}],
                    }
                    async with state.sessions.begin() as s:
                        actor = Principal(tenant_id=tenant_id, role=Role.ADMIN, user_id=None)
                        row = await workflows.create(
                            s, tenant_id, actor, state.registry, name="fan-out", description=None, definition=parent
                        )
                        await workflows.publish(s, tenant_id, actor, state.registry, row.id, None)
                    with worker_processes(worker_count, settings, Path(tmp)) as workers:
                        started = time.perf_counter()
                        run, _ = await state.control.start_run(
                            tenant_id, "bench", row.id, input={"items": list(range(items))}
                        )
                        leased_while_waiting = await _wait(observer, tenant_id, run.id, limit_s=3600)
                        elapsed = time.perf_counter() - started
                        peaks = [w.peak_rss_mb() for w in workers]
                    runs = models.Run.__table__
                    async with observer.connect() as conn:
                        parent_row = (
                            await conn.execute(
                                sa.select(runs).where(runs.c.tenant_id == tenant_id, runs.c.id == run.id)
                            )
                        ).one()
                        children = await conn.scalar(
                            sa.select(sa.func.count(sa.distinct(runs.c.item_index))).where(
                                runs.c.tenant_id == tenant_id, runs.c.parent_run_id == run.id
                            )
                        )
                        child_runs = await conn.scalar(
                            sa.select(sa.func.count()).where(
                                runs.c.tenant_id == tenant_id, runs.c.parent_run_id == run.id
                            )
                        )
                    if parent_row.status != RunStatus.SUCCEEDED:
                        raise RuntimeError(f"the fan-out did not succeed: {parent_row.status} {parent_row.error}")
            finally:
                await observer.dispose()
    return {
        "items": items,
        "concurrency": concurrency,
        "workers": worker_count,
        "seconds": elapsed,
        "items_per_s": items / elapsed,
        "worker_peak_rss_mb": max(peaks),
        "api_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_runs": child_runs or 0,
        "distinct_items": children or 0,
        "parent_leased_samples": leased_while_waiting,
    }


async def _wait(observer: object, tenant_id: uuid.UUID, run_id: uuid.UUID, limit_s: float) -> int:
    """Wait for the parent to finish; counts the samples (every 0.2 s) in which it held a lease while WAITING."""
    runs = models.Run.__table__
    leased = 0
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        async with observer.connect() as conn:  # type: ignore[attr-defined]
            row = (
                await conn.execute(
                    sa.select(runs.c.status, runs.c.lease_owner).where(
                        runs.c.tenant_id == tenant_id, runs.c.id == run_id
                    )
                )
            ).one()
        if row.status in FINAL_RUN_STATUSES:
            return leased
        leased += row.status == RunStatus.WAITING and row.lease_owner is not None
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the fan-out did not finish within {limit_s}s")


def main(args: argparse.Namespace) -> int:
    figures = asyncio.run(measure(args.items, args.concurrency, args.workers, args.postgres_url, args.redis_url))
    print(
        "| items | max_concurrency | workers | seconds | items/s | worker peak RSS MiB | API peak RSS MiB"
        " | child runs | parent leased while waiting |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {figures['items']:,} | {figures['concurrency']} | {figures['workers']} | {figures['seconds']:.1f}"
        f" | {figures['items_per_s']:.0f} | {figures['worker_peak_rss_mb']:.0f} | {figures['api_peak_rss_mb']:.0f}"
        f" | {figures['child_runs']:,} ({figures['distinct_items']:,} distinct items)"
        f" | {figures['parent_leased_samples']} samples |"
    )
    return 0
