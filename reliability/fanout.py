"""A nested fan-out by one tenant beside quiet tenants, in services mode and in the embedded mode.

The attack of issue 17: one ``startRun`` of a ``foreach`` over a child workflow that is itself a ``foreach``. Before
admission held child runs, it put every child's job in the shared queue (10,116 runs in 5 s, 9,999 of them QUEUED),
another tenant's trivial run went from 0.09 s to more than 90 s, cancelling the parent sent a nudge and a job per
child, and SIGTERM hung.

``nested-fanout`` (PostgreSQL, Redis, two ``studio worker``, ``studio serve``) and ``nested-fanout-embedded`` (one
``studio serve`` without Redis, on SQLite). Four quiet tenants start a three-step run every 0.25 s each through the
API; their start-to-finish latency is measured in five 20 s windows: alone, beside a small nested fan-out, beside a
large one, beside the small one again, and alone again. The fan-out tenant has a concurrency limit of 10
(``max_concurrent_runs``), like any tenant on a shared studio, and both fan-outs keep its 10 slots busy the same
way (leaves that wait 1.8 s): the small one (a foreach of 1 over a foreach of 200, ``max_concurrency`` 50) holds
about 40 runs back, the large one (a foreach of 100 over a foreach of 1,000) holds 5,000. So:

- what a backlog costs the other tenants: their p95 beside the large fan-out within 1.5x (or 25 ms more: at p95s
  of 20 ms a bare ratio measures scheduling noise) of their p95 beside the small one, the mean of the windows just
  before and after it (ABA: the drift of a shared machine cancels): the same work in flight, a hundred times the runs
  waiting; and under 750 ms;
- what the fan-out costs them in all, reported: their p95 beside it against the mean of the two windows alone. Not
  bounded: those windows are two minutes apart, where a shared machine's drift exceeds the bound (one run here:
  31 / 35 / 87 / 87 / 40 ms, the small fan-out's second window as slow as the large one's), and what a tenant's busy
  slots cost the others is ``noisy-tenant``'s bound;
- the large fan-out's leaves never exceed the tenant's 10 slots and its children wait held (at most 20 QUEUED runs
  dispatched at once); cancelling it ends every one of its runs (the time and, in services mode, arq's queue length);
- the reported attack, a foreach of 10,000 over a foreach of 10,000 (``max_concurrency`` 100), meets the tenant's cap
  on live runs (10,000): it fails saying so and ends every run it started;
- SIGTERM with the large fan-out's backlog held: every process exits within its shutdown grace (5 s) + 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import textwrap
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
from bench.engine import _observer, _settings, log_tail, seed, spawn_logged, studio, studio_argv, studio_env
from bench.subscriptions import _free_port
from reliability.faults import _wait_final
from reliability.load import QUIET_EVERY_S, WARMUP_S, Client, _paced, _quick
from reliability.outcome import Measured, Outcome
from reliability.services import Studio, environment, graph
from studio_gql.state import AppState
from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import RunStatus

QUIET_TENANTS = 4
PHASE_S = 20.0
TARGET_RATIO = 1.5  # quiet p95 beside the large backlog against beside the small one, and against alone
NOISE_MS = 25  # ... or this much more: at p95s of 20 ms, a few ms of scheduling noise would swing a bare ratio
QUIET_P95_BOUND_MS = 750
FAN_LIMIT = 10  # the fan-out tenant's concurrency limit
LEAF_WAIT_S = 1.8  # a leaf holds its slot this long (a delay under 2 s is slept through, not parked)
SMALL = (1, 200, 50)  # items, child items, child max_concurrency: 10 running, about 40 held
LARGE = (100, 1_000, 50)  # 10 running, about 5,000 held
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


def _leaf() -> dict[str, Any]:
    return graph({"id": "wait", "type": "delay", "config": {"seconds": LEAF_WAIT_S}}, edges=[("start", "wait")])


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


async def _seed(state: AppState) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID, dict[str, uuid.UUID]]:
    """Quiet tenants with their workflow; the fan-out tenant (limit 10) with its leaf, middle and top workflows."""
    quiet = [await seed(state, _quick()) for _ in range(QUIET_TENANTS)]
    fan_tenant, leaf = await seed(state, _leaf())
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Tenant).where(models.Tenant.id == fan_tenant).values(max_concurrent_runs=FAN_LIMIT)
        )
    published = {}
    for name, (_, _, concurrency) in (("fan-out", LARGE), ("attack", ATTACK)):
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
async def _services() -> AsyncIterator[tuple[World, list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID]]:
    async with environment(STUDIO_SHUTDOWN_GRACE_S=str(GRACE_S)) as studio_world:
        quiet, fan_tenant, published = await _seed(studio_world.state)
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
async def _embedded() -> AsyncIterator[tuple[World, list[tuple[uuid.UUID, uuid.UUID]], uuid.UUID]]:
    async with fresh_database("sqlite") as url:
        with tempfile.TemporaryDirectory(prefix="studio-reliability-") as tmp:
            settings = _settings(url, None, Path(tmp))
            async with studio(settings) as state:  # seeding only: its in-process engine stops with it
                quiet, fan_tenant, published = await _seed(state)
            observer = _observer(url)
            port = _free_port()
            env = studio_env(settings, STUDIO_SHUTDOWN_GRACE_S=str(GRACE_S), STUDIO_SWEEP_INTERVAL_S="0.5")
            log = Path(tmp) / "serve.log"
            proc = await asyncio.to_thread(spawn_logged, studio_argv("serve", "--port", str(port)), env, log)
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
    async with world_of() as (world, quiet, fan_tenant):
        client = Client(world.base)
        fan_token = world.token[fan_tenant]
        ids: dict[str, list[uuid.UUID]] = {}
        busy: dict[str, float] = {}

        async def phase(label: str, duration: float = PHASE_S) -> None:
            found: list[uuid.UUID] = []

            async def one(tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> None:
                run_id = await client.start(world.token[tenant_id], workflow_id)
                if run_id:
                    found.append(uuid.UUID(run_id))

            cpu = _cpu_s(world.procs)
            await asyncio.gather(
                *(_paced(1 / QUIET_EVERY_S, duration, lambda t=t, w=w: one(t, w)) for t, w in quiet)  # type: ignore[misc]
            )
            busy[label] = (_cpu_s(world.procs) - cpu) / duration
            await _wait_final(world.observer, found, 120)
            ids[label] = found

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

        async def live_at_least(count: int) -> bool:
            found = await _fan_counts(world.observer, fan_tenant)
            return found["live"] >= count and found.get("running leaves", 0) >= FAN_LIMIT

        async def fan_quiet() -> bool:
            return (await _fan_counts(world.observer, fan_tenant))["live"] == 0

        async def cancel(run_id: str, peaks: Peaks) -> float | None:
            async with _sampling(world, fan_tenant, peaks):
                answer = await client.call(fan_token, CANCEL, {"id": run_id})
                if not ((answer.get("data") or {}).get("cancelRun") or {}).get("run"):
                    return None
                took = await _until(fan_quiet, CANCEL_BOUND_S)
            if world.queue_length is not None:  # and the jobs the cancellation sent are done (the queue is transport)
                queue_length = world.queue_length

                async def drained() -> bool:
                    return await queue_length() <= FAN_LIMIT

                await _until(drained, CANCEL_BOUND_S)
            return took

        async def beside_small(label: str) -> None:
            small = await fan_out("fan-out", SMALL)
            await _until(lambda: live_at_least(SMALL[1] // 4), 60)
            await phase(label)
            await cancel(small, Peaks())

        await phase("warm-up", WARMUP_S)
        await phase("alone")
        await beside_small("small")
        large_peaks = Peaks()
        async with _sampling(world, fan_tenant, large_peaks):
            large = await fan_out("fan-out", LARGE)
            spread_s = await _until(lambda: live_at_least(LARGE[0] * LARGE[2]), 60)
            await phase("large")
        spread = await _fan_counts(world.observer, fan_tenant)
        cancel_peaks = Peaks()
        cancel_s = await cancel(large, cancel_peaks)
        await beside_small("small again")
        await phase("after")

        # The reported attack meets the cap on live runs.
        attack_peaks = Peaks()
        attack_began = utcnow()
        async with _sampling(world, fan_tenant, attack_peaks):
            attack = await fan_out("attack", ATTACK)
            attack_s = await _until(fan_quiet, ATTACK_BOUND_S)
        async with world.observer.connect() as conn:
            attack_row = (
                await conn.execute(sa.select(runs_t.c.status, runs_t.c.error).where(runs_t.c.id == uuid.UUID(attack)))
            ).one()
            attack_runs = await conn.scalar(
                sa.select(sa.func.count()).where(runs_t.c.tenant_id == fan_tenant, runs_t.c.created_at >= attack_began)
            )
        attack_error = str((attack_row.error or {}).get("message", ""))

        # SIGTERM with a backlog of held runs.
        await fan_out("fan-out", LARGE)
        backlog_s = await _until(lambda: live_at_least(LARGE[0] * LARGE[2]), 60)
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
            if proc.returncode not in (0, -signal.SIGTERM):  # hung (None), the deadline (70) or a crash: show it
                what = "hung after SIGTERM" if proc.returncode is None else f"exited {proc.returncode}"
                print(f"  {' '.join(map(str, proc.args[3:]))} (pid {proc.pid}) {what}; its log ends:")
                print(textwrap.indent(log_tail(proc), "    "))
        order = ("alone", "small", "large", "small again", "after")
        rows = {label: await _rows(world.observer, ids[label]) for label in order}
        server_errors = sum(n for code, n in client.statuses.items() if code >= 500)
        await client.close()

    lat = {label: _latencies(found) for label, found in rows.items()}
    p95 = {label: percentile(values, 95) for label, values in lat.items()}
    small = (p95["small"] + p95["small again"]) / 2
    alone = (p95["alone"] + p95["after"]) / 2
    backlog_ratio, alone_ratio = p95["large"] / small, p95["large"] / alone
    print(
        "| quiet runs alone / small / large / small / after | p50 ms | p95 ms | large/small | large/alone "
        "| large fan-out: leaves RUNNING / dispatched peak, live | cancel s (arq queue peak) "
        "| attack: runs, live peak, s | SIGTERM with held runs: exit s |"
    )
    print("| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |")
    print(
        f"| {' / '.join(str(len(lat[k])) for k in order)}"
        f" | {' / '.join(f'{percentile(lat[k], 50):.0f}' for k in order)}"
        f" | {' / '.join(f'{p95[k]:.0f}' for k in order)} | {backlog_ratio:.2f} | {alone_ratio:.2f}"
        f" | {large_peaks.running} / {large_peaks.dispatched}, {spread['live']:,} (spread in {_seconds(spread_s)} s)"
        f" | {_seconds(cancel_s)} ({cancel_peaks.in_queue if world.queue_length else '-'})"
        f" | {attack_runs:,}, {attack_peaks.live:,}, {_seconds(attack_s)}"
        f" | {held:,} held: {', '.join(_seconds(e) for e in exits)} |"
    )
    print(f"  the attack's top run: {attack_row.status}: {attack_error[:240]}")
    for label in order:
        found = rows[label]
        waits = [(r.started_at - r.created_at).total_seconds() * 1000 for r in found if r.started_at is not None]
        gap = f"{percentile(waits, 50):.0f}/{percentile(waits, 95):.0f}/{max(waits, default=0):.0f}"
        print(f"  quiet runs {label}: created to started p50/p95/max {gap} ms; CPU {busy[label]:.2f} cores")
    outcome = Outcome(
        figures={
            "quiet p95 alone/small/large/small/after ms": " / ".join(f"{p95[k]:.0f}" for k in order),
            "large/small": f"{backlog_ratio:.2f}",
            "large/alone": f"{alone_ratio:.2f}",
            "cancel s": _seconds(cancel_s),
            "attack live peak": f"{attack_peaks.live:,}",
            "SIGTERM exit s": _seconds(max(exits)),
        }
    )
    outcome.check("0 5xx", server_errors == 0)
    outcome.check("every quiet run finished", all(len(lat[k]) == len(ids[k]) for k in order))
    outcome.check(
        f"the fan-out ran within its tenant's {FAN_LIMIT} slots, its children held in the database "
        f"({spread['live']:,} live, at most {2 * FAN_LIMIT} dispatched at once)",
        large_peaks.running <= FAN_LIMIT and large_peaks.dispatched <= 2 * FAN_LIMIT and spread["live"] > 5_000,
    )
    outcome.check(
        f"a backlog costs the others nothing: their p95 beside {spread['live']:,} live runs within {TARGET_RATIO}x "
        f"(or {NOISE_MS} ms more) of their p95 beside the same work with a small backlog",
        p95["large"] <= max(TARGET_RATIO * small, small + NOISE_MS),
    )
    bound = QUIET_P95_BOUND_MS
    outcome.check(f"quiet tenants' p95 beside the fan-out under {bound} ms", p95["large"] < bound)
    outcome.check(
        f"cancelling the fan-out ended every one of its runs within {CANCEL_BOUND_S:.0f} s", cancel_s is not None
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
