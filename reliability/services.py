"""Faults of the services around the workers: PostgreSQL connections killed, duplicate dispatch, two
schedulers restarted, a hung target and a rate-limiting one.

Every scenario runs real ``studio serve`` / ``studio worker`` / ``studio scheduler`` processes on a fresh
PostgreSQL database and Redis, counts what happened from the database and from local targets that record
every request, and checks its bounds:

- ``pg-terminate``: clients keep calling the API (startRun with an idempotency key, run and workflow reads)
  while every connection of the database is terminated (``pg_terminate_backend``) every 0.7 s. The API may
  answer 503 or a retryable ``UNAVAILABLE`` error, never a 500 or an internal message; a client retrying
  with the same key gets one run; no run is lost or stuck; no step is SUCCEEDED without its output and its
  ``step.succeeded`` event.
- ``concurrent-claims``: 500 ready steps (250 runs of two parallel branches) are each dispatched twice, and
  three workers start at once: each step runs once (one request per idempotency key, attempt 1).
- ``schedulers``: two ``studio scheduler`` processes fire five per-second schedules for 30 s while they are
  restarted in turn (SIGTERM, then ``kill -9``): every tick in the window fires exactly once.
- ``hung-target``: steps against a target that never answers, and one that always answers 429, end at their
  timeout after their retry budget with growing waits, while a quick workflow keeps finishing on the same
  worker (its slots are freed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import (
    _observer,
    _settings,
    flush_redis,
    seed,
    spawn_logged,
    start_studio,
    stop_studio,
    studio,
    studio_argv,
)
from bench.subscriptions import _free_port
from reliability.faults import FINAL, REDIS_URL, Sink, Workers, _wait_final, serve
from reliability.outcome import Measured, Outcome
from studio_gql.state import AppState
from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import models
from studio_shared.events import EventKind
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import schedules
from studio_shared.types import RunStatus, StepStatus
from studio_worker.fire_plan import PENDING
from studio_worker.queue.arq import ArqQueue
from studio_worker.scheduler import PENDING_STALE_S

INTERNALS = ("Traceback", "sqlalchemy", "asyncpg", "postgresql://", 'File "', "Internal error")


# A start-up takes 2-5 s here, over 30 s on the 2 cores while other builds run: the bound only catches a hang.
SERVE_START_S = 120.0


@dataclass
class Studio:
    """A fresh database, the settings every process shares, an in-process app state for seeding, an observer."""

    settings: Settings
    tmp: Path
    state: AppState
    observer: Any
    workers: Workers
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def token(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
        return encode_access_token(self.settings, subject=user_id, tenant_id=tenant_id, role=Role.ADMIN)

    async def admin(self, tenant_id: uuid.UUID) -> uuid.UUID:
        users = models.User.__table__
        async with self.observer.connect() as conn:
            return uuid.UUID(str(await conn.scalar(sa.select(users.c.id).where(users.c.tenant_id == tenant_id))))

    async def serve(self) -> str:
        port = _free_port()
        log = self.tmp / f"serve-{port}.log"
        proc = await asyncio.to_thread(spawn_logged, studio_argv("serve", "--port", str(port)), self.workers.env, log)
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + SERVE_START_S
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        return base
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
        raise RuntimeError(f"studio serve did not start:\n{log.read_text()[-2000:]}")

    def start(self, command: str) -> subprocess.Popen[bytes]:
        proc = start_studio(command, self.workers.env, self.tmp / f"{command}-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc


@contextlib.asynccontextmanager
async def environment(**env: str) -> AsyncIterator[Studio]:
    async with fresh_database("postgres", POSTGRES_URL) as url:
        with tempfile.TemporaryDirectory(prefix="studio-reliability-") as tmp:
            settings = _settings(url, REDIS_URL, Path(tmp))
            await flush_redis(REDIS_URL)
            workers = Workers(settings, Path(tmp))
            workers.env.update(env)
            observer = _observer(url)
            try:
                async with studio(settings) as state:
                    world = Studio(settings, Path(tmp), state, observer, workers)
                    try:
                        yield world
                    finally:
                        stop_studio(world.procs)
            finally:
                workers.stop()
                await observer.dispose()


def http_step(id: str, url: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": "http.request", "config": {"method": "POST", "url": url, **config}}


def graph(*nodes: dict[str, Any], edges: list[tuple[str, str]]) -> dict[str, Any]:
    start = {"id": "start", "type": "trigger.manual", "config": {}}
    return {"nodes": [start, *nodes], "edges": [{"source": a, "target": b} for a, b in edges]}


async def _publish(world: Studio, tenant_id: uuid.UUID, definition: dict[str, Any]) -> uuid.UUID:
    """Another published workflow in an existing tenant."""
    from studio_shared.store import workflows

    actor = Principal(tenant_id=tenant_id, role=Role.ADMIN, user_id=await world.admin(tenant_id))
    async with world.state.sessions.begin() as s:
        row = await workflows.create(
            s, tenant_id, actor, world.state.registry, name=f"w-{secrets.token_hex(3)}", description=None,
            definition=definition,
        )  # fmt: skip
        await workflows.publish(s, tenant_id, actor, world.state.registry, row.id, None)
    return row.id


# ------------------------------------------------------------------------------------------ pg-terminate

LOAD_S = 20.0
KILL_EVERY_S = 0.7
CLIENTS = 6
START_RUN = """mutation($w: ID!, $k: String!) { startRun(workflowId: $w, idempotencyKey: $k) {
  run { id } errors { code message } } }"""
READ_RUNS = "{ runs(first: 20) { edges { node { id status steps { stepId status output } } } } }"
READ_WORKFLOW = "query($w: ID!) { workflow(id: $w) { id name latestVersion { version } } }"


@dataclass
class Calls:
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # GraphQL error codes
    leaks: list[str] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> run id
    retries: int = 0
    gave_up: int = 0

    def record(self, response: httpx.Response) -> dict[str, Any] | None:
        self.statuses[response.status_code] += 1
        if any(marker in response.text for marker in INTERNALS):
            self.leaks.append(response.text[:300])
        if response.status_code != 200:
            return None
        body = response.json()
        for error in body.get("errors") or []:
            self.codes[(error.get("extensions") or {}).get("code", "NONE")] += 1
        return body


def _retryable(response: httpx.Response, body: dict[str, Any] | None) -> bool:
    if response.status_code == 503:
        return True
    return any((e.get("extensions") or {}).get("retryable") for e in (body or {}).get("errors") or [])


async def _client(base: str, token: str, workflow_id: uuid.UUID, calls: Calls, stop: asyncio.Event, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while not stop.is_set():
            if rng.random() < 0.4:
                key = f"pg-{uuid.uuid4().hex}"
                variables = {"w": str(workflow_id), "k": key}
                for attempt in range(30):  # a client that honours "retryable": same key, short pause
                    response = await client.post("/graphql", json={"query": START_RUN, "variables": variables})
                    body = calls.record(response)
                    run = ((body or {}).get("data") or {}).get("startRun") or {}
                    if run.get("run"):
                        calls.acknowledged[key] = run["run"]["id"]
                        break
                    if not _retryable(response, body):
                        calls.gave_up += 1
                        break
                    calls.retries += attempt == 0
                    await asyncio.sleep(0.2)
            else:
                query = READ_RUNS if rng.random() < 0.5 else READ_WORKFLOW
                calls.record(await client.post("/graphql", json={"query": query, "variables": {"w": str(workflow_id)}}))


async def _terminate_backends(observer: Any, database: str) -> int:
    """Every other connection of the database (the observer's own survives to count)."""
    async with observer.connect() as conn:
        killed = await conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
        return sum(1 for row in killed if row[0])


async def _inconsistent_steps(observer: Any, run_ids: list[Any]) -> list[str]:
    """SUCCEEDED steps without their output or without their ``step.succeeded`` event."""
    steps, events = models.Step.__table__, models.RunEvent.__table__
    succeeded_event = (
        sa.select(events.c.id)
        .where(
            events.c.run_id == steps.c.run_id,
            events.c.step_id == steps.c.step_id,
            events.c.kind == EventKind.STEP_SUCCEEDED,
        )
        .exists()
    )
    async with observer.connect() as conn:
        rows = await conn.execute(
            sa.select(
                steps.c.run_id, steps.c.step_id, steps.c.output.is_(None).label("no_output"), succeeded_event
            ).where(steps.c.run_id.in_(run_ids), steps.c.status == StepStatus.SUCCEEDED.value)
        )
        return [f"{r.run_id}/{r.step_id}" for r in rows if r.no_output or not r[3]]


async def pg_terminate(runs: int) -> Outcome:
    sink = Sink(latency_s=0.05)
    async with serve(sink.app()) as sink_url, environment() as world:
        tenant_id, workflow_id = await seed(
            world.state,
            graph(
                http_step("charge", f"{sink_url}/effect", body={"step": "charge"}),
                {"id": "done", "type": "transform", "config": {"value": "{{ steps.charge.output.status }}"}},
                edges=[("start", "charge"), ("charge", "done")],
            ),
        )
        token = world.token(tenant_id, await world.admin(tenant_id))
        for _ in range(2):
            await asyncio.to_thread(world.workers.start)
        base = await world.serve()
        calls, stop = Calls(), asyncio.Event()
        database = world.settings.database_url.rsplit("/", 1)[1]
        clients = [asyncio.create_task(_client(base, token, workflow_id, calls, stop, i)) for i in range(CLIENTS)]
        kills = terminated = 0
        started = time.monotonic()
        try:
            while time.monotonic() - started < LOAD_S:
                await asyncio.sleep(KILL_EVERY_S)
                terminated += await _terminate_backends(world.observer, database)
                kills += 1
        finally:
            stop.set()
            await asyncio.gather(*clients)
        after = time.monotonic()
        run_ids = [uuid.UUID(r) for r in calls.acknowledged.values()]
        statuses = await _wait_final(world.observer, run_ids, 60)
        recovery = time.monotonic() - after
        runs_t = models.Run.__table__
        async with world.observer.connect() as conn:
            keyed = await conn.execute(
                sa.select(runs_t.c.idempotency_key, sa.func.count())
                .where(runs_t.c.tenant_id == tenant_id)
                .group_by(runs_t.c.idempotency_key)
            )
            per_key = {row[0]: row[1] for row in keyed}
        inconsistent = await _inconsistent_steps(world.observer, run_ids)
    lost = [k for k, run_id in calls.acknowledged.items() if uuid.UUID(run_id) not in statuses]
    stuck = sum(1 for s in statuses.values() if s not in FINAL)
    failed = sum(1 for s in statuses.values() if s is RunStatus.FAILED)
    server_errors = sum(n for code, n in calls.statuses.items() if code >= 500 and code != 503)
    print("| requests | terminations (backends) | 503 | UNAVAILABLE errors | retried startRuns | runs | 5xx other "
          "| leaks | lost | stuck | failed | recovery s |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {sum(calls.statuses.values())} | {kills} ({terminated}) | {calls.statuses[503]}"
        f" | {calls.codes['UNAVAILABLE']} | {calls.retries} | {len(run_ids)} | {server_errors} | {len(calls.leaks)}"
        f" | {len(lost)} | {stuck} | {failed} | {recovery:.1f} |"
    )
    for leak in calls.leaks[:3]:
        print(f"  leak: {leak}")
    for line in inconsistent[:5]:
        print(f"  inconsistent step: {line}")
    outcome = Outcome(
        figures={
            "requests": str(sum(calls.statuses.values())),
            "terminations": f"{kills} ({terminated} backends)",
            "503 + UNAVAILABLE": str(calls.statuses[503] + calls.codes["UNAVAILABLE"]),
            "5xx other": str(server_errors),
            "lost/stuck": f"{len(lost)}/{stuck}",
        }
    )
    outcome.check("connections were really terminated under load", terminated >= kills and len(run_ids) > 50)
    outcome.check("no 5xx other than 503", server_errors == 0)
    outcome.check("no masked internal error and no internals in any answer", not calls.leaks)
    outcome.check("every non-retryable answer was a client error (none expected)", calls.gave_up == 0)
    outcome.check("one run per idempotency key despite retries", all(n == 1 for n in per_key.values()))
    outcome.check("no acknowledged run lost, none stuck, none failed", not lost and stuck == 0 and failed == 0)
    outcome.check("no step SUCCEEDED without its output and its event", not inconsistent)
    return outcome


# ------------------------------------------------------------------------------------- concurrent-claims


async def concurrent_claims(runs: int) -> Outcome:
    count = 250  # two ready steps each: 500
    sink = Sink(latency_s=0.05)
    # No faults here: the default lease, so that a busy machine's slow heartbeat cannot pass for a dead worker
    # (with the 3 s lease of the fault scenarios, a stall under this burst re-ran a few steps: a new attempt).
    async with serve(sink.app()) as sink_url, environment(STUDIO_RUN_LEASE_S="30") as world:
        tenant_id, workflow_id = await seed(
            world.state,
            graph(
                http_step("left", f"{sink_url}/effect", body={"step": "left"}),
                http_step("right", f"{sink_url}/effect", body={"step": "right"}),
                edges=[("start", "left"), ("start", "right")],
            ),
        )
        run_ids = []
        for _ in range(count):  # no worker yet: each run's first dispatch waits in the queue
            run, _ = await world.state.control.start_run(tenant_id, "reliability", workflow_id)
            run_ids.append(run.id)
        queue = ArqQueue(REDIS_URL)
        try:
            for run_id in run_ids:  # and a second dispatch of the same ready steps
                await queue.enqueue_advance(tenant_id, run_id)
        finally:
            await queue.close()
        started = time.monotonic()
        await asyncio.gather(*(asyncio.to_thread(world.workers.start) for _ in range(3)))
        statuses = await _wait_final(world.observer, run_ids, 120)
        elapsed = time.monotonic() - started
        steps = models.Step.__table__
        async with world.observer.connect() as conn:
            attempts = Counter(
                row[0]
                for row in await conn.execute(
                    sa.select(steps.c.attempt).where(steps.c.run_id.in_(run_ids), steps.c.node_type == "http.request")
                )
            )
    per_key = Counter(key for key, _ in sink.requests)
    doubled = sum(1 for n in per_key.values() if n > 1)
    succeeded = sum(1 for s in statuses.values() if s is RunStatus.SUCCEEDED)
    retried = sum(n for a, n in attempts.items() if a > 1)
    print("| ready steps | jobs (each step twice) | executions | executed twice | attempts > 1 | runs succeeded | s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {2 * count} | {2 * count} | {len(sink.requests)} | {doubled} | {retried} | {succeeded} | {elapsed:.1f} |")
    outcome = Outcome(
        figures={
            "ready steps": str(2 * count),
            "jobs (each step twice)": str(2 * count),
            "executions": str(len(sink.requests)),
            "executed twice": str(doubled),
        }
    )
    total_attempts = sum(attempt * n for attempt, n in attempts.items())
    outcome.check("one execution per attempt (requests == attempts)", len(sink.requests) == total_attempts)
    outcome.check("every step executed exactly once, on its first attempt", doubled == 0 and set(attempts) == {1})
    outcome.check("every run succeeded", succeeded == count)
    return outcome


# -------------------------------------------------------------------------------------------- schedulers

SCHEDULES = 5
SCHEDULE_S = 30.0
RESTART_EVERY_S = 4.0


async def two_schedulers(runs: int) -> Outcome:
    async with environment(STUDIO_SCHEDULER_INTERVAL_S="0.5") as world:
        tenant_id, workflow_id = await seed(
            world.state,
            graph(
                {"id": "echo", "type": "transform", "config": {"value": "{{ input.from }}"}}, edges=[("start", "echo")]
            ),
        )
        actor = Principal(tenant_id=tenant_id, role=Role.ADMIN, user_id=await world.admin(tenant_id))
        await asyncio.to_thread(world.workers.start)
        schedulers = [world.start("scheduler"), world.start("scheduler")]
        schedule_ids = []
        async with world.state.sessions.begin() as s:
            for _ in range(SCHEDULES):
                spec = schedules.ScheduleSpec(
                    cron="* * * * * *", overlap="allow", catch_up="all", catch_up_window_s=3600, input={"from": "cron"}
                )
                row = await schedules.create(s, tenant_id, actor, world.state.registry, workflow_id, spec)
                schedule_ids.append(row.id)
        began = datetime.now(UTC)
        restarts: list[str] = []
        deadline = time.monotonic() + SCHEDULE_S
        turn = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(RESTART_EVERY_S)
            victim = schedulers[turn % 2]
            if turn % 2:
                victim.kill()
                restarts.append("kill -9")
            else:
                victim.send_signal(signal.SIGTERM)
                restarts.append("SIGTERM")
            await asyncio.to_thread(victim.wait, 30)
            schedulers[turn % 2] = await asyncio.to_thread(world.start, "scheduler")
            turn += 1
        fires, runs_t = models.ScheduleFire.__table__, models.Run.__table__
        # A scheduler killed between writing a tick's fire and starting its run leaves the fire pending; another
        # scheduler starts it once it was written PENDING_STALE_S ago. A kill in the last 15 s needs that long to
        # settle. Every fire written before the last restart was over is waited for, by when it was written: a
        # killed scheduler's fire may be for a tick less than a restart's time before the kill (or a catch-up tick
        # long before), so a bound on the tick's time let a quick last restart skip the wait (9 pending seen).
        restarts_over, settled_after = datetime.now(UTC), time.monotonic()
        while time.monotonic() < settled_after + PENDING_STALE_S + 5:
            async with world.observer.connect() as conn:
                left = await conn.scalar(
                    sa.select(sa.func.count()).where(
                        fires.c.schedule_id.in_(schedule_ids),
                        fires.c.outcome == PENDING,
                        fires.c.fired_at < restarts_over,
                    )
                )
            if not left:
                break
            await asyncio.sleep(0.5)
        settle_s = time.monotonic() - settled_after
        await asyncio.sleep(2)  # the last ticks (and any late catch-up) fire
        ended = datetime.now(UTC) - timedelta(seconds=2)
        stop_studio(schedulers)
        async with world.observer.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        fires.c.schedule_id, fires.c.scheduled_for, fires.c.outcome, fires.c.fired_at, fires.c.run_id
                    ).where(fires.c.schedule_id.in_(schedule_ids))
                )
            ).all()
            per_key = (
                await conn.execute(
                    sa.select(runs_t.c.idempotency_key, sa.func.count())
                    .where(runs_t.c.tenant_id == tenant_id)
                    .group_by(runs_t.c.idempotency_key)
                )
            ).all()
    window = [
        (sid, began.replace(microsecond=0) + timedelta(seconds=i))
        for sid in schedule_ids
        for i in range(2, int((ended - began).total_seconds()))
    ]
    fired = Counter((r.schedule_id, r.scheduled_for.replace(tzinfo=UTC)) for r in rows)
    outcomes = Counter(r.outcome for r in rows)
    missing = [tick for tick in window if fired[tick] == 0]
    lateness = [(r.fired_at.replace(tzinfo=UTC) - r.scheduled_for.replace(tzinfo=UTC)).total_seconds() for r in rows]
    duplicate_runs = sum(1 for _, n in per_key if n > 1)
    print("| schedules | restarts | ticks in window | fires | missing | duplicate runs | outcomes | p95 late s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    print(
        f"| {SCHEDULES} | {len(restarts)} | {len(window)} | {len(rows)} | {len(missing)} | {duplicate_runs}"
        f" | {dict(outcomes)} | {percentile(lateness, 95):.2f} |"
    )
    print(f"  fires a killed scheduler left pending were all started {settle_s:.1f} s after the last restart")
    outcome = Outcome(
        figures={
            "restarts": str(len(restarts)),
            "ticks": str(len(window)),
            "missing": str(len(missing)),
            "duplicate runs": str(duplicate_runs),
            "p95 late s": f"{percentile(lateness, 95):.2f}",
        }
    )
    outcome.check("every tick in the window fired", not missing)
    outcome.check("no tick fired twice (one run per tick key)", duplicate_runs == 0 and max(fired.values()) == 1)
    outcome.check("every fire started its run", set(outcomes) == {"started"} and all(r.run_id for r in rows))
    return outcome


