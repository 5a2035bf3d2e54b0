"""The arq side: the job coroutine, the worker's start-up, and a worker that wakes on a pub/sub nudge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arq import func
from arq.connections import RedisSettings
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared import shutdown
from studio_shared.db import create_engine
from studio_shared.db.stats import SqlStats
from studio_shared.events import EventBus, channels, event_bus_from, listen_forever
from studio_shared.heartbeat import STALE_BEATS, Heartbeat
from studio_shared.metrics import metrics
from studio_shared.settings import Settings
from studio_worker.engine.runtime import RunEngine
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue import ADVANCE_JOB
from studio_worker.queue._arq_internals import ClaimingWorker
from studio_worker.queue.arq import ArqQueue

log = logging.getLogger("studio.worker")
REDIS_RETRY_MAX_S = 5.0
JOB_TIMEOUT_S = 7 * 24 * 3600  # a job drives a run until it parks or finishes; steps carry their own timeouts


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What the worker's start-up opens and its jobs use, kept in arq's context (a plain dict, which arq hands every
    job and hook along with its own keys: ``redis``, ``job_id``, ``job_try``…) under one key, ``CONTEXT_KEY``."""

    db: AsyncEngine
    sql: SqlStats  # the worker's SQL statement counts, logged at shutdown
    bus: EventBus
    queue: ArqQueue
    run_engine: RunEngine
    wake_task: asyncio.Task[None]  # wakes the worker's poll on the API's nudges
    heartbeat: Heartbeat  # what `studio worker --check` reads

    def put(self, ctx: dict[Any, Any]) -> None:
        ctx[CONTEXT_KEY] = self

    @classmethod
    def find(cls, ctx: Mapping[Any, Any]) -> WorkerContext | None:
        """This worker's context, or None before the start-up put it there (or after it failed)."""
        found = ctx.get(CONTEXT_KEY)
        return found if isinstance(found, cls) else None

    @classmethod
    def of(cls, ctx: Mapping[Any, Any]) -> WorkerContext:
        found = cls.find(ctx)
        if found is None:
            raise RuntimeError("the worker's context is not there: its start-up has not run")
        return found


CONTEXT_KEY = "studio"


async def advance_run(ctx: dict[Any, Any], tenant_id: str, run_id: str) -> None:
    await WorkerContext.of(ctx).run_engine.advance(uuid.UUID(tenant_id), uuid.UUID(run_id))


class WakingWorker(ClaimingWorker):
    """arq polls its queue every ``poll_delay``; this worker also polls the moment the API nudges it, and keeps
    polling, with a backoff, while Redis is away."""

    def __init__(self, *args: Any, idle_poll_s: float, exit_deadline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_poll_s = idle_poll_s
        # the process's own worker (`studio worker`), not one inside a test or a library: a stop that hangs ends it
        self.exit_deadline = exit_deadline
        self.stop_grace_s = float(kwargs.get("job_completion_wait", 0))
        self.wake = asyncio.Event()
        self._redis_down_for = 0.0
        self.last_poll_at: float | None = None  # time.monotonic() of the last poll that reached Redis (heartbeat)

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        """SIGTERM/SIGINT: arq stops taking jobs and waits ``job_completion_wait``; our drivers start no new
        step and hand each run over once its running steps are done, so the wait is as short as they are."""
        context = WorkerContext.find(self.ctx)
        if context is not None:
            context.run_engine.draining.set()
        self.wake.set()
        # arq waits up to job_completion_wait, cancels what is left, then closes: whatever still hangs after that
        # must not hold the process (studio_shared.shutdown)
        if self.exit_deadline:
            shutdown.arm(self.stop_grace_s, "studio worker", loop=self.loop)
        super().handle_sig_wait_for_completion(signum)

    async def poll(self) -> None:
        """One poll (``ClaimingWorker.poll``), then a wait for a nudge or ``idle_poll_s``."""
        try:
            await super().poll()
        except (RedisError, OSError) as exc:
            # Redis is away (restarting, a network blip): keep the process and its running steps, and poll
            # again with a backoff. Lost queue entries come back from the database through the sweep.
            self._redis_down_for = min(max(self._redis_down_for * 2, 0.25), REDIS_RETRY_MAX_S)
            log.warning("Redis unavailable (%s); polling again in %.2f s", type(exc).__name__, self._redis_down_for)
            await asyncio.sleep(self._redis_down_for)
            return
        self._redis_down_for = 0.0
        self.last_poll_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=self.idle_poll_s)
        self.wake.clear()


def build_worker(settings: Settings) -> WakingWorker:
    if settings.redis_url is None:
        raise SystemExit("studio worker needs STUDIO_REDIS_URL (without Redis, `studio serve` runs the workers)")
    redis_url = settings.redis_url
    worker: WakingWorker

    async def startup(ctx: dict[Any, Any]) -> None:
        db = create_engine(settings)
        sql = SqlStats().attach(db)
        metrics.watch_pool(db)
        bus = event_bus_from(redis_url)
        await bus.start()
        queue = ArqQueue(redis_url)
        await queue.start()
        run_engine = RunEngine(settings, db, bus, queue, load_catalog(settings))
        await run_engine.start()
        wake_task = asyncio.create_task(listen_forever(bus, channels.wake(), lambda _: worker.wake.set()))
        heartbeat = Heartbeat(
            redis_url,
            "worker",
            db,
            lambda: worker.last_poll_at,
            interval_s=settings.heartbeat_interval_s,
            progress_limit_s=STALE_BEATS * max(settings.heartbeat_interval_s, settings.arq_poll_delay_s),
        )
        heartbeat.start()
        WorkerContext(
            db=db, sql=sql, bus=bus, queue=queue, run_engine=run_engine, wake_task=wake_task, heartbeat=heartbeat
        ).put(ctx)
        log.info("worker %s ready (concurrency %d)", run_engine.owner, settings.worker_concurrency)

    async def shutdown(ctx: dict[Any, Any]) -> None:
        context = WorkerContext.of(ctx)
        context.wake_task.cancel()
        await context.heartbeat.close()
        await context.run_engine.close()
        await context.queue.close()
        await context.bus.close()
        await context.db.dispose()
        log.info("worker %s stopped: %s", context.run_engine.owner, context.sql.summary())

    worker = WakingWorker(
        functions=[func(advance_run, name=ADVANCE_JOB, max_tries=1000, timeout=JOB_TIMEOUT_S)],
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.worker_concurrency,
        keep_result=0,
        idle_poll_s=settings.arq_poll_delay_s,
        handle_signals=True,
        exit_deadline=True,
        job_completion_wait=max(1, math.ceil(settings.shutdown_grace_s)),
    )
    return worker
