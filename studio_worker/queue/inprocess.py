"""The embedded queue: the same job coroutine as arq runs, on N asyncio workers in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from studio_shared.db.types import utcnow

log = logging.getLogger("studio.queue")
Advance = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


class InProcessQueue:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._queue: asyncio.Queue[tuple[uuid.UUID, uuid.UUID]] = asyncio.Queue()
        self._handler: Advance | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._deduped: set[uuid.UUID] = set()  # runs with a deduplicated job still in the queue

    def bind(self, handler: Advance) -> None:
        """The engine's ``advance``; bound after construction because the engine also holds this queue."""
        self._handler = handler

    async def start(self) -> None:
        if self._handler is None:
            raise RuntimeError("bind a handler before starting the in-process queue")
        self._workers = [asyncio.create_task(self._work(i), name=f"studio-worker-{i}") for i in range(self.concurrency)]

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def enqueue_advance(
        self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, defer_until: datetime | None = None, dedupe: bool = False
    ) -> None:
        delay = (defer_until - utcnow()).total_seconds() if defer_until else 0.0
        if delay <= 0:
            if dedupe:
                if run_id in self._deduped:
                    return
                self._deduped.add(run_id)
            self._queue.put_nowait((tenant_id, run_id))
            return
        # A timer lost with the process is harmless: the engine's sweep finds due runs in the database.
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self._queue.put_nowait((tenant_id, run_id))

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)

    async def _work(self, index: int) -> None:
        handler = self._handler
        if handler is None:
            raise RuntimeError("no handler bound")
        while True:
            tenant_id, run_id = await self._queue.get()
            self._deduped.discard(run_id)
            try:
                await handler(tenant_id, run_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("driving run %s failed; the sweep will retry it", run_id)
