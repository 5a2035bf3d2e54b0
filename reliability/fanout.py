"""A nested fan-out by one tenant beside quiet tenants, in services mode and in the embedded mode.

The attack of issue 17: one ``startRun`` of a ``foreach`` over a child workflow that is itself a ``foreach``. Before
admission held child runs, it put every child's job in the shared queue (10,116 runs in 5 s, 9,999 of them QUEUED),
another tenant's trivial run went from 0.09 s to more than 90 s, cancelling the parent sent a nudge and a job per
child, and SIGTERM hung.

``nested-fanout`` (PostgreSQL, Redis, two ``studio worker``, ``studio serve``) and ``nested-fanout-embedded`` (one
``studio serve`` without Redis, on SQLite): four quiet tenants start a three-step run every 0.25 s each through the
API, while their start-to-finish latency is measured alone (20 s), beside the fan-out (20 s), and alone again (20 s)
once the fan-out is cancelled; the quiet p95 beside is bounded by 1.5x the mean of the two figures alone (the windows
before and after cancel the drift of a shared machine) and by an absolute ceiling. The fan-out tenant has a
concurrency limit of 10 (``max_concurrent_runs``), like any tenant on a shared studio:

1. beside the quiet tenants: a foreach of 100 over a foreach of 1,000 (``max_concurrency`` 50) whose leaves each call
   a local service that answers after 5 s, as runs calling real services do: 5,101 live runs, of which 10 may run.
   What is measured is the cost of its backlog; the cost of a tenant's busy slots is ``noisy-tenant``'s. Counted:
   its RUNNING leaves and dispatched (QUEUED, not held) runs, sampled;
2. cancelled: every one of its runs final, the time it took, and (services) arq's queue length meanwhile;
3. the reported attack, a foreach of 10,000 over a foreach of 10,000 (``max_concurrency`` 100): it must meet the
   tenant's cap on live runs (10,000), fail saying so, and end every run it started;
4. the fan-out of step 1 again, then SIGTERM to every process: each must exit within its shutdown grace (5 s) and
   10 s more, however many runs are held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import fresh_database, percentile
from bench.engine import _observer, _settings, seed, studio, studio_env
from bench.subscriptions import _free_port
from reliability.faults import Sink, _wait_final, serve
from reliability.load import QUIET_EVERY_S, WARMUP_S, Client, _paced, _quick
from reliability.outcome import Measured, Outcome
from reliability.services import Studio, _spawn, environment, graph, http_step
from studio_gql.state import AppState
from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import RunStatus

QUIET_TENANTS = 4
PHASE_S = 20.0
TARGET_RATIO = 1.5
QUIET_P95_BOUND_MS = {"services": 750, "embedded": 750}
FAN_LIMIT = 10  # the fan-out tenant's concurrency limit
LEAF_CALL_S = 5.0  # a leaf calls a slow service: the fan-out's 10 slots do little work; what grows is its backlog
SUSTAINED = (100, 1_000, 50)  # the fan-out beside the quiet tenants: items, child items, child max_concurrency
ATTACK = (10_000, 10_000, 100)  # the reported one
LIVE_CAP = 10_000  # STUDIO_MAX_LIVE_RUNS_PER_TENANT's default
CANCEL_BOUND_S = 60.0
ATTACK_BOUND_S = 120.0
GRACE_S = 5.0
CANCEL = "mutation($id: ID!) { cancelRun(id: $id) { run { id status } errors { code message } } }"
START = """mutation($w: ID!, $input: JSON) { startRun(workflowId: $w, input: $input) {
  run { id } errors { code message } } }"""
LIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)
runs_t = models.Run.__table__


@dataclass
class World:
    """What the scenario needs of either mode: the API, a database observer, its processes, a way to publish."""

    base: str
    observer: AsyncEngine
    procs: list[subprocess.Popen[bytes]]
    token: dict[uuid.UUID, str]
    queue_length: Callable[[], Awaitable[int]] | None = None  # arq's queue (services mode)
    published: dict[str, uuid.UUID] = field(default_factory=dict)


def _leaf(sink_url: str) -> dict[str, Any]:
    return graph(http_step("call", f"{sink_url}/effect", body={"step": "leaf"}), edges=[("start", "call")])


def _each(child: uuid.UUID, items: str, input: Any, concurrency: int) -> dict[str, Any]:
    config = {"items": items, "workflow": str(child), "input": input, "max_concurrency": concurrency}
    return graph({"id": "each", "type": "foreach", "config": config}, edges=[("start", "each")])


async def _publish(state: AppState, tenant_id: uuid.UUID, definition: dict[str, Any], name: str) -> uuid.UUID:
    actor = Principal(tenant_id=tenant_id, role=Role.ADMIN)
    async with state.sessions.begin() as s:
        row = await workflows.create(
            s, tenant_id, actor, state.registry, name=name, description=None, definition=definition
        )
        await workflows.publish(s, tenant_id, actor, state.registry, row.id, None)
    return row.id


async def _seed(
    state: AppState, sink_url: str
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID, dict[str, uuid.UUID]]:
    """Quiet tenants with their workflow; the fan-out tenant (limit 10) with its leaf, middle and top workflows."""
    quiet = [await seed(state, _quick()) for _ in range(QUIET_TENANTS)]
    fan_tenant, leaf = await seed(state, _leaf(sink_url))
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Tenant).where(models.Tenant.id == fan_tenant).values(max_concurrent_runs=FAN_LIMIT)
        )
    published = {}
    for name, (_, _, concurrency) in (("sustained", SUSTAINED), ("attack", ATTACK)):
        mid = await _publish(state, fan_tenant, _each(leaf, "{{ input.items }}", {}, concurrency), f"{name}-mid")
        published[name] = await _publish(
            state, fan_tenant, _each(mid, "{{ input.mids }}", {"items": "{{ input.items }}"}, 100), f"{name}-top"
        )
    return quiet, fan_tenant, published


async def _admin(observer: AsyncEngine, tenant_id: uuid.UUID) -> uuid.UUID:
    users = models.User.__table__
    async with observer.connect() as conn:
        return uuid.UUID(str(await conn.scalar(sa.select(users.c.id).where(users.c.tenant_id == tenant_id))))


@contextlib.asynccontextmanager
async def _services(sink_url: str) -> AsyncIterator[tuple[World, list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID]]:
    async with environment(STUDIO_SHUTDOWN_GRACE_S=str(GRACE_S)) as studio_world:
        quiet, fan_tenant, published = await _seed(studio_world.state, sink_url)
        for _ in range(2):
            await asyncio.to_thread(studio_world.workers.start)
        base = await studio_world.serve()
        import redis.asyncio as aioredis

        from reliability.faults import REDIS_URL

        redis = aioredis.Redis.from_url(REDIS_URL)

        async def queue_length() -> int:
            return int(await redis.zcard("arq:queue"))

        world = World(
            base,
            studio_world.observer,
            [*studio_world.workers.procs, *studio_world.procs],
            await _tokens(studio_world, [t for t, _ in quiet] + [fan_tenant]),
            queue_length,
            published,
        )
        try:
            yield world, quiet, fan_tenant
        finally:
            await redis.aclose()


async def _tokens(world: Studio, tenant_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {t: world.token(t, await world.admin(t)) for t in tenant_ids}


@contextlib.asynccontextmanager
async def _embedded(sink_url: str) -> AsyncIterator[tuple[World, list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID]]:
    async with fresh_database("sqlite") as url:
        with tempfile.TemporaryDirectory(prefix="studio-reliability-") as tmp:
            settings = _settings(url, None, Path(tmp))
            async with studio(settings) as state:  # seeding only: its in-process engine stops with it
                quiet, fan_tenant, published = await _seed(state, sink_url)
            observer = _observer(url)
            port = _free_port()
            env = studio_env(
                settings,
                STUDIO_SHUTDOWN_GRACE_S=str(GRACE_S),
                STUDIO_SWEEP_INTERVAL_S="0.5",
                STUDIO_HTTP_ALLOWED_HOSTS="127.0.0.1/32",
            )
            log = Path(tmp) / "serve.log"
            argv = [sys.executable, "-c", "from studio_gql.cli import main; main()", "serve", "--port", str(port)]
            proc = await asyncio.to_thread(_spawn, argv, env, log)
            base = f"http://127.0.0.1:{port}"
            try:
                async with httpx.AsyncClient() as client:
                    for _ in range(300):
                        with contextlib.suppress(httpx.HTTPError):
                            if (await client.get(f"{base}/healthz")).status_code == 200:
                                break
                        if proc.poll() is not None:
                            raise RuntimeError(f"studio serve did not start:\n{log.read_text()[-2000:]}")
                        await asyncio.sleep(0.1)
                tokens = {}
                for tenant_id in [t for t, _ in quiet] + [fan_tenant]:
                    user = await _admin(observer, tenant_id)
                    tokens[tenant_id] = encode_access_token(
                        settings, subject=user, tenant_id=tenant_id, role=Role.ADMIN
                    )
                yield World(base, observer, [proc], tokens, None, published), quiet, fan_tenant
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                await observer.dispose()


async def _fan_counts(observer: AsyncEngine, tenant_id: uuid.UUID) -> dict[str, int]:
    """The fan-out tenant's runs by status, and its QUEUED ones not held (dispatched, waiting for a worker)."""
    leaf = runs_t.c.depth == 2
    async with observer.connect() as conn:
        rows = await conn.execute(
            sa.select(runs_t.c.status, runs_t.c.held_since.is_(None), leaf, sa.func.count())
            .where(runs_t.c.tenant_id == tenant_id)
            .group_by(runs_t.c.status, runs_t.c.held_since.is_(None), leaf)
        )
        found: dict[str, int] = {}
        for status, unheld, is_leaf, count in rows:
            found[str(status)] = found.get(str(status), 0) + count
            if status == RunStatus.QUEUED and unheld:
                found["dispatched"] = found.get("dispatched", 0) + count
            if status == RunStatus.RUNNING and is_leaf:
                found["running leaves"] = found.get("running leaves", 0) + count
    found["live"] = sum(found.get(s.value, 0) for s in LIVE)
    return found


