"""What a client sees: runs started over HTTP, their end learned from a subscription or a webhook's reply.

The headline of ``make bench``. For each mode (``services``: a ``studio serve`` process beside two ``studio worker``
processes on PostgreSQL + Redis; ``embedded``: one ``studio serve`` on SQLite with its in-process workers), every
process started exactly as a user starts it, with the product's default settings (the start pace included):

- **GraphQL**: a client sends ``startRun`` over HTTP, then subscribes to the run's ``runEvents`` on its websocket
  (graphql-transport-ws) and waits for the stream to complete. Burst: R runs from C concurrent clients (each one
  HTTP connection and one websocket); steps/s over the wall time from the first request to the last completion.
  Single: S runs one at a time, request sent to completion received.
- **Webhook**: a signed Standard Webhooks delivery to ``/hooks/{id}?wait=30``, answered when the run is final.
  The same burst and single measurements.
- **Celery** (``bench/celery_baseline.py``, in its own venv): ``apply_async`` then ``get()``, the same workloads, in
  the same invocation, so the ratios compare runs measured the same way on the same machine at the same time.

The breakdown, from the runs' own database timestamps (the single runs): queue (run created → its first step
started), execution (first step started → run finished) and notification (run finished → the client saw it). The
load client's own CPU is reported: it shares the two cores with everything it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import resource
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from bench import baselines
from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import (
    DEFAULT_REDIS_URL,
    WORKLOADS,
    _observer,
    _settings,
    flush_redis,
    redis_commands,
    studio,
    worker_processes,
)
from bench.subscriptions import _free_port, _rss_mb, _serve
from bench.webhooks import _wait_ready
from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import tenants, webhooks, workflows
from studio_shared.types import WebhookAuth
from studio_shared.webhooks import standard_headers

NAME = "client"
HELP = "client-visible: startRun over HTTP + runEvents, and webhooks with ?wait, against Celery (the headline)"
MODES = ("services", "embedded")
STEPS = 10  # per run of either workload (the trigger not counted)
START = "mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code message } } }"
EVENTS = "subscription($id: ID!) { runEvents(runId: $id) { seq final } }"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--workloads", default="W10,D10", help="comma-separated, of W10, D10")
    parser.add_argument("--runs", type=int, default=200, help="runs in each burst (default 200)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in a burst (default 16)")
    parser.add_argument("--single", type=int, default=30, help="runs measured one at a time (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="studio worker processes in services mode")
    parser.add_argument("--paths", default="GraphQL,webhook", help="comma-separated, of GraphQL, webhook")
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery baseline and its ratios")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--json", type=Path, help="also write every figure here")


@dataclass
class Series:
    """One path (GraphQL or webhook) of one workload in one mode: the burst and the single runs."""

    mode: str
    path: str
    workload: str
    runs: int
    burst_s: float
    burst_ms: list[float]
    single_ms: list[float]
    client_cpu_s: float  # the load client's CPU during the burst
    queue_ms: list[float] = field(default_factory=list)
    execution_ms: list[float] = field(default_factory=list)
    notification_ms: list[float] = field(default_factory=list)
    api_peak_mb: float = float("nan")
    worker_peak_mb: float | None = None
    api_cpu_ms_per_run: float = float("nan")  # the API process's CPU during the burst, per run
    worker_cpu_ms_per_run: float | None = None  # every worker process's, per run (services)
    pg_transactions_per_run: float | None = None  # the database's commits and rollbacks in the burst, per run
    redis_commands_per_run: float | None = None  # the Redis server's commands in the burst, per run
    pg_cpu_ms_per_run: float | None = None  # every postgres process's CPU in the burst, per run (services)
    redis_cpu_ms_per_run: float | None = None  # the redis-server's

    @property
    def steps_per_s(self) -> float:
        return self.runs * STEPS / self.burst_s

    def single_p50(self) -> float:
        return percentile(self.single_ms, 50)


# ------------------------------------------------------------------------------------------- the clients


class Client:
    """One client: an HTTP connection (keep-alive) and one websocket, as an application would hold them."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(
            f"{self.base.replace('http', 'ws', 1)}/graphql", protocols=("graphql-transport-ws",)
        )
        await self.ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}})
        ack = await self.ws.receive_json()
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"the websocket was not acknowledged: {ack}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, workflow_id: str) -> tuple[str, float]:
        """startRun, then runEvents until the stream completes: (run id, when the client saw the end)."""
        async with self.http.post(
            f"{self.base}/graphql",
            json={"query": START, "variables": {"w": workflow_id}},
            headers={"authorization": f"Bearer {self.token}"},
        ) as response:
            body = await response.json()
        started = (body.get("data") or {}).get("startRun") or {}
        if started.get("errors") or not started.get("run"):
            raise RuntimeError(f"startRun failed: {body}")
        run_id = started["run"]["id"]
        assert self.ws is not None
        sub = str(next(self.ids))
        await self.ws.send_json(
            {"id": sub, "type": "subscribe", "payload": {"query": EVENTS, "variables": {"id": run_id}}}
        )
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 120)
            if message.get("id") != sub:
                continue
            if message["type"] == "complete":
                return run_id, time.time()
            if message["type"] != "next" or message["payload"].get("errors"):
                raise RuntimeError(f"the subscription failed: {message}")


