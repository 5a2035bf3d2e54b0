"""Schedules: cron ticks in a timezone that start runs of a workflow, each tick exactly once."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, Connection, DeletePayload, connection, parse_id, require_id
from studio_gql.schema.runs import Run
from studio_gql.schema.workflows import Workflow
from studio_shared.cron import Cron, InvalidCron, InvalidTimezone, parse_timezone
from studio_shared.db import models
from studio_shared.errors import NotFound
from studio_shared.events import BusUnavailable, channels
from studio_shared.rbac import Permission
from studio_shared.store import schedules as store

OUTCOMES = "pending, started, buffered, skipped, missed or failed"


@strawberry.type(description="One tick of a schedule and what became of it.")
class ScheduleFire:
    id: strawberry.ID
    scheduled_for: datetime = strawberry.field(description="The tick (before jitter); unique per schedule.")
    fired_at: datetime = strawberry.field(description="When a scheduler acted on the tick.")
    outcome: str = strawberry.field(
        description=f"{OUTCOMES}: started has a run; buffered waits for the previous run (buffer_one); skipped "
        "met an active previous run; missed was reached too late (downtime) and not caught up; failed says why."
    )
    error: str | None = strawberry.field(description="Why the run could not start (outcome failed).")
    _run_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: models.ScheduleFire) -> ScheduleFire:
        return cls(
            id=strawberry.ID(str(row.id)),
            scheduled_for=row.scheduled_for,
            fired_at=row.fired_at,
            outcome=row.outcome,
            error=row.error,
            _run_id=row.run_id,
        )

    @strawberry.field(description="The run this tick started, if any (null once the run was deleted).")
    async def run(self, info: Info) -> Run | None:
        row = await info.context.loaders.run.load(self._run_id) if self._run_id else None
        return Run.from_model(row) if row else None


@strawberry.type(description="Starts runs of a workflow on a cron schedule in a timezone, each tick exactly once.")
class Schedule:
    id: strawberry.ID
    cron: str = strawberry.field(
        description="5 fields (minute hour day-of-month month day-of-week), or 6 with seconds last; @daily etc."
    )
    timezone: str = strawberry.field(description="The IANA timezone the expression is read in, e.g. Europe/Berlin.")
    enabled: bool = strawberry.field(description="False while paused: no tick fires.")
    next_fire_at: datetime | None = strawberry.field(
        description="When the next tick fires (jitter included); null while paused."
    )
    overlap: str = strawberry.field(description="skip, allow, buffer_one or cancel_previous.")
    catch_up: str = strawberry.field(description="After downtime: skip, latest or all (within catchUpWindowS).")
    catch_up_window_s: int | None = strawberry.field(description="How far back catch-up reaches; null: no limit.")
    jitter_s: int = strawberry.field(description="Each tick fires up to this many seconds late (fixed per tick).")
    input: JSON | None = strawberry.field(description="The input of every run it starts.")
    last_fire_at: datetime | None = strawberry.field(
        description="The newest tick that fired (its run started, or overlap buffered or skipped it); missed ones "
        "do not count."
    )
    created_at: datetime
    updated_at: datetime
    _workflow_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: models.Schedule) -> Schedule:
        return cls(
            id=strawberry.ID(str(row.id)),
            cron=row.cron,
            timezone=row.timezone,
            enabled=row.enabled,
            next_fire_at=row.next_fire_at,
            overlap=row.overlap,
            catch_up=row.catch_up,
            catch_up_window_s=row.catch_up_window_s,
            jitter_s=row.jitter_s,
            input=row.input,
            last_fire_at=row.last_fire_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _workflow_id=row.workflow_id,
        )

    @strawberry.field(description="The workflow each tick starts (its latest published version).")
    async def workflow(self, info: Info) -> Workflow:
        row = await info.context.loaders.workflow.load(self._workflow_id)
        if row is None:
            raise NotFound("workflow", self._workflow_id)
        return Workflow.from_model(row)

    @strawberry.field(description="The fire of lastFireAt's tick: what became of it, and its run.")
    async def last_fire(self, info: Info) -> ScheduleFire | None:
        row = await info.context.loaders.last_fire.load(uuid.UUID(str(self.id)))
        return ScheduleFire.from_model(row) if row else None

    @strawberry.field(description="Its fires, newest tick first.")
    async def fires(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[ScheduleFire]:
        async with info.context.state.reads() as s:
            page = await store.list_fires(s, info.context.tenant_id, uuid.UUID(str(self.id)), first, after)
        return connection(page, ScheduleFire.from_model)


@strawberry.input(description="A schedule's settings; updateSchedule replaces them all.")
class ScheduleInput:
    cron: str = strawberry.field(
        description="e.g. '0 9 * * 1-5'; a 6th field is seconds ('* * * * * */10': every 10 s)."
    )
    timezone: str = "UTC"
    input: JSON | None = strawberry.field(default=None, description="The input of every run it starts.")
    overlap: str = strawberry.field(
        default="skip",
        description="While the previous tick's run is active: skip (no new run), allow, buffer_one (start one "
        "waiting tick when it finishes), cancel_previous (cancel it, start the new one).",
    )
    catch_up: str = strawberry.field(
        default="skip",
        description="Ticks missed while no scheduler ran: skip (none), latest (the newest), all (within "
        "catchUpWindowS, at most 1,000).",
    )
    catch_up_window_s: int | None = strawberry.field(default=None, description="null: no limit.")
    jitter_s: int = strawberry.field(default=0, description="0 to 3600: spread ticks of many schedules out.")
    enabled: bool = True

    def spec(self) -> store.ScheduleSpec:
        return store.ScheduleSpec(
            cron=self.cron,
            timezone=self.timezone,
            input=self.input,
            overlap=self.overlap,
            catch_up=self.catch_up,
            catch_up_window_s=self.catch_up_window_s,
            jitter_s=self.jitter_s,
            enabled=self.enabled,
        )


@strawberry.type
class SchedulePayload:
    schedule: Schedule | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _errors(errors: list[UserError]) -> SchedulePayload:
    return SchedulePayload(errors=errors)


async def _changed(info: Info, row: models.Schedule) -> SchedulePayload:
    """After the commit: wake the schedulers (best effort: they also wake every scheduler_interval_s)."""
    with contextlib.suppress(BusUnavailable):
        await info.context.state.bus.publish(channels.schedules(), {"schedule": str(row.id)})
    return SchedulePayload(schedule=Schedule.from_model(row))


async def schedules_of(info: Info, workflow_id: uuid.UUID) -> list[Schedule]:
    """``Workflow.schedules``: batched per request by a DataLoader."""
    rows = await info.context.loaders.schedules.load(workflow_id)
    return [Schedule.from_model(row) for row in rows or []]


@strawberry.type(description="The next ticks of a cron expression, or why it is not one.")
class SchedulePreview:
    fires: list[datetime] = strawberry.field(description="The next ticks in UTC, soonest first (before jitter).")
    errors: list[UserError] = strawberry.field(description="What is wrong with the expression or timezone.")


PREVIEW_MAX = 20


@strawberry.type
class ScheduleQuery:
    @strawberry.field(
        description=f"The next `count` (1 to {PREVIEW_MAX}) ticks of a cron expression in a timezone, to check it "
        "before saving a schedule; nothing is stored.",
        extensions=needs(Permission.WORKFLOW_READ),
    )
    def schedule_preview(self, cron: str, timezone: str = "UTC", count: int = 5) -> SchedulePreview:
        errors: list[UserError] = []
        if not 1 <= count <= PREVIEW_MAX:
            errors.append(
                UserError(path=["count"], message=f"count is between 1 and {PREVIEW_MAX}", code="OUT_OF_RANGE")
            )
        try:
            parse_timezone(timezone)
        except InvalidTimezone as exc:
            return SchedulePreview(
                fires=[], errors=[*errors, UserError(path=["timezone"], message=str(exc), code="INVALID_TIMEZONE")]
            )
        try:
            parsed = Cron.parse(cron, timezone)
        except InvalidCron as exc:
            errors.append(UserError(path=["cron"], message=str(exc), code="INVALID_CRON"))
        if errors:
            return SchedulePreview(fires=[], errors=errors)
        fires: list[datetime] = []
        at = datetime.now(UTC)
        while len(fires) < count and (tick := parsed.next_after(at)) is not None:
            fires.append(tick)
            at = tick
        return SchedulePreview(fires=fires, errors=[])

    @strawberry.field(description="A schedule by id, or null.", extensions=needs(Permission.WORKFLOW_READ))
    async def schedule(self, info: Info, id: strawberry.ID) -> Schedule | None:
        key = parse_id(id)
        if key is None:
            return None
        async with info.context.state.reads() as s:
            row = await store.get(s, info.context.tenant_id, key)
        return Schedule.from_model(row) if row else None


@strawberry.type
class ScheduleMutation:
    @strawberry.mutation(
        description="Put a workflow on a cron schedule; the next tick after now fires first.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(_errors)
    async def create_schedule(self, info: Info, workflow_id: strawberry.ID, input: ScheduleInput) -> SchedulePayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.create(
                s,
                ctx.tenant_id,
                ctx.require_principal(),
                ctx.state.registry,
                require_id(workflow_id, "workflow"),
                input.spec(),
            )
        return await _changed(info, row)

    @strawberry.mutation(
        description="Replace a schedule's settings; a changed cron, timezone or jitter counts from now.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(_errors)
    async def update_schedule(self, info: Info, id: strawberry.ID, input: ScheduleInput) -> SchedulePayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.update(
                s, ctx.tenant_id, ctx.require_principal(), ctx.state.registry, require_id(id, "schedule"), input.spec()
            )
        return await _changed(info, row)

    @strawberry.mutation(
        description="Pause a schedule: no tick fires until it is resumed.", extensions=needs(Permission.TRIGGER_MANAGE)
    )
    @payload(_errors)
    async def pause_schedule(self, info: Info, id: strawberry.ID) -> SchedulePayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.set_enabled(s, ctx.tenant_id, ctx.require_principal(), require_id(id, "schedule"), False)
        return await _changed(info, row)

    @strawberry.mutation(
        description="Resume a paused schedule from its next tick after now (ticks while paused never fire).",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(_errors)
    async def resume_schedule(self, info: Info, id: strawberry.ID) -> SchedulePayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.set_enabled(s, ctx.tenant_id, ctx.require_principal(), require_id(id, "schedule"), True)
        return await _changed(info, row)

    @strawberry.mutation(
        description="Delete a schedule and its fire history; the runs it started stay.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(lambda errors: DeletePayload(errors=errors))
    async def delete_schedule(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            await store.delete(s, ctx.tenant_id, ctx.require_principal(), require_id(id, "schedule"))
        return DeletePayload(deleted_id=id)
