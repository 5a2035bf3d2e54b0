"""The embedded queue: the same job coroutine as arq runs, on N asyncio workers in this process.

Jobs wait in one FIFO per tenant, and the workers take them round-robin between tenants: one job of each tenant
with jobs waiting, in turn. A tenant that queued ten thousand jobs delays another tenant's job by one job at most,
where a single FIFO put it behind all ten thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from studio_shared.db.types import utcnow

log = logging.getLogger("studio.queue")
Advance = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


class InProcessQueue:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        # Tenants with jobs waiting, in the order of their next turn; each with its jobs, oldest first.
        self._turns: OrderedDict[uuid.UUID, deque[uuid.UUID]] = OrderedDict()
        self._waiting = asyncio.Semaphore(0)  # one count per job waiting
        self._handler: Advance | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._deduped: set[uuid.UUID] = set()  # runs with a deduplicated job still in the queue
        self._taking = True

    def bind(self, handler: Advance) -> None:
        """The engine's ``advance``; bound after construction because the engine also holds this queue."""
        self._handler = handler

    async def start(self) -> None:
        if self._handler is None:
            raise RuntimeError("bind a handler before starting the in-process queue")
        self._workers = [asyncio.create_task(self._work(i), name=f"studio-worker-{i}") for i in range(self.concurrency)]

    def stop_taking(self) -> None:
        """Shutting down: workers finish the job in hand and take no other (what is queued stays in the database:
        the next process's sweep dispatches it), so a backlog cannot keep a draining engine busy."""
        self._taking = False
        for _ in self._workers:
            self._waiting.release()  # wakes idle workers, which see that they may stop

    async def close(self) -> None:
        self._taking = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._turns.clear()

    def __len__(self) -> int:
        """Jobs waiting (deferred ones not yet due are not counted)."""
        return sum(len(jobs) for jobs in self._turns.values())

    async def enqueue_advance(
        self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, defer_until: datetime | None = None, dedupe: bool = False
    ) -> None:
        delay = (defer_until - utcnow()).total_seconds() if defer_until else 0.0
        if delay <= 0:
            if dedupe:
                if run_id in self._deduped:
                    return
                self._deduped.add(run_id)
            self._put(tenant_id, run_id)
            return
        # A timer lost with the process is harmless: the engine's sweep finds due runs in the database.
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self._put(tenant_id, run_id)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)

    def _put(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        jobs = self._turns.get(tenant_id)
        if jobs is None:
            jobs = self._turns[tenant_id] = deque()  # a tenant with nothing waiting joins at the back of the turns
        jobs.append(run_id)
        self._waiting.release()

    def _take(self) -> tuple[uuid.UUID, uuid.UUID]:
        """The next job: the oldest of the tenant whose turn it is; that tenant goes to the back of the turns."""
        tenant_id, jobs = next(iter(self._turns.items()))
        run_id = jobs.popleft()
        if jobs:
            self._turns.move_to_end(tenant_id)
        else:
            del self._turns[tenant_id]
        return tenant_id, run_id

    async def _work(self, index: int) -> None:
        handler = self._handler
        if handler is None:
            raise RuntimeError("no handler bound")
        while True:
            await self._waiting.acquire()
            if not self._taking:
                return
            if not self._turns:  # never expected: each count stands for a job
                continue
            tenant_id, run_id = self._take()
            self._deduped.discard(run_id)
            try:
                await handler(tenant_id, run_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("driving run %s failed; the sweep will retry it", run_id)
