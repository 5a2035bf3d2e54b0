"""The arq side: the job coroutine, the worker's start-up, and a worker that wakes on a pub/sub nudge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import uuid
from typing import Any

from arq import func
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from studio_shared.db import create_engine
from studio_shared.db.stats import SqlStats
from studio_shared.events import channels, event_bus_from, listen_forever
from studio_shared.settings import Settings
from studio_worker.engine.runtime import RunEngine
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue import ADVANCE_JOB
from studio_worker.queue.arq import ArqQueue

log = logging.getLogger("studio.worker")
REDIS_RETRY_MAX_S = 5.0
# The due jobs (as arq reads them: score up to now, oldest first), claimed in order while there is room: a job is
# claimed by setting arq's in-progress key if nobody has (a job running anywhere has it). Returns id, score, ...
# KEYS[1]: the queue. ARGV: now (ms), read offset, read limit, free slots, in-progress timeout (ms), key prefix.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', ARGV[2], ARGV[3])
local claimed = {}
local room = tonumber(ARGV[4])
for i = 1, #due, 2 do
  if room == 0 then break end
  if redis.call('SET', ARGV[6] .. due[i], '1', 'NX', 'PX', ARGV[5]) then
    claimed[#claimed + 1] = due[i]
    claimed[#claimed + 1] = due[i + 1]
    room = room - 1
  end
end
return claimed
"""
JOB_TIMEOUT_S = 7 * 24 * 3600  # a job drives a run until it parks or finishes; steps carry their own timeouts


async def advance_run(ctx: dict[str, Any], tenant_id: str, run_id: str) -> None:
    engine: RunEngine = ctx["engine"]
    await engine.advance(uuid.UUID(tenant_id), uuid.UUID(run_id))


class WakingWorker(Worker):
    """arq polls its queue every ``poll_delay``; this worker also polls the moment the API nudges it."""

    def __init__(self, *args: Any, idle_poll_s: float, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_poll_s = idle_poll_s
        self.wake = asyncio.Event()
        self._redis_down_for = 0.0
        self._claim_script: AsyncScript | None = None

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        """SIGTERM/SIGINT: arq stops taking jobs and waits ``job_completion_wait``; our drivers start no new
        step and hand each run over once its running steps are done, so the wait is as short as they are."""
        engine: RunEngine | None = self.ctx.get("engine")
        if engine is not None:
            engine.draining.set()
        self.wake.set()
        super().handle_sig_wait_for_completion(signum)

    async def claim_due(self) -> None:
        """Claim and start due jobs that nobody runs yet, as many as there are free slots: one round trip.

        A job stays in arq's queue until it finishes, so every poll reads the running jobs again, oldest first.
        arq reads the due ids, then checks and claims each with four round trips (WATCH, EXISTS, ZSCORE,
        MULTI/EXEC), one id after another: a new job waited behind a check of every job in progress, and a busy
        tenant's runs made every other tenant's runs start later. Here one script reads the due jobs and claims
        them in Redis, in order, until the free slots are taken: ``SET NX`` of arq's in-progress key (what arq's
        MULTI sets) decides who runs a job, so a job running anywhere, here included, is passed over.
        """
        room = self.max_jobs - self.job_counter
        if room <= 0:
            return
        self._claim_script = self._claim_script or self.pool.register_script(_CLAIM_DUE)
        claimed = await self._claim_script(
            keys=[self.queue_name],
            args=[
                timestamp_ms(),
                self._queue_read_offset,
                self.queue_read_limit,
                room,
                int(self.in_progress_timeout_s * 1000),
                in_progress_key_prefix,
            ],
        )
        for raw_id, score in zip(claimed[::2], claimed[1::2], strict=True):
            job_id = raw_id.decode()
            await self.sem.acquire()  # never waits: the script claimed no more than the free slots
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _poll_once(self) -> None:
        """arq's poll iteration, with ``claim_due`` in place of its read of the queue and ``start_jobs``."""
        if self.allow_pick_jobs:
            await self.claim_due()
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # an error in run_job propagates, as in arq
        await self.heart_beat()

    async def _poll_iteration(self) -> None:
        try:
            await self._poll_once()
        except (RedisError, OSError) as exc:
            # Redis is away (restarting, a network blip): keep the process and its running steps, and poll
            # again with a backoff. Lost queue entries come back from the database through the sweep.
            self._redis_down_for = min(max(self._redis_down_for * 2, 0.25), REDIS_RETRY_MAX_S)
            log.warning("Redis unavailable (%s); polling again in %.2f s", type(exc).__name__, self._redis_down_for)
            await asyncio.sleep(self._redis_down_for)
            return
        self._redis_down_for = 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=self.idle_poll_s)
        self.wake.clear()


def build_worker(settings: Settings) -> WakingWorker:
    if settings.redis_url is None:
        raise SystemExit("studio worker needs STUDIO_REDIS_URL (without Redis, `studio serve` runs the workers)")
    redis_url = settings.redis_url
    worker: WakingWorker

    async def startup(ctx: dict[str, Any]) -> None:
        db = create_engine(settings)
        ctx["sql"] = SqlStats().attach(db)
        bus = event_bus_from(redis_url)
        await bus.start()
        queue = ArqQueue(redis_url)
        await queue.start()
        engine = RunEngine(settings, db, bus, queue, load_catalog(settings))
        await engine.start()
        ctx.update(db=db, bus=bus, queue=queue, engine=engine)
        ctx["wake_task"] = asyncio.create_task(listen_forever(bus, channels.wake(), lambda _: worker.wake.set()))
        log.info("worker %s ready (concurrency %d)", engine.owner, settings.worker_concurrency)

    async def shutdown(ctx: dict[str, Any]) -> None:
        ctx["wake_task"].cancel()
        await ctx["engine"].close()
        await ctx["queue"].close()
        await ctx["bus"].close()
        await ctx["db"].dispose()
        log.info("worker %s stopped: %s", ctx["engine"].owner, ctx["sql"].summary())

    worker = WakingWorker(
        functions=[func(advance_run, name=ADVANCE_JOB, max_tries=1000, timeout=JOB_TIMEOUT_S)],
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.worker_concurrency,
        keep_result=0,
        idle_poll_s=settings.arq_poll_delay_s,
        handle_signals=True,
        job_completion_wait=max(1, math.ceil(settings.shutdown_grace_s)),
    )
    return worker