class Hook:
    """A webhook's sender: signed deliveries with ``?wait=30``, answered when the run is final."""

    def __init__(self, http: aiohttp.ClientSession, base: str, hook_id: uuid.UUID, secret: str) -> None:
        self.http, self.url, self.secret = http, f"{base}/hooks/{hook_id}?wait=30", secret

    async def run(self) -> tuple[str, float]:
        body = json.dumps({"n": secrets.token_hex(4)}).encode()
        headers = standard_headers(self.secret, f"msg_{secrets.token_hex(8)}", body)
        async with self.http.post(self.url, data=body, headers=headers) as response:
            answer = await response.json()
            if response.status != 200 or answer.get("status") != "SUCCEEDED":
                raise RuntimeError(f"the delivery was answered {response.status}: {answer}")
        return answer["run_id"], time.time()


async def timed(
    actors: list[Callable[[], Awaitable[tuple[str, float]]]], runs: int
) -> tuple[float, list[float], float, dict[str, float]]:
    """``runs`` runs from the actors concurrently: wall s, latencies ms, client CPU s, and when each run was seen."""
    pending = iter(range(runs))
    latencies: list[float] = []
    seen: dict[str, float] = {}

    async def drive(actor: Callable[[], Awaitable[tuple[str, float]]]) -> None:
        for _ in pending:
            t0 = time.perf_counter()
            run_id, at = await actor()
            latencies.append((time.perf_counter() - t0) * 1000)
            seen[run_id] = at

    cpu0, t0 = _cpu_s(), time.perf_counter()
    await asyncio.gather(*(drive(a) for a in actors))
    return time.perf_counter() - t0, latencies, _cpu_s() - cpu0, seen


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------------------- the studio


@dataclass
class World:
    base: str
    token: str
    workflows: dict[str, str]  # workload -> workflow id
    hooks: dict[str, tuple[uuid.UUID, str]]  # workload -> (webhook id, secret)
    tenant_id: uuid.UUID
    redis_url: str
    server: subprocess.Popen[bytes]
    workers: list[Any]
    observer: Any


