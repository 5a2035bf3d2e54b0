"""The job queue port: an in-process asyncio pool (embedded default) or arq on Redis."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from studio_shared.settings import Settings

ADVANCE_JOB = "advance_run"


class JobQueue(Protocol):
    async def enqueue_advance(
        self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, defer_until: datetime | None = None, dedupe: bool = False
    ) -> None:
        """Ask some worker to drive the run (now, or not before ``defer_until``); duplicates are harmless.

        ``dedupe``: do nothing if a deduplicated job for this run is still waiting (the sweep's re-dispatches,
        which must not pile up behind a backlog).
        """
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def job_queue_from(settings: Settings) -> JobQueue:
    """The in-process pool without Redis; arq with it (imported only then)."""
    if settings.redis_url is None:
        from studio_worker.queue.inprocess import InProcessQueue

        return InProcessQueue(concurrency=settings.worker_concurrency)
    from studio_worker.queue.arq import ArqQueue

    return ArqQueue(settings.redis_url)


__all__ = ["ADVANCE_JOB", "JobQueue", "job_queue_from"]
