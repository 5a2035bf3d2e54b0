"""Cron schedules of a workflow: validated settings, tenant-scoped CRUD, and the fires they produced.

The scheduler (``studio_worker.scheduler``) owns ``next_tick_at``/``next_fire_at``/``last_fire_at`` while a
schedule runs; writes here set them only when the timing changes (cron, timezone, jitter, enabled), from now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import Principal
from studio_shared.cron import Cron, InvalidCron, InvalidTimezone, jitter, parse_timezone
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.definition import check_run_input, default_input, parse_definition
from studio_shared.errors import Conflict, NotFound, Problem, ValidationFailed
from studio_shared.schemas import NodeRegistry
from studio_shared.store import audit
from studio_shared.store import workflows as workflows_store
from studio_shared.store.pagination import Page, keyset, paged

OVERLAP_POLICIES = ("skip", "allow", "buffer_one", "cancel_previous")
CATCH_UP_POLICIES = ("skip", "latest", "all")
MAX_JITTER_S = 3600
MAX_CATCH_UP_WINDOW_S = 31 * 24 * 3600
MAX_SCHEDULES_PER_WORKFLOW = 50


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """Everything a user sets on a schedule (``ScheduleInput``); ``check`` validates it."""

    cron: str
    timezone: str = "UTC"
    input: Any = None
    overlap: str = "skip"
    catch_up: str = "skip"
    catch_up_window_s: int | None = None
    jitter_s: int = 0
    enabled: bool = True

    def check(self) -> Cron:
        """The parsed cron; every problem at once, each with its path under ``input``."""
        problems: list[Problem] = []
        zone_ok = True
        try:
            parse_timezone(self.timezone)
        except InvalidTimezone as exc:
            problems.append(Problem(("input", "timezone"), str(exc), "INVALID_TIMEZONE"))
            zone_ok = False
        cron: Cron | None = None
        try:
            cron = Cron.parse(self.cron, self.timezone if zone_ok else "UTC")
        except InvalidCron as exc:
            problems.append(Problem(("input", "cron"), str(exc), "INVALID_CRON"))
        if self.overlap not in OVERLAP_POLICIES:
            problems.append(Problem(("input", "overlap"), f"overlap is one of: {', '.join(OVERLAP_POLICIES)}"))
        if self.catch_up not in CATCH_UP_POLICIES:
            problems.append(Problem(("input", "catchUp"), f"catchUp is one of: {', '.join(CATCH_UP_POLICIES)}"))
        window = self.catch_up_window_s
        if window is not None and not 1 <= window <= MAX_CATCH_UP_WINDOW_S:
            problems.append(
                Problem(
                    ("input", "catchUpWindowS"),
                    f"catchUpWindowS is between 1 and {MAX_CATCH_UP_WINDOW_S} seconds (31 days), or null for no limit",
                    "OUT_OF_RANGE",
                )
            )
        if not 0 <= self.jitter_s <= MAX_JITTER_S:
            problems.append(
                Problem(("input", "jitterS"), f"jitterS is between 0 and {MAX_JITTER_S} seconds", "OUT_OF_RANGE")
            )
        if problems or cron is None:
            raise ValidationFailed(problems)
        return cron


def next_fire(schedule_id: uuid.UUID, cron: Cron, jitter_s: int, after: datetime) -> tuple[datetime, datetime] | None:
    """(tick, due): the first tick after ``after`` and when it fires, jitter included; None if it never fires."""
    tick = cron.next_after(after)
    if tick is None:
        return None
    return tick, tick + fire_jitter(schedule_id, tick, jitter_s)


def fire_jitter(schedule_id: uuid.UUID, tick: datetime, jitter_s: int) -> timedelta:
    return jitter(str(schedule_id), tick, jitter_s)


def _apply_timing(row: models.Schedule, cron: Cron, now: datetime) -> None:
    """Point the cursor at the first tick after now (ticks while paused or before a change are not missed)."""
    following = next_fire(row.id, cron, row.jitter_s, now) if row.enabled else None
    row.next_tick_at, row.next_fire_at = following if following is not None else (None, None)


async def _check_workflow(s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> None:
    workflow = await workflows_store.require(s, tenant_id, workflow_id)
    if workflow.archived:
        raise Conflict("the workflow is archived; it can no longer start runs", ["workflowId"])


async def _check_target(
    s: AsyncSession, tenant_id: uuid.UUID, registry: NodeRegistry, workflow_id: uuid.UUID, input: Any
) -> None:
    """The workflow exists here and is not archived; the input fits its newest version's trigger, if published."""
    await _check_workflow(s, tenant_id, workflow_id)
    version = await workflows_store.get_version(s, tenant_id, workflow_id, None)
    if version is None:
        return  # publishing is checked when a tick fires (the fire fails, saying so)
    try:
        definition = parse_definition(version.definition, registry)
        check_run_input(definition, default_input(definition) if input is None else input)  # as a fire starts it
    except ValidationFailed as exc:
        raise ValidationFailed(Problem(("input", *p.path), p.message, p.code) for p in exc.problems) from None


def _describe(row: models.Schedule) -> dict[str, Any]:
    return {"cron": row.cron, "timezone": row.timezone, "enabled": row.enabled, "overlap": row.overlap}