@asynccontextmanager
async def running(
    mode: str, workloads: list[str], workers: int, admin_url: str, redis_url: str
) -> AsyncIterator[World]:
    services = mode == "services"
    async with fresh_database("postgres" if services else "sqlite", admin_url) as url, AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="studio-bench-client-")))
        settings = _settings(url, redis_url if services else None, tmp)
        if services:
            await flush_redis(redis_url)
        tenant_id, workflows, hooks, token = await _seed(settings, workloads)
        port = _free_port()
        server = _serve(settings, port, tmp / "serve.log")
        stack.callback(_stop, server)
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, tmp / "serve.log")
        procs = stack.enter_context(worker_processes(workers, settings, tmp)) if services else []
        observer = _observer(url)
        stack.push_async_callback(observer.dispose)
        yield World(base, token, workflows, hooks, tenant_id, redis_url, server, procs, observer)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def _seed(
    settings: Settings, workloads: list[str]
) -> tuple[uuid.UUID, dict[str, str], dict[str, tuple[uuid.UUID, str]], str]:
    """A tenant with each workload published twice (a manual and a webhook trigger), an operator's token."""
    workflow_ids: dict[str, str] = {}
    hooks: dict[str, tuple[uuid.UUID, str]] = {}
    # This process only writes the seed (no run starts while it lives); the studio under test runs the runs.
    async with studio(settings.model_copy(update={"redis_url": None})) as state, state.sessions.begin() as s:
        tenant = await tenants.get_or_create_tenant(s, f"client-{secrets.token_hex(4)}")
        user = await tenants.create_user(s, tenant.id, "operator@client.bench", "x" * 16, Role.OPERATOR)
        actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=user.id)

        async def publish(definition: dict[str, Any]) -> uuid.UUID:
            row = await workflows.create(
                s, tenant.id, actor, state.registry, name="bench", description=None, definition=definition
            )
            await workflows.publish(s, tenant.id, actor, state.registry, row.id, None)
            return row.id

        for workload in workloads:
            workflow_ids[workload] = str(await publish(WORKLOADS[workload]()))
            hooked = WORKLOADS[workload]()
            hooked["nodes"][0]["type"] = "trigger.webhook"
            hook, secret = await webhooks.create(
                s, state.box, tenant.id, actor, await publish(hooked), WebhookAuth.STANDARD, True, None
            )
            assert secret is not None
            hooks[workload] = (hook.id, secret)
    token = encode_access_token(settings, subject=user.id, tenant_id=tenant.id, role=Role.OPERATOR)
    return tenant.id, workflow_ids, hooks, token


# ------------------------------------------------------------------------------------------- measuring


async def measure(mode: str, workloads: list[str], args: argparse.Namespace) -> list[Series]:
    """Both paths of every workload in one studio: the bursts, then the single runs and their breakdown."""
    series: list[Series] = []
    async with running(mode, workloads, args.workers, args.postgres_url, args.redis_url) as world:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            clients = [Client(http, world.base, world.token) for _ in range(args.clients)]
            await asyncio.gather(*(c.connect() for c in clients))
            try:
                for workload, path in itertools.product(workloads, args.paths.split(",")):
                    actors: list[Callable[[], Awaitable[tuple[str, float]]]]
                    if path == "GraphQL":
                        workflow = world.workflows[workload]
                        actors = [functools.partial(c.run, workflow) for c in clients]
                    else:
                        hook = Hook(http, world.base, *world.hooks[workload])
                        actors = [hook.run] * args.clients
                    await timed(actors[:1], 5)  # warm-up: connections, caches, the workers' first jobs
                    counts0 = await _server_counts(world)
                    api0, workers0 = _proc_cpu_s(world.server.pid), [_proc_cpu_s(w.proc.pid) for w in world.workers]
                    servers0 = _servers_cpu_s()
                    wall, burst, cpu, _ = await timed(actors, args.runs)
                    api_cpu = _proc_cpu_s(world.server.pid) - api0
                    worker_cpu = sum(_proc_cpu_s(w.proc.pid) for w in world.workers) - sum(workers0)
                    servers1 = _servers_cpu_s()
                    counts1 = await _server_counts(world)
                    _, single, _, seen = await timed(actors[:1], args.single)
                    one = Series(mode, path, workload, args.runs, wall, burst, single, cpu)
                    one.queue_ms, one.execution_ms, one.notification_ms = await breakdown(world, seen)
                    if counts0 is not None and counts1 is not None:
                        one.pg_transactions_per_run = (counts1[0] - counts0[0]) / args.runs
                        one.redis_commands_per_run = (counts1[1] - counts0[1]) / args.runs
                        pg, redis = (
                            sum(after - servers0.get(pid, (name, 0.0))[1] for pid, (name, after) in servers1.items()
                                if name == kind)
                            for kind in ("postgres", "redis-server")
                        )  # fmt: skip
                        one.pg_cpu_ms_per_run, one.redis_cpu_ms_per_run = (
                            pg * 1000 / args.runs,
                            redis * 1000 / args.runs,
                        )
                    one.api_cpu_ms_per_run = api_cpu * 1000 / args.runs
                    one.worker_cpu_ms_per_run = worker_cpu * 1000 / args.runs if world.workers else None
                    one.api_peak_mb = _peak_mb(world.server.pid)
                    one.worker_peak_mb = max((w.peak_rss_mb() for w in world.workers), default=None)
                    series.append(one)
                    print(one_row(one), flush=True)
            finally:
                await asyncio.gather(*(c.close() for c in clients))
    return series


