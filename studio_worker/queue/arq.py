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
        # A fresh job id normally: arq refuses a job id that is still queued or running, and a refused nudge
        # could be a lost one. Duplicate deliveries are harmless (the run lease admits one driver). The sweep
        # dedupes on purpose: its job for the run is still waiting, and the next sweep tries again anyway. The id
        # changes every SWEEP_DEDUPE_WINDOW_S: a sweep job that a killed worker was running stays "in progress"
        # in arq until its (long) timeout, and must not block the run's re-dispatch for that long.
        window = int(_clock() // SWEEP_DEDUPE_WINDOW_S)
        job_id = f"sweep:{run_id}:{window}" if dedupe else uuid.uuid4().hex
        job = await pool.enqueue_job(ADVANCE_JOB, str(tenant_id), str(run_id), _job_id=job_id, _defer_until=defer_until)
        if job is not None and defer_until is None:
            await pool.publish(channels.wake(), WAKE)
