"""The scheduler: fires the due cron ticks of every tenant exactly once, however many schedulers run.

One pass (``run_once``):

1. finds the due schedules (``next_fire_at <= now``: one indexed scan across tenants);
2. claims each in one transaction (``fire``): plans its fires (``fire_plan.plan``), moves its cursor with a
   compare-and-set on ``next_tick_at`` (a scheduler that got there first turns this into a no-op) and inserts
   the fires with ON CONFLICT DO NOTHING on the unique (tenant, schedule, tick), acting only on the rows its
   own insert created;
3. starts the run of each pending fire through ``Control.start_run`` with an idempotency key derived from the
   schedule and the tick, so a fire started twice (its scheduler died after the claim and another resumed
   it) is still one run. A fire that its tenant's start pace refuses stays PENDING and starts at its turn; one that
   its tenant's cap on live runs refuses is FAILED, saying so;
4. resumes open fires (``resume_open``): pending ones a dead scheduler left, buffered ones whose blocking run
   has finished.

Between passes it sleeps until the earliest ``next_fire_at``, at most ``scheduler_interval_s``, and wakes at
once on a ``channels.schedules()`` message (a schedule was created or changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from studio_shared import shutdown
from studio_shared.auth import Principal
from studio_shared.cron import Cron, InvalidCron, InvalidTimezone
from studio_shared.db import create_engine, models, read_only, session_factory
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, RateLimited, TooManyLiveRuns, ValidationFailed
from studio_shared.events import EventBus, channels, event_bus_from, listen_forever
from studio_shared.heartbeat import STALE_BEATS, Heartbeat
from studio_shared.metrics import metrics
from studio_shared.ratelimit import RateLimiter
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.types import FINAL_RUN_STATUSES
from studio_worker.admission import Admission
from studio_worker.control import Control
from studio_worker.engine.records import lookups
from studio_worker.engine.runtime import worker_identity
from studio_worker.fire_plan import BUFFERED, FAILED, MISSED, PENDING, STARTED, Previous, Timing, plan

log = logging.getLogger("studio.scheduler")

_schedules: sa.Table = models.Schedule.__table__
_fires: sa.Table = models.ScheduleFire.__table__
_audit: sa.Table = models.AuditEntry.__table__
PENDING_STALE_S = 15.0  # a fire pending this long lost its scheduler: any scheduler starts it (idempotently)
BATCH = 200  # due schedules, or open fires, one pass takes on (the rest: the next pass, right after)
CONCURRENCY = 8  # schedules one pass fires at once
MAX_ERROR = 2000


def run_key(schedule_id: uuid.UUID, tick: datetime) -> str:
    """The idempotency key of a tick's run: every scheduler derives the same one."""
    return f"schedule:{schedule_id}:{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True, slots=True)
class SchedulePrincipal(Principal):
    """A schedule acting in its tenant (cancel_previous cancels runs): audit entries name it."""

    schedule_id: uuid.UUID | None = None

    @property
    def actor(self) -> str:
        return f"schedule:{self.schedule_id}"


@dataclass(frozen=True, slots=True)
class Fire:
    id: uuid.UUID
    tenant_id: uuid.UUID
    schedule_id: uuid.UUID
    tick: datetime


class _Lost(Exception):
    """Another scheduler moved the schedule's cursor first: this claim is void."""


def _fires_insert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the fires this statement created come back."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_fires).on_conflict_do_nothing(index_elements=["tenant_id", "schedule_id", "scheduled_for"])


