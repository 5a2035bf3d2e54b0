"""arq on Redis: ``enqueue_advance`` puts a job in arq's queue and nudges idle workers over pub/sub."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from studio_shared.events import channels
from studio_shared.events.base import encode
from studio_worker.queue import ADVANCE_JOB
from studio_worker.queue._arq_internals import add_job

WAKE = encode({"wake": True})  # idle workers poll arq at once when they see this


SWEEP_DEDUPE_WINDOW_S = 10.0
_clock = time.time  # the sweep window's clock (tests move it)


class ArqQueue:
    def __init__(self, redis_url: str) -> None:
        self.settings = RedisSettings.from_dsn(redis_url)
        self._pool: ArqRedis | None = None
        self._connecting = asyncio.Lock()

    async def start(self) -> None:
        """Connects lazily on the first enqueue, so the API starts (and /readyz reports) while Redis is down."""

    async def _connect(self) -> ArqRedis:
        # One pool, even when the first enqueues arrive together (each would otherwise open one, and leak it).
        async with self._connecting:
            if self._pool is None:
                self._pool = await create_pool(self.settings)
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def enqueue_advance(
        self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, defer_until: datetime | None = None, dedupe: bool = False
    ) -> None:
        pool = self._pool or await self._connect()
        if not dedupe:
            await self._enqueue_fresh(pool, tenant_id, run_id, defer_until)
            return
        # The sweep dedupes on purpose: its job for the run is still waiting, and the next sweep tries again
        # anyway. The id changes every SWEEP_DEDUPE_WINDOW_S: a sweep job that a killed worker was running stays
        # "in progress" in arq until its (long) timeout, and must not block the run's re-dispatch for that long.
        window = int(_clock() // SWEEP_DEDUPE_WINDOW_S)
        job_id = f"sweep:{run_id}:{window}"
        job = await pool.enqueue_job(ADVANCE_JOB, str(tenant_id), str(run_id), _job_id=job_id, _defer_until=defer_until)
        if job is not None and defer_until is None:
            await pool.publish(channels.wake(), WAKE)

    @staticmethod
    async def _enqueue_fresh(
        pool: ArqRedis, tenant_id: uuid.UUID, run_id: uuid.UUID, defer_until: datetime | None
    ) -> None:
        """A job with a fresh id, and the nudge, in one round trip (one MULTI/EXEC).

        A fresh id normally: arq refuses a job id that is still queued or running, and a refused nudge could be a
        lost one; duplicate deliveries are harmless (the run lease admits one driver). arq's ``enqueue_job`` guards
        against an id in use with WATCH and EXISTS first, two round trips more per enqueue; a new random id is in
        use nowhere. ``add_job`` stores it exactly as ``enqueue_job`` would (see ``_arq_internals``).
        """
        async with pool.pipeline(transaction=True) as pipe:
            add_job(pipe, pool, ADVANCE_JOB, (str(tenant_id), str(run_id)), defer_until)
            if defer_until is None:
                pipe.publish(channels.wake(), WAKE)
            await pipe.execute()
