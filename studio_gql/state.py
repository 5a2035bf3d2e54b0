"""What the app builds once at start-up and every request reads: settings, database, registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