async def breakdown(world: World, seen: dict[str, float]) -> tuple[list[float], list[float], list[float]]:
    """Queue, execution and notification of the runs seen, from their database timestamps (ms)."""
    runs, steps = models.Run.__table__, models.Step.__table__
    ids = [uuid.UUID(r) for r in seen]
    first_step = (
        sa.select(steps.c.run_id, sa.func.min(steps.c.started_at).label("first"))
        .where(steps.c.tenant_id == world.tenant_id, steps.c.run_id.in_(ids), steps.c.step_id != "start")
        .group_by(steps.c.run_id)
        .subquery()
    )
    query = sa.select(runs.c.id, runs.c.created_at, runs.c.finished_at, first_step.c.first).join(
        first_step, first_step.c.run_id == runs.c.id
    )
    queue, execution, notification = [], [], []
    async with world.observer.connect() as conn:
        for row in await conn.execute(query):
            created, first, finished = (_utc(t) for t in (row.created_at, row.first, row.finished_at))
            queue.append((first - created) * 1000)
            execution.append((finished - first) * 1000)
            notification.append((seen[str(row.id)] - finished) * 1000)
    return queue, execution, notification


def _utc(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def _server_counts(world: World) -> tuple[int, int] | None:
    """Services: the database's transactions (commits and rollbacks, autocommit statements included) and the Redis
    server's commands so far. Each PostgreSQL backend reports its counts at most once a second: wait that out."""
    if not world.workers:
        return None
    await asyncio.sleep(1.5)
    async with world.observer.connect() as conn:
        query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        transactions = int(await conn.scalar(sa.text(query)))
    return transactions, await redis_commands(world.redis_url)


def _servers_cpu_s() -> dict[int, tuple[str, float]]:
    """The CPU so far of every PostgreSQL and Redis server process on this machine (the database's backends come and
    go with connections: one that started during the burst counts from zero)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if name in ("postgres", "redis-server"):
                found[int(entry.name)] = (name, _proc_cpu_s(int(entry.name)))
        except OSError:  # gone meanwhile
            continue
    return found


def _proc_cpu_s(pid: int) -> float:
    """A process's CPU so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return _rss_mb(pid)


# ------------------------------------------------------------------------------------------- reporting

HEADER = (
    "| mode | path | workload | burst steps/s | burst p50 ms | burst p95 ms | single p50 ms | single p95 ms"
    " | client CPU (share of a core) | API CPU ms/run | workers CPU ms/run | queue p50 ms | execution p50 ms"
    " | notification p50 ms |\n"
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def one_row(s: Series) -> str:
    p50 = functools.partial(percentile, p=50)
    workers = "n/a" if s.worker_cpu_ms_per_run is None else f"{s.worker_cpu_ms_per_run:.1f}"
    return (
        f"| {s.mode} | {s.path} | {s.workload} | {s.steps_per_s:,.0f} | {p50(s.burst_ms):.0f}"
        f" | {percentile(s.burst_ms, 95):.0f} | {s.single_p50():.1f} | {percentile(s.single_ms, 95):.1f}"
        f" | {s.client_cpu_s / s.burst_s:.0%} | {s.api_cpu_ms_per_run:.1f} | {workers}"
        f" | {p50(s.queue_ms):.1f} | {p50(s.execution_ms):.1f} | {p50(s.notification_ms):.1f} |"
    )


def targets(results: list[Series], celery: dict[str, baselines.Baseline] | str) -> list[tuple[str, bool, str]]:
    found: list[tuple[str, bool, str]] = []
    by = {(r.mode, r.path, r.workload): r for r in results}
    for workload in dict.fromkeys(r.workload for r in results):
        ours = by.get(("services", "GraphQL", workload))
        base = celery.get(workload) if isinstance(celery, dict) else None
        if ours is not None and base is not None:
            ratio = ours.steps_per_s / base.steps_per_s
            found.append((f"{workload} burst >= 2x Celery (GraphQL + runEvents)", ratio >= 2, f"{ratio:.2f}x"))
            single = ours.single_p50() / base.single_p50()
            found.append(
                (
                    f"{workload} single p50 <= 1.0x Celery's",
                    single <= 1.0,
                    f"{ours.single_p50():.1f} ms vs {base.single_p50():.1f} ms ({single:.2f}x)",
                )
            )
        if ours is not None and workload == "W10":
            found.append(("W10 single p50 <= 15 ms", ours.single_p50() <= 15, f"{ours.single_p50():.1f} ms"))
        embedded = by.get(("embedded", "GraphQL", workload))
        if embedded is not None:
            rate = embedded.steps_per_s
            found.append((f"{workload} embedded burst >= 1,000 steps/s", rate >= 1000, f"{rate:,.0f} steps/s"))
    services = [r for r in results if r.mode == "services"]
    if services:
        worker = max(r.worker_peak_mb or 0 for r in services)
        api = max(r.api_peak_mb for r in services)
        found.append(("worker peak RSS <= 120 MiB", worker <= 120, f"{worker:.0f} MiB"))
        found.append(("API peak RSS <= 150 MiB", api <= 150, f"{api:.0f} MiB"))
    return found


def main(args: argparse.Namespace) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [m for m in modes if m not in MODES] + [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"unknown mode or workload: {', '.join(unknown)}")
        return 2
    print(HEADER)
    results = [s for mode in modes for s in asyncio.run(measure(mode, workloads, args))]
    print(
        f"\nburst: {args.runs} runs from {args.clients} concurrent clients (each one HTTP connection and one websocket;"
        f" webhook senders share a connection pool); single: {args.single} runs one at a time. Latencies are what the"
        " client measured, request sent to end seen; queue / execution / notification are the single runs'"
        " breakdown from the database's timestamps. Services: studio serve + "
        f"{args.workers} studio worker processes (PostgreSQL, Redis); embedded: studio serve on SQLite."
    )
    planned = [r for r in results if r.pg_transactions_per_run is not None]
    if planned:
        print(
            "\n| path | workload | PostgreSQL transactions/run | Redis commands/run | CPU ms/run: API | workers"
            " | PostgreSQL | Redis |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in planned:
            print(
                f"| {r.path} | {r.workload} | {r.pg_transactions_per_run:.1f} | {r.redis_commands_per_run:.1f}"
                f" | {r.api_cpu_ms_per_run:.1f} | {r.worker_cpu_ms_per_run or 0:.1f} | {r.pg_cpu_ms_per_run or 0:.1f}"
                f" | {r.redis_cpu_ms_per_run or 0:.1f} |"
            )
    celery: dict[str, baselines.Baseline] | str = "Celery skipped (--no-celery)"
    if not args.no_celery:
        celery = baselines.celery(workloads, args.runs, args.single)
        if isinstance(celery, dict):
            print("\n| workload | Celery burst steps/s | Celery single p50 ms | ours, services steps/s | ratio |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for workload, base in celery.items():
                ours = next(
                    (r for r in results if (r.mode, r.path, r.workload) == ("services", "GraphQL", workload)), None
                )
                rate = ours.steps_per_s if ours else float("nan")
                print(
                    f"| {workload} | {base.steps_per_s:,.0f} | {base.single_p50():.1f} | {rate:,.0f}"
                    f" | {rate / base.steps_per_s:.2f}x |"
                )
        else:
            print(f"\n{celery}")
    found = targets(results, celery)
    print("\n| target | result | measured |\n| --- | --- | --- |")
    for name, passed, measured in found:
        print(f"| {name} | {'PASS' if passed else 'MISS'} | {measured} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "series": [asdict(r) for r in results],
                    "celery": {w: asdict(b) for w, b in celery.items()} if isinstance(celery, dict) else celery,
                    "targets": [{"target": n, "passed": p, "measured": m} for n, p, m in found],
                },
                indent=2,
            )
        )
    return 0
