"""Worker faults under load: ``kill -9`` of random workers, and a SIGTERM rolling restart.

Both run ``--runs`` runs of a mixed workflow (transforms, a delay, and two ``http.request`` steps that POST to
a local sink) on three real ``studio worker`` processes with PostgreSQL and Redis, while the faults happen.
The sink records every request with its ``Idempotency-Key`` and applies each key once, as a target that
honours the key would. Counted afterwards:

- lost: runs that never reached a final state within the recovery bound (``stuck`` is the same, by status);
- failed: runs that ended FAILED (a fault must never fail a step: interruptions spend no retry budget);
- duplicate effects: a (run, step) whose effect arrived under more than one key (the key must not change
  between attempts of a step, or a target could not dedupe them);
- extra attempts: requests beyond one per key (the at-least-once cost of the faults, reported, not bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import POSTGRES_URL, fresh_database
from bench.engine import _observer, _settings, flush_redis, seed, start_studio, stop_studio, studio, studio_env
from reliability.outcome import Outcome
from studio_shared.db import models
from studio_shared.settings import Settings
from studio_shared.types import RunStatus

REDIS_URL = "redis://127.0.0.1:6379/12"
WORKERS = 3
LEASE_S = 3.0
RECOVERY_BOUND_S = 60.0  # every run final this long after the last fault
SINK_LATENCY_S = 0.5
FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def definition(sink: str) -> dict[str, Any]:
    nodes = [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "prepare", "type": "transform", "config": {"value": "{{ run.id }}"}},
        {
            "id": "charge",
            "type": "http.request",
            "config": {"method": "POST", "url": f"{sink}/effect", "body": {"step": "charge"}},
        },
        {"id": "settle", "type": "delay", "config": {"seconds": 0.3}},
        {
            "id": "notify",
            "type": "http.request",
            "config": {"method": "POST", "url": f"{sink}/effect", "body": {"step": "notify"}},
        },
        {"id": "done", "type": "transform", "config": {"value": "{{ steps.notify.output.status }}"}},
    ]
    order = [n["id"] for n in nodes]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in itertools.pairwise(order)]}


@dataclass
class Sink:
    """Applies each idempotency key once; remembers every request."""

    latency_s: float = SINK_LATENCY_S
    requests: list[tuple[str, str]] = field(default_factory=list)  # (key, step)
    applied: dict[str, str] = field(default_factory=dict)  # key -> step

    def app(self) -> Starlette:
        async def effect(request: Request) -> JSONResponse:
            key = request.headers.get("idempotency-key", "")
            step = json.loads(await request.body()).get("step", "")
            self.requests.append((key, step))
            await asyncio.sleep(self.latency_s)  # a slow target: steps are in flight when workers die
            self.applied.setdefault(key, step)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/effect", effect, methods=["POST"])])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Workers:
    """Real ``studio worker`` processes that a scenario kills and restarts."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.env = studio_env(
            settings,
            STUDIO_HTTP_ALLOWED_HOSTS="127.0.0.1/32",
            STUDIO_RUN_LEASE_S=str(LEASE_S),
            STUDIO_SWEEP_INTERVAL_S="0.5",
            STUDIO_SHUTDOWN_GRACE_S="5",
            STUDIO_REQUEUE_AFTER_S="5",  # a run whose dispatch was lost (Redis gone) is sent again this soon
        )
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = start_studio("worker", self.env, self.logs / f"worker-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [proc for proc in self.procs if proc.poll() is None]

    def stop(self) -> None:
        stop_studio(self.procs)


Fault = Callable[[Workers, random.Random], Awaitable[str]]


async def kill9(workers: Workers, rng: random.Random) -> str:
    victim = rng.choice(workers.live())
    victim.kill()
    await asyncio.to_thread(victim.wait)
    await asyncio.to_thread(workers.start)
    return "kill -9"


async def sigterm(workers: Workers, rng: random.Random) -> str:
    victim = workers.live()[0]  # the oldest: a rolling restart walks through all of them
    victim.send_signal(signal.SIGTERM)
    await asyncio.to_thread(victim.wait, 30)
    await asyncio.to_thread(workers.start)
    return "SIGTERM"


REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


async def redis_restart(workers: Workers, rng: random.Random) -> str:
    """Redis (which keeps nothing on disk here) goes away for 3 s and comes back empty: queue, pub/sub and all."""
    await asyncio.to_thread(subprocess.run, ["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    await asyncio.sleep(3)
    await asyncio.to_thread(subprocess.run, REDIS_START, check=True, capture_output=True)
    for _ in range(100):
        ping = await asyncio.to_thread(subprocess.run, ["redis-cli", "-p", "6379", "ping"], capture_output=True)
        if ping.stdout.strip() == b"PONG":
            break
        await asyncio.sleep(0.1)
    return "redis restart"


async def measure(runs: int, fault: Fault, every_s: float, faults: int) -> dict[str, Any]:
    sink = Sink()
    rng = random.Random(9)
    async with fresh_database("postgres", POSTGRES_URL) as url, serve(sink.app()) as sink_url:
        with tempfile.TemporaryDirectory(prefix="studio-reliability-") as tmp:
            settings = _settings(url, REDIS_URL, Path(tmp))
            await flush_redis(REDIS_URL)
            workers = Workers(settings, Path(tmp))
            observer = _observer(url)
            try:
                for _ in range(WORKERS):
                    await asyncio.to_thread(workers.start)
                async with studio(settings) as state:
                    tenant_id, workflow_id = await seed(state, definition(sink_url))
                    started = time.monotonic()
                    run_ids: list[Any] = []
                    pace = every_s * faults / runs  # runs keep arriving while the faults happen

                    async def start_runs() -> None:
                        for _ in range(runs):
                            run, _ = await state.control.start_run(tenant_id, "reliability", workflow_id)
                            run_ids.append(run.id)
                            await asyncio.sleep(pace)

                    starter = asyncio.create_task(start_runs())
                    done_faults = []
                    for _ in range(faults):
                        await asyncio.sleep(every_s)
                        done_faults.append(await fault(workers, rng))
                    await starter
                    last_fault = time.monotonic()
                    statuses = await _wait_final(observer, run_ids, RECOVERY_BOUND_S)
                    settled = time.monotonic()
                    steps = await _step_attempts(observer, run_ids)
                    stuck_details = await _describe(observer, [r for r, st in statuses.items() if st not in FINAL])
            finally:
                workers.stop()
                await observer.dispose()
    by_step: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, step in sink.applied.items():
        run_id = key.split(":", 1)[0]
        by_step[(run_id, step)].add(key)
    counts = {status: sum(1 for s in statuses.values() if s is status) for status in RunStatus}
    return {
        "runs": runs,
        "faults": len(done_faults),
        "succeeded": counts[RunStatus.SUCCEEDED],
        "failed": counts[RunStatus.FAILED],
        "stuck": sum(1 for s in statuses.values() if s not in FINAL),
        "duplicate_effects": sum(1 for keys in by_step.values() if len(keys) > 1),
        "effects": len(sink.applied),
        "extra_attempts": len(sink.requests) - len(sink.applied),
        "step_reexecutions": steps,
        "stuck_details": stuck_details,
        "recovery_s": settled - last_fault,
        "total_s": settled - started,
    }


async def _wait_final(observer: Any, run_ids: list[Any], bound_s: float) -> dict[Any, RunStatus]:
    runs = models.Run.__table__
    deadline = time.monotonic() + bound_s
    while True:
        async with observer.connect() as conn:
            rows = await conn.execute(sa.select(runs.c.id, runs.c.status).where(runs.c.id.in_(run_ids)))
            statuses = {row.id: RunStatus(row.status) for row in rows}
        if all(status in FINAL for status in statuses.values()) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.2)


async def _step_attempts(observer: Any, run_ids: list[Any]) -> int:
    """Steps executed more than once (interruptions re-run a step; its retries would too)."""
    steps = models.Step.__table__
    async with observer.connect() as conn:
        return int(
            await conn.scalar(sa.select(sa.func.count()).where(steps.c.run_id.in_(run_ids), steps.c.attempt > 1)) or 0
        )


async def _describe(observer: Any, run_ids: list[Any]) -> list[str]:
    """What a stuck run looks like in the database: enough to tell where it stopped."""
    if not run_ids:
        return []
    runs, steps = models.Run.__table__, models.Step.__table__
    out = []
    async with observer.connect() as conn:
        for row in await conn.execute(sa.select(runs).where(runs.c.id.in_(run_ids))):
            step_rows = await conn.execute(
                sa.select(steps.c.step_id, steps.c.status, steps.c.attempt, steps.c.wake_at).where(
                    steps.c.run_id == row.id
                )
            )
            out.append(
                f"run {row.id} {row.status} lease={row.lease_owner}/{row.lease_expires_at} wake={row.wake_at} "
                f"held={row.held_since} signal={row.signal} updated={row.updated_at} steps="
                + ", ".join(f"{r.step_id}:{r.status}#{r.attempt}" for r in step_rows)
            )
    return out


def report(figures: dict[str, Any]) -> Outcome:
    print(
        "| runs | faults | succeeded | failed | stuck | effects | duplicate effects | extra attempts | steps re-run"
        " | recovery s | total s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {figures['runs']} | {figures['faults']} | {figures['succeeded']} | {figures['failed']} | {figures['stuck']}"
        f" | {figures['effects']} | {figures['duplicate_effects']} | {figures['extra_attempts']}"
        f" | {figures['step_reexecutions']} | {figures['recovery_s']:.1f} | {figures['total_s']:.1f} |"
    )
    bounds = {
        "no run lost or stuck": figures["stuck"] == 0 and figures["succeeded"] + figures["failed"] == figures["runs"],
        "no run failed because of a fault": figures["failed"] == 0,
        "no duplicate effect": figures["duplicate_effects"] == 0,
        "every effect applied (2 per run)": figures["effects"] == 2 * figures["runs"],
    }
    for line in figures["stuck_details"]:
        print(f"  stuck: {line}")
    outcome = Outcome(
        figures={
            "runs": str(figures["runs"]),
            "faults": str(figures["faults"]),
            "lost/stuck": str(figures["stuck"]),
            "failed": str(figures["failed"]),
            "duplicate effects": str(figures["duplicate_effects"]),
            "extra attempts": str(figures["extra_attempts"]),
            "recovery s": f"{figures['recovery_s']:.1f}",
        }
    )
    for bound, held in bounds.items():
        outcome.check(bound, held)
    return outcome


@dataclass(frozen=True)
class Scenario:
    NAME: str
    TITLE: str
    fault: Fault
    every_s: float
    faults: int

    async def run(self, runs: int) -> Outcome:
        return report(await measure(runs, self.fault, self.every_s, self.faults))


SCENARIOS = [
    Scenario("kill9", f"kill -9 a random worker every 2 s (x5) during the runs, {WORKERS} workers", kill9, 2.0, 5),
    Scenario("rolling-restart", f"SIGTERM each of the {WORKERS} workers in turn under load", sigterm, 1.5, WORKERS),
    Scenario("redis-restart", "Redis stops for 3 s under load and comes back empty", redis_restart, 3.0, 1),
]