@dataclass
class Peaks:
    running: int = 0  # leaves: admitted from QUEUED (a parent resuming from WAITING to look at its children is not)
    dispatched: int = 0
    live: int = 0
    in_queue: int = 0


@contextlib.asynccontextmanager
async def _sampling(world: World, tenant_id: uuid.UUID, peaks: Peaks) -> AsyncIterator[None]:
    async def sample() -> None:
        while True:
            found = await _fan_counts(world.observer, tenant_id)
            peaks.running = max(peaks.running, found.get("running leaves", 0))
            peaks.dispatched = max(peaks.dispatched, found.get("dispatched", 0))
            peaks.live = max(peaks.live, found["live"])
            if world.queue_length is not None:
                peaks.in_queue = max(peaks.in_queue, await world.queue_length())
            await asyncio.sleep(1.0)  # the observer's queries load the database too: sparingly

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(check: Callable[[], Awaitable[bool]], bound_s: float) -> float | None:
    """Seconds until ``check()`` held, or None if it did not within ``bound_s``."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > bound_s:
            return None
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def _measure(mode: str) -> Outcome:
    world_of = _services if mode == "services" else _embedded
    async with serve(Sink(latency_s=LEAF_CALL_S).app()) as sink_url, world_of(sink_url) as (world, quiet, fan_tenant):
        client = Client(world.base)
        fan_token = world.token[fan_tenant]

        async def phase(duration: float) -> list[uuid.UUID]:
            ids: list[uuid.UUID] = []

            async def one(tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> None:
                run_id = await client.start(world.token[tenant_id], workflow_id)
                if run_id:
                    ids.append(uuid.UUID(run_id))

            await asyncio.gather(
                *(_paced(1 / QUIET_EVERY_S, duration, lambda t=t, w=w: one(t, w)) for t, w in quiet)  # type: ignore[misc]
            )
            return ids

        async def fan_out(name: str, shape: tuple[int, int, int]) -> str:
            """One startRun of a nested fan-out: that is all the attack takes."""
            top_items, items, _ = shape
            variables = {
                "w": str(world.published[name]),
                "input": {"mids": list(range(top_items)), "items": list(range(items))},
            }
            body = await client.call(fan_token, START, variables)
            run = ((body.get("data") or {}).get("startRun") or {}).get("run")
            if not run:
                raise RuntimeError(f"the fan-out did not start: {body}")
            return str(run["id"])

        async def fan_quiet() -> bool:
            return (await _fan_counts(world.observer, fan_tenant))["live"] == 0

        await _wait_final(world.observer, await phase(WARMUP_S), 60)
        cpu = _cpu_s(world.procs)
        alone_ids = await phase(PHASE_S)
        busy = {"alone": (_cpu_s(world.procs) - cpu) / PHASE_S}
        await _wait_final(world.observer, alone_ids, 60)

        # 1. Beside the sustained fan-out.
        beside_peaks = Peaks()
        async with _sampling(world, fan_tenant, beside_peaks):
            sustained = await fan_out("sustained", SUSTAINED)
            await asyncio.sleep(1)  # the fan-out is spreading
            cpu = _cpu_s(world.procs)
            beside_ids = await phase(PHASE_S)
            busy["beside"] = (_cpu_s(world.procs) - cpu) / PHASE_S
            await _wait_final(world.observer, beside_ids, 120)
        spread = await _fan_counts(world.observer, fan_tenant)

        # 2. Cancelled.
        cancel_peaks = Peaks()
        async with _sampling(world, fan_tenant, cancel_peaks):
            answer = await client.call(fan_token, CANCEL, {"id": sustained})
            cancelled = bool(((answer.get("data") or {}).get("cancelRun") or {}).get("run"))
            cancel_s = await _until(fan_quiet, CANCEL_BOUND_S)
        if world.queue_length is not None:  # and the jobs the cancellation sent are done (the queue is transport)
            queue_length = world.queue_length

            async def drained() -> bool:
                return await queue_length() <= FAN_LIMIT

            await _until(drained, CANCEL_BOUND_S)
        cpu = _cpu_s(world.procs)
        after_ids = await phase(PHASE_S)
        busy["after"] = (_cpu_s(world.procs) - cpu) / PHASE_S
        await _wait_final(world.observer, after_ids, 60)

        # 3. The reported attack meets the cap on live runs.
        attack_peaks = Peaks()
        async with _sampling(world, fan_tenant, attack_peaks):
            attack = await fan_out("attack", ATTACK)
            attack_s = await _until(fan_quiet, ATTACK_BOUND_S)
        async with world.observer.connect() as conn:
            attack_row = (
                await conn.execute(sa.select(runs_t.c.status, runs_t.c.error).where(runs_t.c.id == uuid.UUID(attack)))
            ).one()
            attack_runs = await conn.scalar(sa.select(sa.func.count()).where(runs_t.c.tenant_id == fan_tenant))
        attack_error = str((attack_row.error or {}).get("message", ""))

        # 4. SIGTERM with a backlog of held runs.
        await fan_out("sustained", SUSTAINED)

        async def backlog() -> bool:
            return (await _fan_counts(world.observer, fan_tenant)).get(RunStatus.QUEUED.value, 0) >= 4_000

        backlog_s = await _until(backlog, 60)
        held = (await _fan_counts(world.observer, fan_tenant)).get(RunStatus.QUEUED.value, 0)
        began = time.monotonic()
        for proc in world.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        exits: list[float] = []
        for proc in world.procs:
            try:
                await asyncio.to_thread(proc.wait, GRACE_S + 20)
                exits.append(time.monotonic() - began)
            except subprocess.TimeoutExpired:
                exits.append(float("inf"))
        alone_rows = await _rows(world.observer, alone_ids)
        beside_rows = await _rows(world.observer, beside_ids)
        after_rows = await _rows(world.observer, after_ids)
        server_errors = sum(n for code, n in client.statuses.items() if code >= 500)
        await client.close()

    alone, beside, after = (_latencies(rows) for rows in (alone_rows, beside_rows, after_rows))
    quiet_p95 = (percentile(alone, 95) + percentile(after, 95)) / 2
    ratio = percentile(beside, 95) / quiet_p95
    print(
        "| quiet runs alone / beside / after | p50 alone / beside / after ms | p95 alone / beside / after ms | ratio "
        "| fan-out beside: leaves RUNNING / dispatched peak, live | cancel s (arq queue peak) "
        "| attack: runs, live peak, s | SIGTERM with held runs: exit s |"
    )
    print("| --- | --- | --- | ---: | --- | --- | --- | --- |")
    print(
        f"| {len(alone)} / {len(beside)} / {len(after)}"
        f" | {percentile(alone, 50):.0f} / {percentile(beside, 50):.0f} / {percentile(after, 50):.0f}"
        f" | {percentile(alone, 95):.0f} / {percentile(beside, 95):.0f} / {percentile(after, 95):.0f} | {ratio:.2f}"
        f" | {beside_peaks.running} / {beside_peaks.dispatched}, {spread['live']:,}"
        f" | {_seconds(cancel_s)} ({cancel_peaks.in_queue if world.queue_length else '-'})"
        f" | {attack_runs:,}, {attack_peaks.live:,}, {_seconds(attack_s)}"
        f" | {held:,} held: {', '.join(_seconds(e) for e in exits)} |"
    )
    print(f"  the attack's top run: {attack_row.status}: {attack_error[:200]}")
    for label, rows in (("alone", alone_rows), ("beside", beside_rows), ("after", after_rows)):
        waits = [(r.started_at - r.created_at).total_seconds() * 1000 for r in rows if r.started_at is not None]
        gap = f"{percentile(waits, 50):.0f}/{percentile(waits, 95):.0f}/{max(waits, default=0):.0f}"
        print(f"  quiet runs {label}: created to started p50/p95/max {gap} ms")
    print(
        "  CPU of the studio's processes (cores busy) alone / beside / after: "
        + " / ".join(f"{busy[k]:.2f}" for k in ("alone", "beside", "after"))
    )
    outcome = Outcome(
        figures={
            "quiet p95 alone/beside/after ms": (
                f"{percentile(alone, 95):.0f}/{percentile(beside, 95):.0f}/{percentile(after, 95):.0f}"
            ),
            "ratio": f"{ratio:.2f}",
            "cancel s": _seconds(cancel_s),
            "attack live peak": f"{attack_peaks.live:,}",
            "SIGTERM exit s": _seconds(max(exits)),
        }
    )
    outcome.check("0 5xx", server_errors == 0)
    outcome.check(
        "every quiet run finished",
        len(alone) == len(alone_ids) and len(beside) == len(beside_ids) and len(after) == len(after_ids),
    )
    outcome.check(
        f"the fan-out ran within its tenant's {FAN_LIMIT} slots, its children held in the database "
        f"({spread['live']:,} live, at most {2 * FAN_LIMIT} dispatched at once)",
        beside_peaks.running <= FAN_LIMIT and beside_peaks.dispatched <= 2 * FAN_LIMIT and spread["live"] > 1_000,
    )
    bound = QUIET_P95_BOUND_MS[mode]
    outcome.check(f"quiet tenants' p95 beside the fan-out under {bound} ms", percentile(beside, 95) < bound)
    outcome.check(
        f"quiet tenants' p95 beside the fan-out within {TARGET_RATIO}x of their figure alone (before and after)",
        ratio <= TARGET_RATIO,
    )
    outcome.check(
        f"cancelling the fan-out ended every one of its runs within {CANCEL_BOUND_S:.0f} s",
        cancelled and cancel_s is not None,
    )
    outcome.check(
        f"the reported attack met the cap of {LIVE_CAP:,} live runs, failed saying so, and ended every run it started",
        attack_row.status == RunStatus.FAILED.value
        and "live runs" in attack_error
        and attack_s is not None
        and attack_peaks.live <= LIVE_CAP * 1.02,  # PostgreSQL: spawns in flight at once may pass it by their size
    )
    outcome.check(
        f"SIGTERM with {held:,} held runs: every process exited within its grace ({GRACE_S:g} s) + 10 s",
        backlog_s is not None and max(exits) <= GRACE_S + 10,
    )
    return outcome


async def _rows(observer: AsyncEngine, ids: list[uuid.UUID]) -> list[Any]:
    async with observer.connect() as conn:
        return list(await conn.execute(sa.select(runs_t).where(runs_t.c.id.in_(ids))))


def _latencies(rows: list[Any]) -> list[float]:
    return [(r.finished_at - r.created_at).total_seconds() * 1000 for r in rows if r.finished_at is not None]


def _cpu_s(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds the processes have used so far (user + system)."""
    ticks = 0
    for proc in procs:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _seconds(value: float | None) -> str:
    return "not in bound" if value is None else ("hung" if value == float("inf") else f"{value:.1f}")


async def nested_fanout(runs: int) -> Outcome:
    return await _measure("services")


async def nested_fanout_embedded(runs: int) -> Outcome:
    return await _measure("embedded")


SCENARIOS = [
    Measured("nested-fanout", "a nested fan-out beside 4 quiet tenants (services)", nested_fanout),
    Measured("nested-fanout-embedded", "a nested fan-out beside 4 quiet tenants (studio serve without Redis)",
             nested_fanout_embedded),
]  # fmt: skip
