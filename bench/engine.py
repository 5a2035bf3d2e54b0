"""Engine throughput and latency: W10 and D10 in the embedded mode and with real worker processes.

W10 is ten no-op ``transform`` steps in a chain; D10 is one step, eight in parallel, then one that joins
them. Each run also has its manual trigger, which is not counted as a step: figures are per workload step.

For each mode (``embedded``: SQLite with the in-process workers; ``services-N``: PostgreSQL + Redis with N
``studio worker`` processes) and workload, on a fresh database:

1. **burst**: R runs started as fast as the control API accepts them (16 concurrent callers), until all
   finish. steps/s and runs/s over the wall time from the first run created to the last finished;
   trigger→finished p50/p95/p99 from the runs' own timestamps; SQL statements and transactions per step
   (every process: the API's listener plus each worker's totals, logged when it stops; start-up and
   background sweeps included); Redis commands per step (the server's ``total_commands_processed``).
2. **single**: S runs one at a time on the idle system after a short warm-up: trigger→finished p50/p95,
   trigger→first step (the dispatch hop) and the gap from one step's end to the next one's start.

Prints a Markdown table; ``--json PATH`` also writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench import baselines
from bench.common import POSTGRES_URL, fresh_database, percentile
from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.db.stats import SqlStats
from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings
from studio_shared.store import tenants, workflows
from studio_shared.types import FINAL_RUN_STATUSES, RunStatus

NAME = "engine"
HELP = "W10/D10 steps/s, runs/s, latency, SQL and Redis per step: embedded and 1/2 worker processes"

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
STARTERS = 16  # concurrent callers of startRun in the burst
WORKLOAD_STEPS = 10
MODES = ("embedded", "services-1", "services-2")
SCALING_RUNS = (50, 200, 1000)


def _transform(id: str) -> dict[str, Any]:
    return {"id": id, "type": "transform", "config": {"value": id}}


def w10() -> dict[str, Any]:
    ids = [f"s{i}" for i in range(1, 11)]
    nodes = [{"id": "start", "type": "trigger.manual", "config": {}}, *map(_transform, ids)]
    chain = ["start", *ids]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in itertools.pairwise(chain)]}


def d10() -> dict[str, Any]:
    middle = [f"p{i}" for i in range(1, 9)]
    nodes = [{"id": "start", "type": "trigger.manual", "config": {}}, *map(_transform, ["head", *middle, "join"])]
    edges = [{"source": "start", "target": "head"}]
    edges += [{"source": "head", "target": m} for m in middle] + [{"source": m, "target": "join"} for m in middle]
    return {"nodes": nodes, "edges": edges}


WORKLOADS = {"W10": w10, "D10": d10}


@dataclass
class Figures:
    mode: str
    workload: str
    runs: int
    wall_s: float
    latencies_ms: list[float]
    statements: int
    transactions: int
    redis_commands: int | None
    single_ms: list[float] = field(default_factory=list)
    dispatch_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    worker_idle_rss_mb: float | None = None  # services modes: a worker after start-up, before any run
    worker_peak_rss_mb: float | None = None  # the largest worker's peak during the burst
    process_peak_rss_mb: float | None = None  # this process: the API (and, embedded, its workers)

    @property
    def steps(self) -> int:
        return self.runs * WORKLOAD_STEPS

    def row(self) -> str:
        per_step = self.statements / self.steps
        redis = f"{self.redis_commands / self.steps:.1f}" if self.redis_commands is not None else "n/a"
        return (
            f"| {self.mode} | {self.workload} | {self.runs} | {self.steps / self.wall_s:,.0f}"
            f" | {self.runs / self.wall_s:.1f}"
            f" | {percentile(self.latencies_ms, 50):.0f} | {percentile(self.latencies_ms, 95):.0f}"
            f" | {percentile(self.latencies_ms, 99):.0f} | {per_step:.2f} | {self.transactions / self.steps:.2f}"
            f" | {redis} | {percentile(self.single_ms, 50):.1f} | {percentile(self.single_ms, 95):.1f}"
            f" | {percentile(self.dispatch_ms, 50):.1f} | {percentile(self.gaps_ms, 50):.2f} |"
        )


HEADER = (
    "| mode | workload | runs | steps/s | runs/s | burst p50 ms | p95 ms | p99 ms | SQL stmts/step | SQL tx/step"
    " | Redis cmds/step | single p50 ms | single p95 ms | dispatch p50 ms | step gap p50 ms |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--workloads", default="W10,D10", help="comma-separated, of W10, D10")
    parser.add_argument("--runs", type=int, default=200, help="runs in the burst (default 200)")
    parser.add_argument("--single", type=int, default=30, help="runs measured one at a time (default 30)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="admin URL for the scratch database")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database the benchmark may empty")
    parser.add_argument(
        "--json", type=Path, help="where to write every figure (default: bench/results/<timestamp>.json)"
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the Celery and raw-asyncpg baselines and the targets"
    )
    parser.add_argument("--scaling", action="store_true", help="also W10 with 2 workers at R = 50, 200, 1,000")
    parser.add_argument("--logs", type=Path, help="keep the worker processes' logs in this folder")


# ------------------------------------------------------------------------------------------- processes


def _settings(database_url: str, redis_url: str | None, state_dir: Path) -> Settings:
    return Settings(
        env=Env.TEST,
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        secret_key=SecretStr(secrets.token_urlsafe(48)),
        state_dir=state_dir,
        # This process's own app state seeds tenants and starts the runs a benchmark or scenario measures: it does
        # not pace itself. The processes under test (serve, worker, scheduler) get their settings from the
        # environment (studio_env) and keep the default pace.
        run_starts_per_tenant_per_s=0,
    )


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MiB."""
        return self._status_mb("VmHWM")

    def rss_mb(self) -> float:
        """The process's resident memory now (VmRSS), in MiB."""
        return self._status_mb("VmRSS")

    def _status_mb(self, field: str) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(rf"{field}:\s+(\d+) kB", status)
        return int(found[1]) / 1024 if found else float("nan")


