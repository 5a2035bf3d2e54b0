"""What the app builds once at start-up and every request reads: settings, database, registry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_gql.ratelimit import RateLimiter
from studio_shared.crypto import SecretBox
from studio_shared.db import Sessions
from studio_shared.events import EventBus
from studio_shared.schemas import NodeRegistry
from studio_shared.settings import Settings
from studio_shared.storage import ObjectStore
from studio_worker.control import Control
from studio_worker.engine.runtime import RunEngine
from studio_worker.messaging import Messaging
from studio_worker.queue import JobQueue

if TYPE_CHECKING:
    from studio_gql.routes.hooks import EndpointCache


class SharedReads:
    """Readers that need the same row for the same reason share one read: each ``runUpdates`` follower of a tenant
    reads back the run a bus message names, and ten followers of one tenant would otherwise read it ten times.

    A read is keyed by what makes it the same (the tenant, the run and the message's seq) and kept ``ttl_s`` after
    it started, so followers that reach the message a little later still share it; a read that failed fails for
    each of them, as their own would have.
    """

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self._reads: dict[Hashable, tuple[float, asyncio.Task[Any]]] = {}

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        now = asyncio.get_running_loop().time()
        for stale in [k for k, (expires, task) in self._reads.items() if expires <= now and task.done()]:
            del self._reads[stale]
        found = self._reads.get(key)
        if found is None:

            async def run() -> Any:
                return await read()

            task = asyncio.create_task(run(), name="shared-read")
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, even if unawaited
            found = self._reads[key] = (now + self.ttl_s, task)
        # Shielded: a follower that leaves while waiting must not cancel the read the others wait for.
        return await asyncio.shield(found[1])


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: Sessions  # reads and writes (on SQLite every transaction takes the write lock: see db.engine)
    reads: Sessions  # queries only: never the write lock, so a cancelled request cannot leave it held
    registry: NodeRegistry
    bus: EventBus
    queue: JobQueue
    control: Control
    messaging: Messaging  # the messaging trigger
    box: SecretBox  # credentials at rest, signed artifact links
    store: ObjectStore  # artifacts
    limiter: RateLimiter  # per-webhook delivery limits
    webhook_endpoints: EndpointCache  # webhooks by id for the delivery path
    engine_runtime: RunEngine | None  # the in-process engine of the embedded default; None when workers run elsewhere
    shared_reads: SharedReads = field(default_factory=SharedReads)  # rows that many subscribers read at once
