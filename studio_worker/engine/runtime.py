"""The engine of one process: drives runs, renews their leases, sweeps up work nobody holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.db import lone_reads, lone_statements, read_only, unflushed_statements
from studio_shared.db.types import utcnow
from studio_shared.events import EventBus, Message, channels, listen_forever
from studio_shared.metrics import metrics
from studio_shared.settings import Settings
from studio_shared.templates import Templates, default_templates
from studio_worker.code.python import warn_if_unsandboxed
from studio_worker.engine.commit import GroupCommitter
from studio_worker.engine.definitions import Definitions
from studio_worker.engine.driver import RunDriver
from studio_worker.engine.quotas import Quotas
from studio_worker.engine.records import leases, limits
from studio_worker.engine.records.cancels import CHUNK as CANCEL_CHUNK
from studio_worker.engine.records.cancels import cancel_unstarted
from studio_worker.nodes.plugins import NodeCatalog
from studio_worker.nodes.services import NodeServices
from studio_worker.queue import JobQueue

log = logging.getLogger("studio.engine")


def worker_identity() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunEngine:
    """Everything a process needs to drive runs; started by ``studio serve`` (embedded) or ``studio worker``."""

    def __init__(
        self,
        settings: Settings,
        db: AsyncEngine,
        bus: EventBus,
        queue: JobQueue,
        catalog: NodeCatalog,
        templates: Templates | None = None,
        owner: str | None = None,
        services: NodeServices | None = None,
    ) -> None:
        self.settings, self.db, self.bus, self.queue = settings, db, bus, queue
        self.registry, self.handlers = catalog.registry, catalog.handlers
        self.templates = templates or default_templates()
        self.owner = owner or worker_identity()
        self.lease_s = settings.run_lease_s
        self.max_parallel_steps = settings.max_parallel_steps_per_run
        self.reader = read_only(db)  # for queries that only read (sweeps, admissions): no write lock on SQLite
        self.lone_statements = lone_statements(db)  # a write that needs no transaction around it (autocommit on PG)
        self.lone_reads = lone_reads(db)  # reads that need no snapshot of their own (autocommit on PG)
        # Claims: their commit need not wait for the disk (on PostgreSQL a pool of its own, closed in close()).
        self.claims = unflushed_statements(db, min(4, settings.db_pool_size))  # one round trip each: 4 suffice
        self.single_writer = db.dialect.name == "sqlite"  # one writer for the whole database: keep writes short
        self.committer = GroupCommitter(db, bus, self.owner)
        self.quotas = Quotas(settings, self.lone_reads)  # stored-output totals of the tenants whose runs this drives
        self.services = services or NodeServices(settings, db, bus=bus)
        self.active: dict[uuid.UUID, RunDriver] = {}
        self.draining = asyncio.Event()  # set on shutdown: drivers start no new step and hand their runs over
        self._idle = asyncio.Event()  # set whenever the last active driver returns
        self.definitions = Definitions(self.registry)  # shared with Control when one process hosts both
        self._background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        warn_if_unsandboxed(self.settings)
        await self.committer.start()
        self._background = [
            asyncio.create_task(self._heartbeat_loop(), name="studio-heartbeat"),
            asyncio.create_task(self._sweep_loop(), name="studio-sweep"),
            asyncio.create_task(listen_forever(self.bus, channels.control(), self._on_control), name="studio-control"),
        ]

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.committer.close()
        await self.services.close()
        if self.claims.sync_engine.pool is not self.db.sync_engine.pool:
            await self.claims.dispose()

    async def drain(self, grace_s: float) -> None:
        """Shut down gently: no new step starts; wait up to ``grace_s`` for the running ones to finish.

        Each driver hands its run over (lease released, advance re-enqueued) as soon as its running steps are
        done. Drivers still busy after the grace are cancelled by the caller; they release their leases on the
        way out, so another process resumes their runs at once instead of after the lease expires.
        """
        self.draining.set()
        if self.active:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace_s)

    async def release(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Give up this process's lease on a run (steps it left RUNNING are re-run as interrupted)."""
        async with self.db.begin() as conn:
            await leases.release(conn, tenant_id, run_id, self.owner)

    # -- jobs --------------------------------------------------------------------------------------------

    async def advance(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """The job: drive the run unless this process already does (a duplicate delivery is a no-op)."""
        if run_id in self.active:
            return  # already driving it; a poke in the meantime makes the driver reload before it parks
        driver = RunDriver(self, tenant_id, run_id)
        self.active[run_id] = driver
        try:
            await driver.drive()
        finally:
            self.active.pop(run_id, None)
            if not self.active:
                self._idle.set()

    async def schedule_wake(self, tenant_id: uuid.UUID, run_id: uuid.UUID, at: datetime) -> None:
        await self.queue.enqueue_advance(tenant_id, run_id, defer_until=at)

    async def dispatch_held(self, tenant_id: uuid.UUID) -> None:
        """A run freed a slot of its tenant's concurrency limit (it finished or parked), or children were spawned
        held: dispatch as many of the oldest held runs as there are free slots (queued runs that are not held
        still have their job in the queue)."""
        for queued_id in await self._take_held(tenant_id):
            await self.queue.enqueue_advance(tenant_id, queued_id)

    async def _take_held(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        """The oldest held runs of a tenant, as many as it has free slots, no longer held: the caller dispatches them.

        A read first (nearly always nothing is held, or no slot is free: no write), then the conditional update.
        """
        async with self.reader.connect() as conn:
            due = await limits.held_within_limit(conn, tenant_id, self.settings.max_concurrent_runs_per_tenant)
        if not due:
            return []
        async with self.lone_statements.begin() as conn:
            return await limits.unhold(conn, tenant_id, due, utcnow())

    # -- background loops --------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Renew the lease of every run this process drives; notice cancellations."""
        interval = self.lease_s / 4
        while True:
            await asyncio.sleep(interval)
            if not self.active:
                continue
            try:
                await self.renew_leases()
            except Exception:
                log.warning("lease heartbeat failed; retrying", exc_info=True)

    async def renew_leases(self) -> None:
        """One statement for every run this process drives. A run whose row a commit holds right now is skipped
        (the next beat renews it, three more come before the lease ends): waiting for it made this statement and
        the commits of several drivers lock rows in different orders, and each deadlock PostgreSQL broke after a
        second (found in the noisy-tenant scenario)."""
        async with self.db.begin() as conn:
            renewed = await leases.renew(conn, self.owner, self.active, utcnow() + timedelta(seconds=self.lease_s))
            for run_id, cancel_requested_at in renewed:
                driver = self.active.get(run_id)
                if driver is not None and cancel_requested_at is not None:
                    driver.cancel.set()

    async def _sweep_loop(self) -> None:
        """Re-dispatch work nobody holds: expired leases, due wake-ups, cancellations, lost enqueues."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                # QUEUED runs asked to cancel whose canceller died before ending them: ended here, not dispatched.
                await cancel_unstarted(self.db, self.bus, limit=CANCEL_CHUNK)
                for tenant_id, run_id in await self.sweep():
                    # At most one pending sweep job per run: a backlog must not breed more re-dispatches.
                    await self.queue.enqueue_advance(tenant_id, run_id, dedupe=True)
                    metrics.sweep_dispatches.inc()
            except Exception:
                log.warning("sweep failed; retrying", exc_info=True)

    async def sweep(self, limit: int = 500) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Runs to dispatch again: expired leases, due wake-ups, cancellations, QUEUED runs whose job was lost.

        (QUEUED runs asked to cancel are not among them: nobody drives them, so the sweep ends them in the database,
        ``cancel_unstarted``, instead of starting a driver for each.)

        Held runs (QUEUED beyond their tenant's concurrency limit) are not re-dispatched wholesale: a tenant that
        queued thousands would have every one of them refused again each sweep, and its backlog would crowd the
        queue ahead of every other tenant. Each tenant with held runs gets as many as it has free slots (the
        backstop for a finishing run's kick that was lost).
        """
        now = utcnow()
        requeue_after = timedelta(seconds=self.settings.requeue_after_s)
        async with self.reader.connect() as conn:
            found = await leases.unheld(conn, now, requeue_after, limit)
            holding = await limits.holding_tenants(conn, now - requeue_after)
        for tenant_id in holding:
            found.extend((tenant_id, run_id) for run_id in await self._take_held(tenant_id))
        return [(tenant_id, run_id) for tenant_id, run_id in found if run_id not in self.active]

    def _on_control(self, message: Message) -> None:
        """Cancel signals from the API reach the driver at once (the heartbeat is the backstop)."""
        run_id = message.get("cancel")
        driver = self.active.get(uuid.UUID(run_id)) if isinstance(run_id, str) else None
        if driver is not None:
            driver.cancel.set()