def studio_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a ``studio`` process (worker, serve) that shares this benchmark's settings."""
    return {
        **os.environ,
        "STUDIO_ENV": "test",
        "STUDIO_DATABASE_URL": settings.database_url,
        "STUDIO_REDIS_URL": settings.redis_url or "",
        "STUDIO_JWT_SECRET": settings.jwt_secret.get_secret_value() if settings.jwt_secret else "",
        "STUDIO_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "STUDIO_STATE_DIR": str(settings.state_dir),
        **extra,
    }


PROCESS_LOGS: dict[int, Path] = {}  # pid: the log of a process started here (to show what a hung one was doing)
_SPAWNED: list[subprocess.Popen[bytes]] = []


def studio_argv(*args: str) -> list[str]:
    """``studio <args>`` run by this interpreter (the checkout's code, whatever the venv's entry points)."""
    return [sys.executable, "-c", "from studio_gql.cli import main; main()", *args]


def spawn_logged(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process of ours with its output in ``log`` (remembered in ``PROCESS_LOGS``, ended by ``end_spawned``)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    PROCESS_LOGS[proc.pid] = log
    _SPAWNED.append(proc)
    return proc


def end_spawned() -> None:
    """Kill every process ``spawn_logged`` started that still runs: a benchmark or scenario stopped from outside
    (Ctrl-C, SIGTERM, a timeout) leaves no ``studio worker`` polling Redis behind it."""
    for proc in _SPAWNED:
        if proc.poll() is None:
            proc.kill()
    for proc in _SPAWNED:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def log_tail(proc: subprocess.Popen[bytes], chars: int = 4000) -> str:
    log = PROCESS_LOGS.get(proc.pid)
    return log.read_text(errors="replace")[-chars:] if log is not None and log.exists() else "(no log)"


def start_studio(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One ``studio <command>`` process (worker, scheduler), returned once its log says it is ready."""
    proc = spawn_logged(studio_argv(command), env, log)
    deadline = time.monotonic() + 30
    while b"ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"studio {command} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def stop_studio(procs: list[subprocess.Popen[bytes]], timeout_s: float = 30) -> None:
    """SIGTERM every live process, then wait (killing those that outlast ``timeout_s``)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def worker_processes(
    count: int, settings: Settings, logs: Path, command: str = "worker"
) -> Iterator[list[WorkerProcess]]:
    """``count`` real ``studio worker`` (or ``command``) processes; SIGTERM on exit, their logs kept."""
    env = studio_env(settings)
    procs: list[WorkerProcess] = []
    try:
        for i in range(count):
            log = logs / f"{command}-{i}-{secrets.token_hex(3)}.log"
            procs.append(WorkerProcess(start_studio(command, env, log), log))
        yield procs
    finally:
        stop_studio([p.proc for p in procs])


def worker_sql(workers: list[WorkerProcess]) -> tuple[int, int]:
    """Statements and transactions the stopped workers logged."""
    statements = transactions = 0
    for worker in workers:
        path = worker.log
        found = re.search(r"sql statements=(\d+) transactions=(\d+)", path.read_text())
        if found is None:
            raise RuntimeError(f"worker log {path} has no SQL totals (did it stop cleanly?)")
        statements += int(found[1])
        transactions += int(found[2])
    return statements, transactions


async def redis_commands(url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("stats")
        return int(info["total_commands_processed"])
    finally:
        await client.aclose()


async def flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------------------- measuring


@asynccontextmanager
async def studio(settings: Settings) -> AsyncIterator[AppState]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app.state.studio


async def seed(state: AppState, definition: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    async with state.sessions.begin() as s:
        tenant = await tenants.get_or_create_tenant(s, f"bench-{secrets.token_hex(4)}")
        user = await tenants.create_user(s, tenant.id, f"admin@{tenant.slug}.example", "x" * 16, Role.ADMIN)
        actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=user.id)
        row = await workflows.create(
            s, tenant.id, actor, state.registry, name="bench", description=None, definition=definition
        )
        await workflows.publish(s, tenant.id, actor, state.registry, row.id, None)
    return tenant.id, row.id


async def burst(
    state: AppState, observer: AsyncEngine, tenant_id: uuid.UUID, workflow_id: uuid.UUID, runs: int
) -> None:
    pending = iter(range(runs))

    async def starter() -> None:
        for _ in pending:
            await state.control.start_run(tenant_id, "bench", workflow_id)

    await asyncio.gather(*(starter() for _ in range(STARTERS)))
    await until_finished(observer, tenant_id, runs, limit_s=600)


async def until_finished(observer: AsyncEngine, tenant_id: uuid.UUID, count: int, limit_s: float) -> None:
    """Poll (through an uninstrumented engine) until ``count`` runs of the tenant are final."""
    runs = models.Run.__table__
    query = sa.select(sa.func.count()).where(runs.c.tenant_id == tenant_id, runs.c.status.in_(FINAL_RUN_STATUSES))
    deadline = time.monotonic() + limit_s
    while True:
        async with observer.connect() as conn:
            done = await conn.scalar(query)
        if (done or 0) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} runs finished within {limit_s}s")
        await asyncio.sleep(0.005 if count == 1 else 0.05)


async def run_rows(observer: AsyncEngine, tenant_id: uuid.UUID) -> list[Any]:
    runs = models.Run.__table__
    async with observer.connect() as conn:
        rows = list(await conn.execute(sa.select(runs).where(runs.c.tenant_id == tenant_id)))
    failed = [r for r in rows if r.status != RunStatus.SUCCEEDED]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not succeed, e.g. {failed[0].status}: {failed[0].error}")
    return rows


def _ms(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() * 1000


async def single_runs(
    state: AppState, observer: AsyncEngine, definition: dict[str, Any], count: int
) -> tuple[list[float], list[float], list[float]]:
    """``count`` runs one at a time in a tenant of their own: trigger→finished, dispatch and step gaps (ms)."""
    tenant_id, workflow_id = await seed(state, definition)
    warmup = 3  # caches, connections
    for finished in range(1, warmup + count + 1):
        await state.control.start_run(tenant_id, "bench", workflow_id)
        await until_finished(observer, tenant_id, finished, limit_s=60)
    rows = sorted(await run_rows(observer, tenant_id), key=lambda r: r.created_at)[warmup:]
    steps = models.Step.__table__
    totals, dispatch, gaps = [], [], []
    async with observer.connect() as conn:
        for run in rows:
            totals.append(_ms(run.created_at, run.finished_at))
            step_rows = list(
                await conn.execute(
                    sa.select(steps.c.started_at, steps.c.finished_at).where(
                        steps.c.tenant_id == tenant_id, steps.c.run_id == run.id, steps.c.step_id != "start"
                    )
                )
            )
            ordered = sorted(step_rows, key=lambda r: r.started_at)
            dispatch.append(_ms(run.created_at, ordered[0].started_at))
            for before, after in itertools.pairwise(ordered):
                if after.started_at >= before.finished_at:  # sequential neighbours (D10's parallel ones overlap)
                    gaps.append(_ms(before.finished_at, after.started_at))
    return totals, dispatch, gaps


def _observer(url: str) -> AsyncEngine:
    # Plain engine: no statement counting, and on SQLite a deferred BEGIN that never takes the write lock.
    return create_async_engine(url, pool_size=1) if url.startswith("postgresql") else create_async_engine(url)


async def measure(
    mode: str, workload: str, runs: int, single: int, admin_url: str, redis_url: str, logs: Path | None = None
) -> Figures:
    definition = WORKLOADS[workload]()
    services = mode.startswith("services-")
    async with fresh_database("postgres" if services else "sqlite", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
            settings = _settings(url, redis_url if services else None, Path(tmp))
            observer = _observer(url)
            try:
                if services:
                    await flush_redis(redis_url)
                count = int(mode.split("-")[1]) if services else 0
                async with studio(settings) as state:
                    tenant_id, workflow_id = await seed(state, definition)
                    sql = SqlStats().attach(state.db_engine)
                    redis_before = await redis_commands(redis_url) if services else None
                    log_dir = logs or Path(tmp)
                    log_dir.mkdir(parents=True, exist_ok=True)
                    with worker_processes(count, settings, log_dir) as log_files:
                        idle_rss = max((w.rss_mb() for w in log_files), default=None)
                        await burst(state, observer, tenant_id, workflow_id, runs)
                        redis_after = await redis_commands(redis_url) if services else None
                        peak_rss = max((w.peak_rss_mb() for w in log_files), default=None)
                    sql = sql.snapshot()
                    worker_statements, worker_transactions = worker_sql(log_files) if services else (0, 0)
                    rows = await run_rows(observer, tenant_id)
                    first = min(r.created_at for r in rows)
                    last = max(r.finished_at for r in rows)
                    figures = Figures(
                        mode=mode,
                        workload=workload,
                        runs=runs,
                        wall_s=(last - first).total_seconds(),
                        latencies_ms=[_ms(r.created_at, r.finished_at) for r in rows],
                        statements=sql.statements + worker_statements,
                        transactions=sql.transactions + worker_transactions,
                        worker_idle_rss_mb=idle_rss,
                        worker_peak_rss_mb=peak_rss,
                        process_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        redis_commands=(redis_after - redis_before - 1)
                        if redis_after is not None and redis_before is not None
                        else None,
                    )
                    with worker_processes(count, settings, log_dir):
                        figures.single_ms, figures.dispatch_ms, figures.gaps_ms = await single_runs(
                            state, observer, definition, single
                        )
            finally:
                await observer.dispose()
    return figures


def main(args: argparse.Namespace) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [m for m in modes if m not in MODES] + [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"unknown mode or workload: {', '.join(unknown)}", file=sys.stderr)
        return 2
    results: list[Figures] = []
    print(HEADER)
    for mode in modes:
        for workload in workloads:
            figures = asyncio.run(
                measure(mode, workload, args.runs, args.single, args.postgres_url, args.redis_url, args.logs)
            )
            results.append(figures)
            print(figures.row(), flush=True)
    print(
        f"\nsteps = {WORKLOAD_STEPS} per run (the trigger not counted); burst: {args.runs} runs from {STARTERS} "
        "concurrent callers; SQL and Redis counts cover every process, start-up and background sweeps included."
    )
    report: dict[str, Any] = {"engine": [asdict(r) for r in results]}
    print("\n| mode | workload | worker RSS idle MiB | worker peak RSS under load MiB | this process peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in results:
        idle = f"{r.worker_idle_rss_mb:.0f}" if r.worker_idle_rss_mb is not None else "n/a"
        peak = f"{r.worker_peak_rss_mb:.0f}" if r.worker_peak_rss_mb is not None else "n/a"
        print(f"| {r.mode} | {r.workload} | {idle} | {peak} | {r.process_peak_rss_mb or 0:.0f} |")
    if args.scaling:
        report["scaling"] = scaling(args)
    if not args.no_baselines:
        report.update(compare(results, workloads, args))
    path = args.json or REPO / "bench" / "results" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nfigures written to {path}")
    return 0


def scaling(args: argparse.Namespace) -> dict[str, Any]:
    """W10 steps/s with 2 workers at R = 50, 200 and 1,000 runs started at once: cost must not grow with R."""
    rates: dict[int, float] = {}
    print("\n| runs at once | W10 steps/s (2 workers) | burst p95 ms |\n| ---: | ---: | ---: |")
    for runs in SCALING_RUNS:
        figures = asyncio.run(measure("services-2", "W10", runs, 3, args.postgres_url, args.redis_url, args.logs))
        rates[runs] = figures.steps / figures.wall_s
        print(f"| {runs:,} | {rates[runs]:,.0f} | {percentile(figures.latencies_ms, 95):.0f} |", flush=True)
    ratio = rates[SCALING_RUNS[-1]] / rates[200]
    verdict = "PASS" if ratio >= 0.8 else "MISS"
    print(f"\nR = {SCALING_RUNS[-1]:,} runs at {ratio:.2f}x the steps/s of R = 200 (target >= 0.80): {verdict}")
    return {"steps_per_s": rates, "ratio_1000_to_200": ratio}


def compare(results: list[Figures], workloads: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Measure the baselines in this same run, print the ratios and PASS/MISS against the targets."""
    raw = asyncio.run(baselines.raw_postgres(args.postgres_url)).steps_per_s
    celery = baselines.celery(workloads, args.runs, args.single)
    print("\n| workload | baseline | baseline steps/s | ours (best services mode) steps/s | ours / baseline |")
    print("| --- | --- | ---: | ---: | ---: |")
    targets: list[tuple[str, bool, str]] = []
    by = {(r.mode, r.workload): r for r in results}
    for workload in workloads:
        services = [r for r in results if r.workload == workload and r.mode.startswith("services-")]
        best = max(services, key=lambda r: r.steps / r.wall_s, default=None)
        ours = best.steps / best.wall_s if best else float("nan")
        print(f"| {workload} | raw asyncpg, 4 connections | {raw:,.0f} | {ours:,.0f} | {ours / raw:.2f} |")
        if best:
            targets.append((f"{workload} services >= 0.5x raw asyncpg", ours >= 0.5 * raw, f"{ours / raw:.2f}x"))
        base = celery.get(workload) if isinstance(celery, dict) else None
        if base is not None:
            ratio = ours / base.steps_per_s
            print(f"| {workload} | {base.name} | {base.steps_per_s:,.0f} | {ours:,.0f} | {ratio:.2f} |")
            if best:
                targets.append((f"{workload} services >= 2x Celery", ratio >= 2, f"{ratio:.2f}x"))
            single = by.get(("services-2", workload)) or by.get(("services-1", workload))
            if single is not None:
                p50 = percentile(single.single_ms, 50)
                measured = f"{p50:.1f} ms vs {base.single_p50():.1f} ms"
                targets.append((f"{workload} single-run p50 <= Celery's", p50 <= base.single_p50(), measured))
        embedded = by.get(("embedded", workload))
        if embedded is not None:
            rate = embedded.steps / embedded.wall_s
            targets.append((f"{workload} embedded >= 1,000 steps/s", rate >= 1000, f"{rate:,.0f} steps/s"))
    peaks = [r.worker_peak_rss_mb for r in results if r.worker_peak_rss_mb is not None]
    if peaks:
        targets.append(("worker RSS under load <= 120 MiB", max(peaks) <= 120, f"{max(peaks):.0f} MiB"))
    if isinstance(celery, str):
        print(f"\n{celery}")
    print("\n| target | result | measured |\n| --- | --- | --- |")
    for name, passed, measured in targets:
        print(f"| {name} | {'PASS' if passed else 'MISS'} | {measured} |")
    return {
        "raw_postgres_steps_per_s": raw,
        "celery": {w: asdict(b) for w, b in celery.items()} if isinstance(celery, dict) else celery,
        "targets": [{"target": n, "passed": p, "measured": m} for n, p, m in targets],
    }