class Scheduler:
    """Fires cron schedules; started by ``studio scheduler`` or, in the embedded default, by ``studio serve``."""

    def __init__(
        self, settings: Settings, db: AsyncEngine, bus: EventBus, control: Control, owner: str | None = None
    ) -> None:
        self.settings, self.db, self.bus, self.control = settings, db, bus, control
        self.reader = read_only(db)  # scans and checks: never the write lock on SQLite
        self.owner = owner or worker_identity()
        self.grace = timedelta(seconds=settings.scheduler_misfire_grace_s)
        self.interval_s = settings.scheduler_interval_s
        self._dialect = db.dialect.name
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._later: set[asyncio.Task[None]] = set()  # fires waiting for their tenant's next turn to start runs
        self.last_pass_at: float | None = None  # time.monotonic() of the last pass that succeeded (heartbeat)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="studio-scheduler"),
            asyncio.create_task(
                listen_forever(self.bus, channels.schedules(), lambda _: self._wake.set()), name="studio-scheduler-wake"
            ),
        ]

    async def close(self) -> None:
        tasks = [*self._tasks, *self._later]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a change committed during it wakes the next one at once
            earliest: datetime | None = None
            try:
                earliest = await self.run_once()
                self.last_pass_at = time.monotonic()
            except Exception:
                log.warning("scheduler pass failed; retrying", exc_info=True)
            delay = self.interval_s
            if earliest is not None:
                delay = min(delay, max(0.0, (earliest - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    # -- a pass ----------------------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> datetime | None:
        """Fire every due schedule and resume open fires; returns the earliest next_fire_at (None: nothing)."""
        now = now or utcnow()
        async with self.reader.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(_schedules.c.tenant_id, _schedules.c.id)
                    .where(_schedules.c.next_fire_at <= now)
                    .order_by(_schedules.c.next_fire_at)
                    .limit(BATCH)
                )
            ).all()
        await _each(due, lambda row: self.fire(row.tenant_id, row.id, now))
        await self.resume_open(now)
        async with self.reader.connect() as conn:
            earliest: datetime | None = await conn.scalar(sa.select(sa.func.min(_schedules.c.next_fire_at)))
        return earliest

    async def fire(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID, now: datetime | None = None) -> list[Fire]:
        """Deal with one schedule if it is due: claim its ticks up to ``now``, then start their runs.

        Returns the fires whose runs this call started or tried to (an empty list when the schedule was not
        due, or another scheduler claimed it first).
        """
        now = now or utcnow()
        try:
            claimed, schedule = await self._claim(tenant_id, schedule_id, now)
        except _Lost:
            return []
        for fire in claimed:
            await self._start(fire, schedule)
        return claimed

    async def _claim(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID, now: datetime) -> tuple[list[Fire], Any]:
        """Plan from a read, then write the plan in one short transaction fenced by the cursor it was made from."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(_schedules).where(_schedules.c.tenant_id == tenant_id, _schedules.c.id == schedule_id)
                )
            ).one_or_none()
            if row is None or row.next_tick_at is None or row.next_fire_at is None or row.next_fire_at > now:
                return [], row
            previous = await _previous(conn, tenant_id, schedule_id)
        try:
            cron = Cron.parse(row.cron, row.timezone)
        except (InvalidCron, InvalidTimezone) as exc:  # e.g. a zone the tz database no longer has
            async with self.db.begin() as conn:
                await self._pause(conn, row, f"the schedule cannot be evaluated any more: {exc}")
            return [], row
        timing = Timing(row.id, cron, row.jitter_s, row.overlap, row.catch_up, row.catch_up_window_s)
        result = plan(timing, row.next_tick_at, now, self.grace, previous)
        async with self.db.begin() as conn:
            moved = await conn.scalar(
                _schedules.update()
                .where(
                    _schedules.c.tenant_id == tenant_id,
                    _schedules.c.id == schedule_id,
                    _schedules.c.next_tick_at == row.next_tick_at,
                )
                .values(
                    next_tick_at=result.next_tick,
                    next_fire_at=result.next_fire,
                    last_fire_at=result.last_fired or row.last_fire_at,
                    updated_at=row.updated_at,  # the scheduler's bookkeeping is not an edit
                )
                .returning(_schedules.c.id)
            )
            if moved is None:
                raise _Lost
            if not result.fires:
                return [], row
            inserted = (
                await conn.execute(
                    _fires_insert(self._dialect)
                    .values(
                        [
                            {
                                "id": uuid.uuid4(),
                                "tenant_id": tenant_id,
                                "schedule_id": schedule_id,
                                "scheduled_for": tick,
                                "outcome": outcome,
                                "fired_at": now,
                            }
                            for tick, outcome in result.fires
                        ]
                    )
                    .returning(_fires.c.id, _fires.c.scheduled_for, _fires.c.outcome)
                )
            ).all()
        missed = sum(1 for r in inserted if r.outcome == MISSED)
        if missed:
            log.info("schedule %s missed %d ticks (catch-up policy %r)", schedule_id, missed, row.catch_up)
        pending = sorted((r.scheduled_for, r.id) for r in inserted if r.outcome == PENDING)
        return [Fire(fire_id, tenant_id, schedule_id, tick) for tick, fire_id in pending], row

    async def _start(self, fire: Fire, schedule: Any) -> None:
        """Start a pending fire's run (idempotent by its key) and record the outcome."""
        if schedule.overlap == "cancel_previous":
            await self._cancel_previous(fire)
        values: dict[str, Any]
        try:
            run, _ = await self.control.start_run(
                fire.tenant_id,
                f"schedule:{fire.schedule_id}",
                schedule.workflow_id,
                input=schedule.input,
                idempotency_key=run_key(fire.schedule_id, fire.tick),
                trigger="schedule",
                trigger_data={"schedule_id": str(fire.schedule_id), "scheduled_for": fire.tick.isoformat()},
                started_by=schedule.created_by,
            )
            values = {"outcome": STARTED, "run_id": run.id, "error": None}
            log.debug("schedule %s tick %s started run %s", fire.schedule_id, fire.tick.isoformat(), run.id)
        except RateLimited as exc:
            if not isinstance(exc, TooManyLiveRuns):
                # The tenant's start pace (shared with its API calls, webhooks and messages): the fire stays PENDING
                # and starts at its turn. Its key makes a start by another scheduler meanwhile the same run.
                self._start_later(fire, schedule, exc.retry_after_s)
                return
            log.warning("schedule %s tick %s could not start its run: %s", fire.schedule_id, fire.tick, exc)
            values = {"outcome": FAILED, "run_id": None, "error": str(exc)[:MAX_ERROR]}
        except (NotFound, Conflict, ValidationFailed) as exc:
            log.warning("schedule %s tick %s could not start its run: %s", fire.schedule_id, fire.tick, exc)
            values = {"outcome": FAILED, "run_id": None, "error": str(exc)[:MAX_ERROR]}
            if isinstance(exc, Conflict):  # the workflow was archived: it will never start runs again
                async with self.db.begin() as conn:
                    await self._pause(conn, schedule, str(exc))
        async with self.db.begin() as conn:
            await conn.execute(
                _fires.update()
                .where(_fires.c.tenant_id == fire.tenant_id, _fires.c.id == fire.id, _fires.c.outcome == PENDING)
                .values(**values)
            )

    def _start_later(self, fire: Fire, schedule: Any, delay_s: float) -> None:
        """Start a paced fire after ``delay_s`` (a little more, spread: fires refused together do not come back
        together), without holding up the pass; if this process stops first, ``resume_open`` starts it."""

        async def later() -> None:
            await asyncio.sleep(delay_s * (1 + random.random() / 4))  # noqa: S311 - a spread, not a secret
            try:
                await self._start(fire, schedule)
            except Exception:
                log.warning("starting schedule %s tick %s failed; the next pass retries", fire.schedule_id, fire.tick)

        task = asyncio.create_task(later(), name=f"studio-fire-{fire.id}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _cancel_previous(self, fire: Fire) -> None:
        """cancel_previous: cancel the run of the schedule's previous started fire if it is still active."""
        async with self.reader.connect() as conn:
            run_id = await lookups.active_run_of_latest_fire(conn, fire.tenant_id, fire.schedule_id, fire.tick, STARTED)
        if run_id is None:
            return
        actor = SchedulePrincipal(tenant_id=fire.tenant_id, role=Role.OPERATOR, schedule_id=fire.schedule_id)
        with contextlib.suppress(Conflict, NotFound):  # it finished (or was deleted) in the meantime
            await self.control.cancel_run(fire.tenant_id, actor, run_id)

    async def _pause(self, conn: AsyncConnection, schedule: Any, reason: str) -> None:
        log.warning("pausing schedule %s: %s", schedule.id, reason)
        await conn.execute(
            _schedules.update()
            .where(_schedules.c.tenant_id == schedule.tenant_id, _schedules.c.id == schedule.id)
            .values(enabled=False, next_tick_at=None, next_fire_at=None, updated_at=utcnow())
        )
        await conn.execute(
            _audit.insert().values(
                tenant_id=schedule.tenant_id,
                actor=f"schedule:{schedule.id}",
                action="schedule.pause",
                target_kind="schedule",
                target_id=str(schedule.id),
                data={"reason": reason[:MAX_ERROR]},
                at=utcnow(),
            )
        )

    # -- open fires ------------------------------------------------------------------------------------------

    async def resume_open(self, now: datetime | None = None) -> None:
        """Start pending fires whose scheduler died, and buffered fires whose blocking run has finished."""
        now = now or utcnow()
        stale = now - timedelta(seconds=PENDING_STALE_S)
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        _fires.c.id, _fires.c.tenant_id, _fires.c.schedule_id, _fires.c.scheduled_for, _fires.c.outcome
                    )
                    .where(
                        _fires.c.outcome.in_([PENDING, BUFFERED]),  # the partial index ix_schedule_fires_open
                        sa.or_(_fires.c.outcome == BUFFERED, _fires.c.fired_at < stale),
                    )
                    .order_by(_fires.c.fired_at)
                    .limit(BATCH)
                )
            ).all()
        await _each(
            rows,
            lambda row: self._resume(Fire(row.id, row.tenant_id, row.schedule_id, row.scheduled_for), row.outcome, now),
        )

    async def _resume(self, fire: Fire, outcome: str, now: datetime) -> None:
        async with self.reader.connect() as conn:
            schedule = (
                await conn.execute(
                    sa.select(_schedules).where(
                        _schedules.c.tenant_id == fire.tenant_id, _schedules.c.id == fire.schedule_id
                    )
                )
            ).one_or_none()
            if schedule is None:
                return
            if outcome == BUFFERED and (await _previous(conn, fire.tenant_id, fire.schedule_id, fire.tick)).active:
                return
        if outcome == BUFFERED:
            async with self.db.begin() as conn:
                taken = await conn.scalar(
                    _fires.update()
                    .where(_fires.c.tenant_id == fire.tenant_id, _fires.c.id == fire.id, _fires.c.outcome == BUFFERED)
                    .values(outcome=PENDING, fired_at=now)
                    .returning(_fires.c.id)
                )
            if taken is None:
                return  # another scheduler took it
        else:
            log.info("resuming schedule %s tick %s left pending", fire.schedule_id, fire.tick.isoformat())
        await self._start(fire, schedule)