async def create(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    workflow_id: uuid.UUID,
    spec: ScheduleSpec,
    now: datetime | None = None,
) -> models.Schedule:
    cron = spec.check()
    await _check_target(s, tenant_id, registry, workflow_id, spec.input)
    count = await s.scalar(
        sa.select(sa.func.count())
        .select_from(models.Schedule)
        .where(models.Schedule.tenant_id == tenant_id, models.Schedule.workflow_id == workflow_id)
    )
    if (count or 0) >= MAX_SCHEDULES_PER_WORKFLOW:
        raise Conflict(f"a workflow has at most {MAX_SCHEDULES_PER_WORKFLOW} schedules", ["workflowId"])
    row = models.Schedule(id=uuid.uuid4(), tenant_id=tenant_id, workflow_id=workflow_id, created_by=actor.person_id)
    _assign(row, spec, cron)
    _apply_timing(row, cron, now or utcnow())
    s.add(row)
    await s.flush()
    audit.record(s, tenant_id, actor.actor, "schedule.create", ("schedule", row.id), _describe(row))
    return row


def _assign(row: models.Schedule, spec: ScheduleSpec, cron: Cron) -> None:
    row.cron = " ".join(spec.cron.split())
    row.timezone = cron.timezone
    row.input = spec.input
    row.overlap = spec.overlap
    row.catch_up = spec.catch_up
    row.catch_up_window_s = spec.catch_up_window_s
    row.jitter_s = spec.jitter_s
    row.enabled = spec.enabled


async def get(s: AsyncSession, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> models.Schedule | None:
    return await s.scalar(
        sa.select(models.Schedule).where(models.Schedule.tenant_id == tenant_id, models.Schedule.id == schedule_id)
    )


async def require(s: AsyncSession, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> models.Schedule:
    row = await get(s, tenant_id, schedule_id)
    if row is None:
        raise NotFound("schedule", schedule_id)
    return row


async def update(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    schedule_id: uuid.UUID,
    spec: ScheduleSpec,
    now: datetime | None = None,
) -> models.Schedule:
    """Replace the settings; the next tick is recomputed from now only when the timing changed."""
    row = await require(s, tenant_id, schedule_id)
    cron = spec.check()
    await _check_target(s, tenant_id, registry, row.workflow_id, spec.input)
    timing = (row.cron, row.timezone, row.jitter_s, row.enabled)
    _assign(row, spec, cron)
    if timing != (row.cron, row.timezone, row.jitter_s, row.enabled):
        _apply_timing(row, cron, now or utcnow())
    row.updated_at = utcnow()
    await s.flush()
    audit.record(s, tenant_id, actor.actor, "schedule.update", ("schedule", row.id), _describe(row))
    return row


async def set_enabled(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    schedule_id: uuid.UUID,
    enabled: bool,
    now: datetime | None = None,
) -> models.Schedule:
    """Pause (no tick fires; ``nextFireAt`` is null) or resume (from the next tick after now)."""
    row = await require(s, tenant_id, schedule_id)
    if row.enabled != enabled:
        if enabled:
            await _check_workflow(s, tenant_id, row.workflow_id)
        row.enabled = enabled
        _apply_timing(row, Cron.parse(row.cron, row.timezone), now or utcnow())
        row.updated_at = utcnow()
        await s.flush()
        action = "schedule.resume" if enabled else "schedule.pause"
        audit.record(s, tenant_id, actor.actor, action, ("schedule", row.id))
    return row


async def delete(s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, schedule_id: uuid.UUID) -> None:
    """Delete a schedule and its fire history; runs it started stay."""
    row = await require(s, tenant_id, schedule_id)
    await s.execute(
        sa.delete(models.ScheduleFire).where(
            models.ScheduleFire.tenant_id == tenant_id, models.ScheduleFire.schedule_id == schedule_id
        )
    )
    await s.delete(row)
    audit.record(s, tenant_id, actor.actor, "schedule.delete", ("schedule", schedule_id), _describe(row))


async def of_workflows(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.Schedule]]:
    """Each workflow's schedules, oldest first, in one statement (the DataLoader behind ``Workflow.schedules``)."""
    rows = await s.scalars(
        sa.select(models.Schedule)
        .where(models.Schedule.tenant_id == tenant_id, models.Schedule.workflow_id.in_(workflow_ids))
        .order_by(models.Schedule.created_at, models.Schedule.id)
    )
    out: dict[uuid.UUID, list[models.Schedule]] = {workflow_id: [] for workflow_id in workflow_ids}
    for row in rows:
        out[row.workflow_id].append(row)
    return out


async def last_fires(
    s: AsyncSession, tenant_id: uuid.UUID, schedule_ids: list[uuid.UUID]
) -> dict[uuid.UUID, models.ScheduleFire]:
    """Each schedule's fire of its ``last_fire_at`` tick (the newest that fired), in one statement (the DataLoader
    behind ``Schedule.lastFire``); the unique key (tenant, schedule, tick) finds each one."""
    fire, schedule = models.ScheduleFire, models.Schedule
    rows = await s.scalars(
        sa.select(fire)
        .join(
            schedule,
            sa.and_(
                schedule.tenant_id == fire.tenant_id,
                schedule.id == fire.schedule_id,
                schedule.last_fire_at == fire.scheduled_for,
            ),
        )
        .where(fire.tenant_id == tenant_id, fire.schedule_id.in_(schedule_ids))
    )
    return {row.schedule_id: row for row in rows}


async def list_fires(
    s: AsyncSession, tenant_id: uuid.UUID, schedule_id: uuid.UUID, first: int | None, after: str | None
) -> Page[models.ScheduleFire]:
    """A schedule's fires, newest tick first."""
    fire = models.ScheduleFire
    stmt = sa.select(fire).where(fire.tenant_id == tenant_id, fire.schedule_id == schedule_id)
    stmt, size = keyset(stmt, fire.scheduled_for, fire.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)
