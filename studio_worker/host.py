"""What a process that hosts the worker side uses: the one surface of ``studio_worker`` besides ``control``.

``studio serve`` builds the worker side with ``hosted``: the job queue, the control, the messaging trigger, and
in the embedded default (no Redis) the run engine and the scheduler too, since that process is then also the
worker pool. ``run_worker`` and ``run_scheduler`` are the ``studio worker`` and ``studio scheduler`` commands.
``studio_gql`` imports this module and ``studio_worker.control`` only (tests/test_layers.py holds it to that);
the egress policy's client is re-exported here for the API's own outbound requests (SSO discovery, keys, tokens).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared import shutdown
from studio_shared.db import Sessions
from studio_shared.events import EventBus
from studio_shared.metrics import configure as configure_metrics
from studio_shared.metrics import serve_metrics
from studio_shared.ratelimit import RateLimiter
from studio_shared.schemas import NodeRegistry
from studio_shared.settings import Settings
from studio_worker.admission import Admission
from studio_worker.control import Control
from studio_worker.egress import EgressError, EgressPolicy, guarded_client, send
from studio_worker.engine.runtime import RunEngine
from studio_worker.messaging import Messaging
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue import JobQueue, job_queue_from
from studio_worker.queue.inprocess import InProcessQueue
from studio_worker.scheduler import Scheduler, serve

log = logging.getLogger("studio.metrics")

__all__ = [
    "Control",
    "EgressError",
    "EgressPolicy",
    "Hosted",
    "JobQueue",
    "Messaging",
    "RunEngine",
    "guarded_client",
    "hosted",
    "run_scheduler",
    "run_worker",
    "send",
]


@dataclass(frozen=True, slots=True)
class Hosted:
    """The worker side as the API process sees it."""

    registry: NodeRegistry
    queue: JobQueue
    control: Control
    messaging: Messaging  # the messaging trigger
    run_engine: RunEngine | None  # the in-process engine of the embedded default; None when workers run elsewhere


@asynccontextmanager
async def hosted(
    settings: Settings,
    engine: AsyncEngine,
    sessions: Sessions,
    reads: Sessions,
    bus: EventBus,
    limiter: RateLimiter,
) -> AsyncIterator[Hosted]:
    """Open the worker side on the caller's database, bus and limiter (which the caller opens and closes).

    On the way out, or when a later part fails to start, what was started stops in reverse order: the scheduler,
    the queue stops taking jobs, the runs in hand finish (up to ``shutdown_grace_s``), the queue, the run engine.
    """
    async with AsyncExitStack() as stack:
        catalog = load_catalog(settings)
        queue = job_queue_from(settings)
        run_engine: RunEngine | None = None
        if isinstance(queue, InProcessQueue):  # the embedded default: this process is also the worker pool
            run_engine = RunEngine(settings, engine, bus, queue, catalog)
            queue.bind(run_engine.advance)
            await run_engine.start()
            stack.push_async_callback(run_engine.close)
        await queue.start()
        stack.push_async_callback(queue.close)
        if run_engine is not None:
            # the grace counts from SIGTERM: the API's open requests had their share of it already
            stack.push_async_callback(_drain, run_engine, settings.shutdown_grace_s)
        if isinstance(queue, InProcessQueue):
            stack.callback(queue.stop_taking)  # a backlog stays in the database; only the runs in hand finish
        control = Control(
            sessions,
            bus,
            queue,
            catalog.registry,
            Admission(settings, limiter),  # one pace and one cap for every kind of start, in this process and others
            reads=reads,
            allow_self_approval=settings.allow_self_approval,
            definitions=run_engine.definitions if run_engine is not None else None,  # one cache per process
        )
        if run_engine is not None:  # embedded: this process fires the schedules too (with Redis: `studio scheduler`)
            scheduler = Scheduler(settings, engine, bus, control)
            await scheduler.start()
            stack.push_async_callback(scheduler.close)
        yield Hosted(
            registry=catalog.registry,
            queue=queue,
            control=control,
            messaging=Messaging(sessions, reads, control),
            run_engine=run_engine,
        )


async def _drain(run_engine: RunEngine, grace_s: float) -> None:
    await run_engine.drain(shutdown.remaining(grace_s))


def run_worker(settings: Settings) -> None:
    """``studio worker``: an arq worker process until SIGTERM or SIGINT (needs ``settings.redis_url``)."""
    from studio_worker.jobs import build_worker  # arq is imported only by the processes that run it

    _start_metrics(settings, "worker")
    build_worker(settings).run()


def run_scheduler(settings: Settings) -> None:
    """``studio scheduler``: fire cron schedules until SIGTERM or SIGINT (needs ``settings.redis_url``)."""
    _start_metrics(settings, "scheduler")
    asyncio.run(serve(settings))


def _start_metrics(settings: Settings, kind: str) -> None:
    """The process's metrics on ``settings.metrics_port`` (when set), bound to ``settings.metrics_host``."""
    configure_metrics(tenant_labels=settings.metrics_tenant_labels)
    if settings.metrics_port is None:
        return
    try:
        url = serve_metrics(settings.metrics_host, settings.metrics_port)
    except OSError as exc:  # the port is taken, or the interface is not this host's
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        message = f"studio {kind}: cannot serve metrics on {where} ({exc.strerror or exc}): pick another port"
        raise SystemExit(message) from None
    log.info("%s metrics on %s", kind, url)
