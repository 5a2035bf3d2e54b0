"""What the app builds once at start-up and every request reads: settings, database, registry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_gql.oidc import OidcProviders
from studio_shared.crypto import SecretBox
from studio_shared.db import Sessions
from studio_shared.events import EventBus
from studio_shared.ratelimit import RateLimiter
from studio_shared.resume import ResumeLinks
from studio_shared.schemas import NodeRegistry
from studio_shared.settings import Settings
from studio_shared.storage import ObjectStore
from studio_worker.control import Control
from studio_worker.host import JobQueue, Messaging, RunEngine

if TYPE_CHECKING:
    from studio_gql.routes.hooks import EndpointCache


class SharedReads:
    """Readers that need the same row for the same reason share one read, for ``ttl_s`` after it started.

    Each ``runUpdates`` follower of a tenant reads back the run a bus message names (ten followers would read it
    ten times), and each open websocket re-checks its credential (five hundred sockets of a few users would read
    the same few user rows a hundred times a second). A read that raised one of ``remember`` is an answer and is
    shared like one; any other failure (the database away) is not: the next reader reads again.
    """

    def __init__(self, ttl_s: float = 2.0, remember: tuple[type[BaseException], ...] = ()) -> None:
        self.ttl_s = ttl_s
        self.remember = remember
        self._reads: dict[Hashable, tuple[float, asyncio.Task[Any]]] = {}

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        now = asyncio.get_running_loop().time()
        for stale in [k for k, (expires, task) in self._reads.items() if expires <= now and task.done()]:
            del self._reads[stale]
        found = self._reads.get(key)
        if found is None:
            task = asyncio.create_task(self._read(key, read), name="shared-read")
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, even if unawaited
            found = self._reads[key] = (now + self.ttl_s, task)
        # Shielded: a reader that leaves while waiting must not cancel the read the others wait for.
        return await asyncio.shield(found[1])

    async def _read(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await read()
        except self.remember:
            raise
        except BaseException:
            self._reads.pop(key, None)
            raise


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    db_engine: AsyncEngine  # the database's (SQLAlchemy); the run engine is run_engine
    sessions: Sessions  # reads and writes (on SQLite every transaction takes the write lock: see db.engine)
    reads: Sessions  # queries only: never the write lock, so a cancelled request cannot leave it held
    lookups: AsyncEngine  # single queries outside a transaction (db.lone_reads): authentication's user lookup
    registry: NodeRegistry
    bus: EventBus
    queue: JobQueue
    control: Control
    messaging: Messaging  # the messaging trigger
    box: SecretBox  # credentials at rest, signed artifact links
    objects: ObjectStore  # artifacts' bytes (local folder or S3); the data-access layer is studio_shared.store
    limiter: RateLimiter  # per-webhook delivery limits (the start pace is the control's admission)
    webhook_endpoints: EndpointCache  # webhooks by id for the delivery path
    run_engine: RunEngine | None  # the in-process engine of the embedded default; None when workers run elsewhere
    resume_links: ResumeLinks  # checks the tokens of wait.event steps' resume URLs (POST /hooks/resume/<token>)
    shared_reads: SharedReads = field(default_factory=SharedReads)  # rows that many subscribers read at once
    oidc: OidcProviders = field(default_factory=OidcProviders)  # SSO providers' discovery documents and keys