async def _previous(
    conn: AsyncConnection, tenant_id: uuid.UUID, schedule_id: uuid.UUID, before: datetime | None = None
) -> Previous:
    """The state of the schedule's newest fire that started (or will start) a run, before ``before``."""
    row = await lookups.newest_fire(conn, tenant_id, schedule_id, [PENDING, STARTED, BUFFERED], before)
    if row is None:
        return Previous()
    if row.outcome == BUFFERED:
        return Previous(active=True, buffered=True)
    if row.outcome == PENDING:
        return Previous(active=True)
    return Previous(active=row.status is not None and row.status not in FINAL_RUN_STATUSES)


async def _each(items: Sequence[Any], work: Callable[[Any], Awaitable[object]]) -> None:
    """Run ``work`` on every item, ``CONCURRENCY`` at a time; one failing item does not stop the others."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> None:
        async with gate:
            try:
                await work(item)
            except Exception:
                log.warning("scheduling %s failed; the next pass retries", item, exc_info=True)

    await asyncio.gather(*(one(item) for item in items))


async def serve(settings: Settings) -> None:
    """``studio scheduler``: run the loop until SIGTERM or SIGINT (its runs go to ``studio worker`` processes)."""
    from studio_worker.nodes.plugins import load_catalog
    from studio_worker.queue import job_queue_from

    db = create_engine(settings)
    metrics.watch_pool(db)
    bus = event_bus_from(settings.redis_url)
    await bus.start()
    queue = job_queue_from(settings)
    await queue.start()
    limiter = RateLimiter(settings.redis_url)  # the tenants' start pace, shared with the API processes in Redis
    control = Control(
        session_factory(db),
        bus,
        queue,
        load_catalog(settings).registry,
        Admission(settings, limiter),
        reads=session_factory(read_only(db)),
    )
    scheduler = Scheduler(settings, db, bus, control)
    heartbeat = Heartbeat(
        settings.redis_url or "",
        "scheduler",
        db,
        lambda: scheduler.last_pass_at,
        interval_s=settings.heartbeat_interval_s,
        progress_limit_s=STALE_BEATS * max(settings.heartbeat_interval_s, settings.scheduler_interval_s),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_asked() -> None:
        stop.set()
        shutdown.arm(settings.shutdown_grace_s, "studio scheduler", loop=loop)  # closing must not hang the process

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_asked)
    try:
        await scheduler.start()
        heartbeat.start()
        log.info("scheduler %s ready", scheduler.owner)
        await stop.wait()
    finally:
        await heartbeat.close()
        await scheduler.close()
        await queue.close()
        await bus.close()
        await limiter.close()
        await db.dispose()
        log.info("scheduler %s stopped", scheduler.owner)