# ------------------------------------------------------------------------------------------- hung-target

STEP_TIMEOUT_S = 1.0
ATTEMPTS = 3
FIRST_WAIT_S = 0.5


@dataclass
class Targets:
    """``/hang`` answers only once the caller has gone; ``/limited`` always answers 429; ``/ok`` at once.

    Arrivals are recorded per idempotency key, and when a hung call's caller went (noticed within 0.05 s).
    """

    arrivals: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    departures: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    open_hangs: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def hang(request: Request) -> Response:
            self.arrivals["hang"][request.headers.get("idempotency-key", "")].append(time.monotonic())
            self.open_hangs += 1
            try:  # until the caller gives up and closes the connection
                while not self.release.is_set() and not await request.is_disconnected():  # noqa: ASYNC110 - a poll
                    await asyncio.sleep(0.05)
            finally:
                self.open_hangs -= 1
                self.departures[request.headers.get("idempotency-key", "")].append(time.monotonic())
            return Response(status_code=204)

        async def limited(request: Request) -> Response:
            self.arrivals["limited"][request.headers.get("idempotency-key", "")].append(time.monotonic())
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "1"})

        async def ok(request: Request) -> Response:
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/hang", hang, methods=["POST"]),
                Route("/limited", limited, methods=["POST"]),
                Route("/ok", ok, methods=["POST"]),
            ]
        )


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def hung_target(runs: int) -> Outcome:
    targets = Targets()
    retry = {"max_attempts": ATTEMPTS, "initial_interval_s": FIRST_WAIT_S, "backoff": 2, "jitter": False}
    async with serve(targets.app()) as url, environment(STUDIO_WORKER_CONCURRENCY="8") as world:
        tenant_id, hung = await seed(
            world.state,
            graph(
                {**http_step("call", f"{url}/hang", timeout_s=STEP_TIMEOUT_S), "retry": retry},
                edges=[("start", "call")],
            ),
        )
        limited = await _publish(
            world, tenant_id, graph({**http_step("call", f"{url}/limited"), "retry": retry}, edges=[("start", "call")])
        )
        quick = await _publish(world, tenant_id, graph(http_step("call", f"{url}/ok"), edges=[("start", "call")]))
        await asyncio.to_thread(world.workers.start)  # one worker, 8 run slots: the hung calls alone fill them
        control = world.state.control
        slow_runs = [(await control.start_run(tenant_id, "r", hung))[0].id for _ in range(12)]
        slow_runs += [(await control.start_run(tenant_id, "r", limited))[0].id for _ in range(12)]
        await asyncio.sleep(0.5)
        quick_latency: list[float] = []
        quick_runs = []
        for _ in range(20):
            t0 = time.monotonic()
            run, _ = await control.start_run(tenant_id, "r", quick)
            quick_runs.append(run.id)
            done = await _wait_final(world.observer, [run.id], 30)
            if done[run.id] is RunStatus.SUCCEEDED:
                quick_latency.append(time.monotonic() - t0)
            await asyncio.sleep(0.1)
        statuses = await _wait_final(world.observer, slow_runs, 60)
        steps = models.Step.__table__
        async with world.observer.connect() as conn:
            step_rows = (
                await conn.execute(
                    sa.select(steps.c.run_id, steps.c.status, steps.c.attempt, steps.c.error).where(
                        steps.c.run_id.in_(slow_runs), steps.c.step_id == "call"
                    )
                )
            ).all()
        open_after = targets.open_hangs
        targets.release.set()
    hang_attempts = [len(times) for times in targets.arrivals["hang"].values()]
    limited_attempts = [len(times) for times in targets.arrivals["limited"].values()]
    # The wait before retry n is FIRST_WAIT_S * 2**(n-1) (no jitter): from a 429's arrival, or from the moment a
    # hung call's caller gave up (its timeout counts from the step's start, which precedes the arrival).
    waits = [_gaps(times) for times in targets.arrivals["limited"].values()] + [
        [arrival - gone for gone, arrival in zip(targets.departures[key], times[1:], strict=False)]
        for key, times in targets.arrivals["hang"].items()
    ]
    backoff_ok = all(
        len(w) == ATTEMPTS - 1
        and all(0.8 * FIRST_WAIT_S * 2**i <= wait <= FIRST_WAIT_S * 2**i + 1.0 for i, wait in enumerate(w))
        for w in waits
    )
    failed = sum(1 for s in statuses.values() if s is RunStatus.FAILED)
    timeouts = sum(
        1 for r in step_rows if r.status == StepStatus.FAILED.value and "took longer than" in json.dumps(r.error)
    )
    print(
        "| hung steps | 429 steps | attempts each (hung/429) | failed at budget | quick runs ok | quick p95 s"
        " | open calls after |"
    )
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(targets.arrivals['hang'])} | {len(targets.arrivals['limited'])} | {sorted(set(hang_attempts))}/"
        f"{sorted(set(limited_attempts))} | {failed}/{len(slow_runs)} | {len(quick_latency)}/20"
        f" | {percentile(quick_latency, 95) if quick_latency else float('nan'):.2f} | {open_after} |"
    )
    print(f"  waits before retries: {sorted({tuple(round(x, 1) for x in w) for w in waits})} s")
    outcome = Outcome(
        figures={
            "attempts hung/429": f"{sorted(set(hang_attempts))}/{sorted(set(limited_attempts))}",
            "quick runs ok": f"{len(quick_latency)}/20",
            "quick p95 s": f"{percentile(quick_latency, 95) if quick_latency else float('nan'):.2f}",
        }
    )
    outcome.check(
        f"every call made exactly its {ATTEMPTS} attempts", set(hang_attempts) == set(limited_attempts) == {ATTEMPTS}
    )
    outcome.check("every slow run failed once its retry budget was spent", failed == len(slow_runs))
    outcome.check("hung calls ended at their timeout", timeouts >= 12)
    outcome.check(f"waits before retries are {FIRST_WAIT_S:g} s then twice that (backoff)", backoff_ok)
    outcome.check("quick runs kept finishing while the slots held hung calls", len(quick_latency) == 20)
    outcome.check("no call left open (slots freed)", open_after == 0)
    return outcome


SCENARIOS = [
    Measured(
        "pg-terminate", "every PostgreSQL connection terminated every 0.7 s under API and worker load", pg_terminate
    ),
    Measured(
        "concurrent-claims", "500 ready steps each dispatched twice, three workers start at once", concurrent_claims
    ),
    Measured(
        "schedulers", "two schedulers, restarted in turn (SIGTERM, kill -9), five per-second schedules", two_schedulers
    ),
    Measured("hung-target", "a target that never answers and one that answers 429, beside quick runs", hung_target),
]
