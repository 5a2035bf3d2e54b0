"""What an error workflow costs the failure path: R failing runs with and without one (embedded SQLite by default).

Each failing run is its manual trigger and one ``fail`` step. For each case, on a fresh database, 20 warm-up runs in
a tenant of their own, then R runs started by 16 concurrent callers until all have failed (and, with an error
workflow, until every error run has finished too). Reports the failed runs' trigger→failed p50/p95 (from their own
timestamps), failed runs/s over the wall time until the last one failed, and how many error runs exist (exactly R
with one: none lost, none doubled).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import DEFAULT_REDIS_URL, _observer, _settings, flush_redis, seed, studio, worker_processes
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import FINAL_RUN_STATUSES, RunStatus

NAME = "error-runs"
HELP = "the failure path's cost with an error workflow: failed runs/s and trigger→failed, with and without one"
STARTERS = 16
WARM_UP = 20  # runs in a tenant of their own before each case, not counted
FAILING: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "boom", "type": "fail", "config": {"message": "broken"}},
    ],
    "edges": [{"source": "start", "target": "boom"}],
}
HANDLER: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "note", "type": "transform", "config": {"value": "{{ input.failed_run.id }}"}},
    ],
    "edges": [{"source": "start", "target": "note"}],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="postgres: studio worker processes")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


async def _count(observer: Any, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> int:
    runs = models.Run.__table__
    async with observer.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.func.count()).where(
                runs.c.tenant_id == tenant_id, runs.c.workflow_id == workflow_id, runs.c.status.in_(FINAL_RUN_STATUSES)
            )
        )
    return int(found or 0)


async def _until(observer: Any, tenant_id: uuid.UUID, workflow_id: uuid.UUID, count: int, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while await _count(observer, tenant_id, workflow_id) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} runs of {workflow_id} finished within {limit_s}s")
        await asyncio.sleep(0.02)


async def one_case(state: Any, observer: Any, runs: int, with_handler: bool) -> dict[str, float]:
    tenant_id, failing = await seed(state, FAILING)
    handler = None
    if with_handler:
        async with state.sessions.begin() as s:
            actor = Principal(tenant_id=tenant_id, role=Role.ADMIN, user_id=None)
            row = await workflows.create(
                s, tenant_id, actor, state.registry, name="on-error", description=None, definition=HANDLER
            )
            await workflows.publish(s, tenant_id, actor, state.registry, row.id, None)
            await s.execute(
                sa.update(models.Workflow).where(models.Workflow.id == failing).values(error_workflow_id=row.id)
            )
        handler = row.id
    pending = iter(range(runs))

    async def starter() -> None:
        for _ in pending:
            await state.control.start_run(tenant_id, "bench", failing)

    started = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(STARTERS)))
    await _until(observer, tenant_id, failing, runs, limit_s=900)
    elapsed = time.perf_counter() - started
    if handler is not None:
        await _until(observer, tenant_id, handler, runs, limit_s=900)
    table = models.Run.__table__
    async with observer.connect() as conn:
        rows = list(await conn.execute(sa.select(table).where(table.c.tenant_id == tenant_id)))
    failed = [r for r in rows if r.workflow_id == failing]
    if any(r.status != RunStatus.FAILED for r in failed):
        raise RuntimeError("a failing run did not fail")
    error_runs = [r for r in rows if r.workflow_id == handler]
    if handler is not None and {r.error_run_id for r in failed} != {r.id for r in error_runs}:
        raise RuntimeError("the failed runs and the error runs do not match one to one")
    latencies = [(r.finished_at - r.created_at).total_seconds() * 1000 for r in failed]
    return {
        "runs": runs,
        "failed_per_s": runs / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "error_runs": len(error_runs),
        "error_runs_succeeded": sum(r.status == RunStatus.SUCCEEDED for r in error_runs),
    }


async def measure(args: argparse.Namespace) -> list[dict[str, float]]:
    results = []
    for with_handler in (False, True):
        async with fresh_database(args.backend, args.postgres_url) as url:
            with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
                redis = args.redis_url if args.backend == "postgres" else None
                settings = _settings(url, redis, Path(tmp))
                if redis:
                    await flush_redis(redis)
                observer = _observer(url)
                try:
                    async with studio(settings) as state:
                        if redis:
                            with worker_processes(args.workers, settings, Path(tmp)):
                                await one_case(state, observer, WARM_UP, with_handler)  # a tenant of its own
                                figures = await one_case(state, observer, args.runs, with_handler)
                        else:
                            await one_case(state, observer, WARM_UP, with_handler)
                            figures = await one_case(state, observer, args.runs, with_handler)
                finally:
                    await observer.dispose()
        results.append({"error_workflow": float(with_handler), **figures})
    return results


def main(args: argparse.Namespace) -> int:
    results = asyncio.run(measure(args))
    print("| error workflow | failed runs | failed runs/s | trigger→failed p50 ms | p95 ms | error runs (succeeded) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for f in results:
        print(
            f"| {'yes' if f['error_workflow'] else 'no'} | {f['runs']:.0f} | {f['failed_per_s']:.0f}"
            f" | {f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['error_runs']:.0f} ({f['error_runs_succeeded']:.0f}) |"
        )
    return 0
