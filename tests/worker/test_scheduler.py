"""Schedules: the fire plan, GraphQL CRUD and its guards, and schedulers that fire every tick exactly once.

Scheduler passes here run on a clock of their own (``fire(..., now=...)``) far in the future: the schedule's
cursor is set to 2099, so the embedded scheduler of the test app (real clock) never touches these schedules,
while runs start for real. The last tests run the real loop: the embedded one (SQLite pass) and two
``studio scheduler`` processes, one killed and restarted mid-way (PostgreSQL pass).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.cron import Cron
from studio_shared.db import models
from studio_shared.events import channels
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import schedules, workflows
from studio_shared.types import RunStatus
from studio_worker.fire_plan import BUFFERED, MISSED, PENDING, SKIPPED, Previous, Timing, plan
from studio_worker.scheduler import PENDING_STALE_S, Scheduler, run_key
from tests.conftest import POSTGRES_ADMIN_URL, SERVICES, GraphQLClient, StudioProcesses, TenantFixture, Workers
from tests.worker.engine_harness import actor, chain, publish, wait_for

T0 = datetime(2099, 1, 1, tzinfo=UTC)  # the schedulers' clock in these tests: a tick of every expression used
EVERY_10_S = "* * * * * */10"
GRACE = timedelta(seconds=30)
DELAY = {"id": "wait", "type": "delay", "config": {"seconds": 600}}
ECHO = {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}}


# ------------------------------------------------------------------------------------------- the fire plan


def timing(expression: str = "* * * * *", **kwargs: Any) -> Timing:
    return Timing(uuid.uuid4(), Cron.parse(expression), **kwargs)


def minutes(*offsets: int) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_an_on_time_tick_fires_and_the_cursor_moves_to_the_next() -> None:
    result = plan(timing(), T0, T0 + timedelta(seconds=2), GRACE, Previous())
    assert result.fires == [(T0, PENDING)]
    assert result.next_tick == result.next_fire == T0 + timedelta(minutes=1)
    assert result.last_fired == T0


def test_a_slow_pass_fires_every_tick_within_the_grace() -> None:
    result = plan(timing(EVERY_10_S, overlap="allow"), T0, T0 + timedelta(seconds=25), GRACE, Previous())
    assert result.fires == [(T0 + timedelta(seconds=s), PENDING) for s in (0, 10, 20)]
    assert result.next_tick == T0 + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("catch_up", "window_s", "fired"),
    [
        ("skip", None, []),
        ("latest", None, [9]),
        ("all", None, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("all", 300, [6, 7, 8, 9]),  # T0+5:05 and later
        ("latest", 20, []),
    ],
)
def test_catch_up_after_downtime(catch_up: str, window_s: int | None, fired: list[int]) -> None:
    # Down from T0 to T0+10:05: ticks 0-9 are missed (older than the grace), tick 10 is on time.
    now = T0 + timedelta(minutes=10, seconds=5)
    result = plan(timing(overlap="allow", catch_up=catch_up, catch_up_window_s=window_s), T0, now, GRACE, Previous())
    assert [t for t, o in result.fires if o == PENDING] == [*minutes(*fired), T0 + timedelta(minutes=10)]
    assert [t for t, o in result.fires if o == MISSED] == [t for t in minutes(*range(10)) if t not in minutes(*fired)]
    assert result.next_tick == T0 + timedelta(minutes=11)
    assert result.last_fired == T0 + timedelta(minutes=10)


def test_a_long_downtime_looks_at_the_most_recent_ticks_only() -> None:
    now = T0 + timedelta(days=30)
    result = plan(timing(catch_up="all", overlap="allow"), T0, now, GRACE, Previous())
    caught = [t for t, o in result.fires if o == PENDING]
    assert len(caught) == 1000 + 1, "at most MAX_CATCH_UP missed ticks, then the one on time"
    assert caught[-2] == now - timedelta(minutes=1) and caught[-1] == now
    assert result.next_tick == now + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("policy", "previous", "outcomes"),
    [
        ("skip", Previous(), [PENDING, SKIPPED, SKIPPED]),
        ("skip", Previous(active=True), [SKIPPED, SKIPPED, SKIPPED]),
        ("allow", Previous(active=True), [PENDING, PENDING, PENDING]),
        ("cancel_previous", Previous(active=True), [PENDING, PENDING, PENDING]),
        ("buffer_one", Previous(), [PENDING, BUFFERED, SKIPPED]),
        ("buffer_one", Previous(active=True), [BUFFERED, SKIPPED, SKIPPED]),
        ("buffer_one", Previous(active=True, buffered=True), [SKIPPED, SKIPPED, SKIPPED]),
    ],
)
def test_overlap_decides_each_firing_tick(policy: str, previous: Previous, outcomes: list[str]) -> None:
    result = plan(timing(overlap=policy, catch_up="all"), T0, T0 + timedelta(minutes=2, seconds=1), GRACE, previous)
    assert result.fires == list(zip(minutes(0, 1, 2), outcomes, strict=True))


def test_a_jittered_tick_is_due_only_after_its_jitter() -> None:
    jittered = timing(jitter_s=600)
    due = jittered.due(T0)
    assert T0 < due <= T0 + timedelta(seconds=600), "this schedule's id gives T0 a non-zero jitter"
    assert plan(jittered, T0, due - timedelta(milliseconds=1), GRACE, Previous()).fires == []
    result = plan(jittered, T0, due, GRACE, Previous())
    assert result.fires[0] == (T0, PENDING)
    assert result.next_fire == jittered.due(result.next_tick or T0)


# ------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def scheduler(state: AppState, settings: Settings) -> Scheduler:
    """A scheduler of this process (not started: the tests drive its passes with their own clock)."""
    return Scheduler(settings, state.db_engine, state.bus, state.control)


async def make_schedule(
    state: AppState,
    tenant: TenantFixture,
    workflow_id: uuid.UUID,
    cron: str = EVERY_10_S,
    at: datetime = T0,
    **spec: Any,
) -> uuid.UUID:
    """A schedule whose cursor is ``at`` (created paused, so the embedded scheduler never fires it on real time)."""
    async with state.sessions.begin() as s:
        row = await schedules.create(
            s,
            tenant.id,
            actor(tenant),
            state.registry,
            workflow_id,
            schedules.ScheduleSpec(cron=cron, enabled=False, **spec),
        )
    await move_cursor(state, tenant, row.id, at)
    return row.id


async def move_cursor(state: AppState, tenant: TenantFixture, schedule_id: uuid.UUID, tick: datetime) -> None:
    async with state.sessions.begin() as s:
        row = await schedules.require(s, tenant.id, schedule_id)
        row.enabled, row.next_tick_at = True, tick
        row.next_fire_at = tick + schedules.fire_jitter(row.id, tick, row.jitter_s)


async def schedule_row(state: AppState, tenant: TenantFixture, schedule_id: uuid.UUID) -> models.Schedule:
    async with state.sessions() as s:
        return await schedules.require(s, tenant.id, schedule_id)


async def fires_of(state: AppState, tenant: TenantFixture, schedule_id: uuid.UUID) -> list[models.ScheduleFire]:
    async with state.sessions() as s:
        rows = await s.scalars(
            sa.select(models.ScheduleFire)
            .where(models.ScheduleFire.tenant_id == tenant.id, models.ScheduleFire.schedule_id == schedule_id)
            .order_by(models.ScheduleFire.scheduled_for)
        )
        return list(rows)


async def runs_of(state: AppState, tenant: TenantFixture, schedule_id: uuid.UUID) -> list[models.Run]:
    async with state.sessions() as s:
        rows = await s.scalars(
            sa.select(models.Run)
            .where(models.Run.tenant_id == tenant.id, models.Run.created_by == f"schedule:{schedule_id}")
            .order_by(models.Run.created_at)
        )
        return list(rows)


def outcomes(fires: list[models.ScheduleFire]) -> list[tuple[datetime, str]]:
    return [(f.scheduled_for, f.outcome) for f in fires]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --------------------------------------------------------------------------------------- firing, exactly once


async def test_a_fire_starts_one_run_and_advances_next_fire_at(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(state, tenant, workflow_id, input={"n": 1})

    assert await scheduler.fire(tenant.id, schedule_id, at(-1)) == [], "not due yet"
    [fire] = await scheduler.fire(tenant.id, schedule_id, at(1))
    assert fire.tick == T0
    row = await schedule_row(state, tenant, schedule_id)
    assert (row.last_fire_at, row.next_tick_at, row.next_fire_at) == (T0, at(10), at(10))

    [recorded] = await fires_of(state, tenant, schedule_id)
    assert (recorded.outcome, recorded.scheduled_for, recorded.error) == ("started", T0, None)
    [run] = await runs_of(state, tenant, schedule_id)
    assert recorded.run_id == run.id
    assert (run.trigger, run.idempotency_key, run.input) == ("schedule", run_key(schedule_id, T0), {"n": 1})
    assert run.trigger_data == {"schedule_id": str(schedule_id), "scheduled_for": T0.isoformat()}
    # The schedule's maker is the person its runs start for (who may not approve them when self-approval is off).
    assert (await schedule_row(state, tenant, schedule_id)).created_by == tenant.users[Role.ADMIN]
    assert run.started_by_user == tenant.users[Role.ADMIN]
    finished = await wait_for(state, tenant.id, run.id)
    assert finished.run.status is RunStatus.SUCCEEDED and finished.run.output == {"echo": {"n": 1}}

    assert await scheduler.fire(tenant.id, schedule_id, at(9)) == [], "the next tick is not due before T0+10s"
    [second] = await scheduler.fire(tenant.id, schedule_id, at(10))
    assert second.tick == at(10)
    assert (await schedule_row(state, tenant, schedule_id)).next_fire_at == at(20)


async def test_two_schedulers_racing_on_one_tick_fire_it_once(
    state: AppState, tenant: TenantFixture, settings: Settings, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="allow")
    a, b = (Scheduler(settings, state.db_engine, state.bus, state.control) for _ in range(2))
    for step in range(5):
        now = at(10 * step + 0.5)
        claimed = await asyncio.gather(*(s.fire(tenant.id, schedule_id, now) for s in (a, b, a, b)))
        assert sum(len(c) for c in claimed) == 1, claimed
    fires = await fires_of(state, tenant, schedule_id)
    assert [f.scheduled_for for f in fires] == [at(10 * i) for i in range(5)]
    assert {f.outcome for f in fires} == {"started"}
    runs = await runs_of(state, tenant, schedule_id)
    assert sorted(r.id for r in runs) == sorted(f.run_id for f in fires if f.run_id)


async def test_a_cursor_moved_back_onto_a_fired_tick_does_not_fire_it_again(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    """The unique (tenant, schedule, tick) is the last guard: a stale cursor (a restored backup, a replica's
    read, a bug) meets the fire already recorded, and neither a second fire nor a second run appears."""
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="allow")
    assert len(await scheduler.fire(tenant.id, schedule_id, at(1))) == 1
    await move_cursor(state, tenant, schedule_id, T0)
    assert await scheduler.fire(tenant.id, schedule_id, at(2)) == []
    assert len(await fires_of(state, tenant, schedule_id)) == 1
    assert len(await runs_of(state, tenant, schedule_id)) == 1
    assert (await schedule_row(state, tenant, schedule_id)).next_tick_at == at(10), "the cursor moved on"


async def test_a_fire_left_pending_by_a_dead_scheduler_starts_one_run(
    state: AppState, tenant: TenantFixture, settings: Settings, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="allow")
    claimed_at = datetime.now(UTC) - timedelta(seconds=PENDING_STALE_S + 1)
    async with state.sessions.begin() as s:
        for tick in (T0, at(10)):  # both claimed; the dead scheduler had started the first tick's run already
            s.add(
                models.ScheduleFire(
                    tenant_id=tenant.id,
                    schedule_id=schedule_id,
                    scheduled_for=tick,
                    outcome="pending",
                    fired_at=claimed_at,
                )
            )
    first, _ = await state.control.start_run(
        tenant.id, f"schedule:{schedule_id}", workflow_id, idempotency_key=run_key(schedule_id, T0), trigger="schedule"
    )
    a, b = (Scheduler(settings, state.db_engine, state.bus, state.control) for _ in range(2))
    await asyncio.gather(a.resume_open(), b.resume_open(), a.resume_open())
    fires = await fires_of(state, tenant, schedule_id)
    assert [f.outcome for f in fires] == ["started", "started"]
    runs = await runs_of(state, tenant, schedule_id)
    assert len(runs) == 2 and fires[0].run_id == first.id
    assert {r.idempotency_key for r in runs} == {run_key(schedule_id, T0), run_key(schedule_id, at(10))}


async def test_a_fire_that_cannot_start_says_why_and_an_archived_workflow_pauses_its_schedule(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler
) -> None:
    async with state.sessions.begin() as s:
        draft = await workflows.create(
            s, tenant.id, actor(tenant), state.registry, name="draft", description=None, definition=chain(ECHO)
        )
    schedule_id = await make_schedule(state, tenant, draft.id)
    await scheduler.fire(tenant.id, schedule_id, at(1))
    [failed] = await fires_of(state, tenant, schedule_id)
    assert failed.outcome == "failed" and failed.run_id is None
    assert failed.error is not None and "publish the workflow" in failed.error
    assert (await schedule_row(state, tenant, schedule_id)).enabled, "an unpublished workflow may be published soon"

    async with state.sessions.begin() as s:
        await workflows.publish(s, tenant.id, actor(tenant), state.registry, draft.id, None)
        await workflows.archive(s, tenant.id, actor(tenant), draft.id)
    await scheduler.fire(tenant.id, schedule_id, at(11))
    fires = await fires_of(state, tenant, schedule_id)
    assert fires[-1].outcome == "failed" and "archived" in (fires[-1].error or "")
    row = await schedule_row(state, tenant, schedule_id)
    assert (row.enabled, row.next_fire_at) == (False, None)


# ----------------------------------------------------------------------------------------------- overlap


async def waiting_run(state: AppState, tenant: TenantFixture, run_id: uuid.UUID | None) -> None:
    assert run_id is not None
    await wait_for(state, tenant.id, run_id, {RunStatus.WAITING})


async def test_overlap_skip_starts_nothing_while_the_previous_run_is_active(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(DELAY))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="skip")
    await scheduler.fire(tenant.id, schedule_id, at(1))
    [first] = await fires_of(state, tenant, schedule_id)
    await waiting_run(state, tenant, first.run_id)
    await scheduler.fire(tenant.id, schedule_id, at(11))
    await scheduler.fire(tenant.id, schedule_id, at(21))
    assert outcomes(await fires_of(state, tenant, schedule_id)) == [
        (T0, "started"),
        (at(10), "skipped"),
        (at(20), "skipped"),
    ]

    assert first.run_id is not None
    await state.control.cancel_run(tenant.id, actor(tenant), first.run_id)
    await wait_for(state, tenant.id, first.run_id)
    await scheduler.fire(tenant.id, schedule_id, at(31))
    assert outcomes(await fires_of(state, tenant, schedule_id))[-1] == (at(30), "started")
    assert len(await runs_of(state, tenant, schedule_id)) == 2


async def test_overlap_allow_starts_a_run_per_tick(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(DELAY))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="allow")
    for step in range(3):
        await scheduler.fire(tenant.id, schedule_id, at(10 * step + 1))
    fires = await fires_of(state, tenant, schedule_id)
    assert [f.outcome for f in fires] == ["started"] * 3
    for fire in fires:
        await waiting_run(state, tenant, fire.run_id)


async def test_overlap_buffer_one_starts_one_waiting_tick_when_the_run_finishes(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(DELAY))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="buffer_one")
    for step in range(3):
        await scheduler.fire(tenant.id, schedule_id, at(10 * step + 1))
    fires = await fires_of(state, tenant, schedule_id)
    assert outcomes(fires) == [(T0, "started"), (at(10), "buffered"), (at(20), "skipped")]
    await waiting_run(state, tenant, fires[0].run_id)
    await scheduler.resume_open()
    assert (await fires_of(state, tenant, schedule_id))[1].outcome == "buffered", "still blocked"

    assert fires[0].run_id is not None
    await state.control.cancel_run(tenant.id, actor(tenant), fires[0].run_id)
    await wait_for(state, tenant.id, fires[0].run_id)
    await scheduler.resume_open()
    # The app's own scheduler (the SQLite pass's embedded one) may take the fire first: it is PENDING while that
    # start is under way, and started either way.
    for _ in range(200):
        buffered = (await fires_of(state, tenant, schedule_id))[1]
        if buffered.outcome != "pending":
            break
        await asyncio.sleep(0.05)
    assert buffered.outcome == "started" and buffered.run_id is not None
    run = await wait_for(state, tenant.id, buffered.run_id, {RunStatus.WAITING})
    assert run.run.idempotency_key == run_key(schedule_id, at(10)), "the run belongs to the buffered tick"
    await scheduler.fire(tenant.id, schedule_id, at(31))
    assert outcomes(await fires_of(state, tenant, schedule_id))[-1] == (at(30), "buffered")


async def test_overlap_cancel_previous_cancels_the_active_run_and_starts_the_new_one(
    state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(DELAY))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="cancel_previous")
    await scheduler.fire(tenant.id, schedule_id, at(1))
    [first] = await fires_of(state, tenant, schedule_id)
    await waiting_run(state, tenant, first.run_id)
    await scheduler.fire(tenant.id, schedule_id, at(11))
    fires = await fires_of(state, tenant, schedule_id)
    assert [f.outcome for f in fires] == ["started", "started"]
    assert first.run_id is not None and fires[1].run_id is not None
    cancelled = await wait_for(state, tenant.id, first.run_id)
    assert cancelled.run.status is RunStatus.CANCELLED
    await waiting_run(state, tenant, fires[1].run_id)
    async with state.sessions() as s:
        actors = await s.scalars(
            sa.select(models.AuditEntry.actor).where(
                models.AuditEntry.tenant_id == tenant.id,
                models.AuditEntry.action == "run.cancel",
                models.AuditEntry.target_id == str(first.run_id),
            )
        )
        assert list(actors) == [f"schedule:{schedule_id}"]


# ---------------------------------------------------------------------------------------------- catch-up


@pytest.mark.parametrize(
    ("catch_up", "window_s", "started"),
    [("skip", None, [10]), ("latest", None, [9, 10]), ("all", None, list(range(11))), ("all", 300, [6, 7, 8, 9, 10])],
)
async def test_catch_up_after_the_scheduler_was_down(
    state: AppState,
    tenant: TenantFixture,
    scheduler: Scheduler,
    workers: Workers,
    catch_up: str,
    window_s: int | None,
    started: list[int],
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(
        state, tenant, workflow_id, "* * * * *", overlap="allow", catch_up=catch_up, catch_up_window_s=window_s
    )
    # The last pass before the downtime fired T0-1min; the next pass comes at T0+10min+5s.
    await move_cursor(state, tenant, schedule_id, T0)
    await scheduler.fire(tenant.id, schedule_id, T0 + timedelta(minutes=10, seconds=5))
    fires = await fires_of(state, tenant, schedule_id)
    assert [f.scheduled_for for f in fires] == minutes(*range(11)), "every tick is accounted for"
    assert [f.scheduled_for for f in fires if f.outcome == "started"] == minutes(*started)
    assert {f.outcome for f in fires if f.scheduled_for not in minutes(*started)} <= {"missed"}
    runs = await runs_of(state, tenant, schedule_id)
    assert len(runs) == len(started)
    row = await schedule_row(state, tenant, schedule_id)
    assert (row.next_fire_at, row.last_fire_at) == (T0 + timedelta(minutes=11), T0 + timedelta(minutes=10))
    for run in runs:
        assert (await wait_for(state, tenant.id, run.id)).run.status is RunStatus.SUCCEEDED


# -------------------------------------------------------------------------------------------------- GraphQL


CREATE = """mutation($w: ID!, $i: ScheduleInput!) {
  createSchedule(workflowId: $w, input: $i) {
    schedule { id cron timezone enabled nextFireAt overlap catchUp catchUpWindowS jitterS input lastFireAt
               workflow { id } }
    errors { path message code } } }"""
UPDATE = """mutation($id: ID!, $i: ScheduleInput!) {
  updateSchedule(id: $id, input: $i) { schedule { id cron timezone enabled nextFireAt overlap } errors { path code } } }"""
PAUSE = "mutation($id: ID!) { pauseSchedule(id: $id) { schedule { enabled nextFireAt } errors { code } } }"
RESUME = "mutation($id: ID!) { resumeSchedule(id: $id) { schedule { enabled nextFireAt } errors { code } } }"
DELETE = "mutation($id: ID!) { deleteSchedule(id: $id) { deletedId errors { code } } }"
READ = """query($id: ID!) {
  schedule(id: $id) { id cron fires(first: 10) { edges { node { scheduledFor outcome run { id trigger } } } } } }"""
YEARLY = "0 0 1 1 *"


async def published(gql: GraphQLClient, tenant: TenantFixture, definition: dict[str, Any]) -> str:
    made = await gql.data(
        'mutation($d: JSON!) { createWorkflow(input: {name: "sched", definition: $d}) { workflow { id } } }',
        {"d": definition},
        tenant.token(),
    )
    workflow_id: str = made["createWorkflow"]["workflow"]["id"]
    await gql.data(
        "mutation($id: ID!) { publishWorkflow(id: $id) { version { id } } }", {"id": workflow_id}, tenant.token()
    )
    return workflow_id


async def test_create_read_update_pause_resume_delete(gql: GraphQLClient, tenant: TenantFixture) -> None:
    workflow_id = await published(gql, tenant, chain(ECHO))
    editor = tenant.token(Role.EDITOR)
    before = datetime.now(UTC)
    made = (
        await gql.data(CREATE, {"w": workflow_id, "i": {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}}, editor)
    )["createSchedule"]
    assert made["errors"] == []
    schedule = made["schedule"]
    expected = Cron.parse("0 9 * * 1-5", "Europe/Berlin").next_after(before)
    assert expected is not None
    assert datetime.fromisoformat(schedule["nextFireAt"]) == expected
    assert {k: v for k, v in schedule.items() if k not in {"id", "nextFireAt"}} == {
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Berlin",
        "enabled": True,
        "overlap": "skip",
        "catchUp": "skip",
        "catchUpWindowS": None,
        "jitterS": 0,
        "input": None,
        "lastFireAt": None,
        "workflow": {"id": workflow_id},
    }
    schedule_id = schedule["id"]

    listed = await gql.data(
        "query($id: ID!) { workflow(id: $id) { schedules { id cron } } }",
        {"id": workflow_id},
        tenant.token(Role.VIEWER),
    )
    assert listed["workflow"]["schedules"] == [{"id": schedule_id, "cron": "0 9 * * 1-5"}]
    read = await gql.data(READ, {"id": schedule_id}, tenant.token(Role.VIEWER))
    assert read["schedule"] == {"id": schedule_id, "cron": "0 9 * * 1-5", "fires": {"edges": []}}

    updated = (
        await gql.data(
            UPDATE, {"id": schedule_id, "i": {"cron": "*/5 * * * *", "timezone": "UTC", "overlap": "allow"}}, editor
        )
    )["updateSchedule"]
    assert updated["errors"] == []
    next_fire = datetime.fromisoformat(updated["schedule"]["nextFireAt"])
    assert next_fire.minute % 5 == 0 and next_fire - datetime.now(UTC) <= timedelta(minutes=5)
    assert updated["schedule"]["overlap"] == "allow"

    paused = (await gql.data(PAUSE, {"id": schedule_id}, editor))["pauseSchedule"]
    assert paused == {"schedule": {"enabled": False, "nextFireAt": None}, "errors": []}
    resumed = (await gql.data(RESUME, {"id": schedule_id}, editor))["resumeSchedule"]
    assert resumed["schedule"]["enabled"] and resumed["schedule"]["nextFireAt"] is not None
    paused_by_update = (await gql.data(UPDATE, {"id": schedule_id, "i": {"cron": YEARLY, "enabled": False}}, editor))[
        "updateSchedule"
    ]
    assert paused_by_update["schedule"]["nextFireAt"] is None

    assert (await gql.data(DELETE, {"id": schedule_id}, editor))["deleteSchedule"] == {
        "deletedId": schedule_id,
        "errors": [],
    }
    assert (await gql.data(READ, {"id": schedule_id}, editor))["schedule"] is None
    again = (await gql.data(DELETE, {"id": schedule_id}, editor))["deleteSchedule"]
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("given", "problems"),
    [
        ({"cron": "0 25 * * *"}, [(["input", "cron"], "INVALID_CRON")]),
        ({"cron": "0 9 * * *", "timezone": "Europe/Atlantis"}, [(["input", "timezone"], "INVALID_TIMEZONE")]),
        (
            {"cron": "nope", "timezone": "nowhere", "overlap": "queue", "catchUp": "some", "jitterS": -1},
            [
                (["input", "timezone"], "INVALID_TIMEZONE"),
                (["input", "cron"], "INVALID_CRON"),
                (["input", "overlap"], "INVALID"),
                (["input", "catchUp"], "INVALID"),
                (["input", "jitterS"], "OUT_OF_RANGE"),
            ],
        ),
        ({"cron": "0 9 * * *", "catchUpWindowS": 0}, [(["input", "catchUpWindowS"], "OUT_OF_RANGE")]),
        ({"cron": "0 9 * * *", "jitterS": 3601}, [(["input", "jitterS"], "OUT_OF_RANGE")]),
        ({"cron": "0 9 * * *", "input": {"n": "x"}}, [(["input", "input", "n"], "INVALID_INPUT")]),
    ],
)
async def test_invalid_settings_are_user_errors_with_paths_and_write_nothing(
    gql: GraphQLClient, tenant: TenantFixture, given: dict[str, Any], problems: list[tuple[list[str], str]]
) -> None:
    typed = chain(ECHO)
    typed["nodes"][0]["config"] = {"input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
    workflow_id = await published(gql, tenant, typed)
    answer = (await gql.data(CREATE, {"w": workflow_id, "i": given}, tenant.token(Role.EDITOR)))["createSchedule"]
    assert answer["schedule"] is None
    assert [(e["path"], e["code"]) for e in answer["errors"]] == problems
    assert all(e["message"] for e in answer["errors"])
    listed = await gql.data(
        "query($id: ID!) { workflow(id: $id) { schedules { id } } }", {"id": workflow_id}, tenant.token()
    )
    assert listed["workflow"]["schedules"] == []


PREVIEW = "query($c: String!, $z: String!, $n: Int!) { schedulePreview(cron: $c, timezone: $z, count: $n) { fires errors { path code message } } }"


async def test_preview_lists_the_next_ticks_in_the_timezone(gql: GraphQLClient, tenant: TenantFixture) -> None:
    answer = (await gql.data(PREVIEW, {"c": "30 9 * * *", "z": "Europe/Berlin", "n": 3}, tenant.token(Role.VIEWER)))[
        "schedulePreview"
    ]
    assert answer["errors"] == []
    fires = [datetime.fromisoformat(f) for f in answer["fires"]]
    assert len(fires) == 3 and fires == sorted(fires) and fires[0] > datetime.now(UTC)
    berlin = [f.astimezone(ZoneInfo("Europe/Berlin")) for f in fires]
    assert all((b.hour, b.minute) == (9, 30) for b in berlin)
    assert {(b - a).days for a, b in itertools.pairwise(berlin)} == {1}


@pytest.mark.parametrize(
    ("cron", "zone", "count", "paths"),
    [
        ("0 9 * *", "UTC", 5, [["cron"]]),
        ("0 0 30 2 *", "UTC", 5, [["cron"]]),
        ("0 9 * * *", "Mars/Olympus", 5, [["timezone"]]),
        ("0 9 * * *", "UTC", 0, [["count"]]),
        ("nonsense", "UTC", 21, [["count"], ["cron"]]),
    ],
)
async def test_preview_of_a_bad_expression_says_what_to_fix(
    gql: GraphQLClient, tenant: TenantFixture, cron: str, zone: str, count: int, paths: list[list[str]]
) -> None:
    answer = (await gql.data(PREVIEW, {"c": cron, "z": zone, "n": count}, tenant.token()))["schedulePreview"]
    assert answer["fires"] == []
    assert [e["path"] for e in answer["errors"]] == paths
    assert all(e["message"] for e in answer["errors"])


async def test_an_archived_workflow_gets_no_schedule_and_its_schedules_stay_paused(
    gql: GraphQLClient, tenant: TenantFixture
) -> None:
    workflow_id = await published(gql, tenant, chain(ECHO))
    made = await gql.data(CREATE, {"w": workflow_id, "i": {"cron": YEARLY}}, tenant.token())
    schedule_id = made["createSchedule"]["schedule"]["id"]
    await gql.data(PAUSE, {"id": schedule_id}, tenant.token())
    await gql.data(
        "mutation($id: ID!) { archiveWorkflow(id: $id) { workflow { id } } }", {"id": workflow_id}, tenant.token()
    )
    answer = (await gql.data(CREATE, {"w": workflow_id, "i": {"cron": YEARLY}}, tenant.token()))["createSchedule"]
    assert [(e["path"], e["code"]) for e in answer["errors"]] == [(["workflowId"], "CONFLICT")]
    resumed = (await gql.data(RESUME, {"id": schedule_id}, tenant.token()))["resumeSchedule"]
    assert [e["code"] for e in resumed["errors"]] == ["CONFLICT"]
    updated = (await gql.data(UPDATE, {"id": schedule_id, "i": {"cron": YEARLY}}, tenant.token()))["updateSchedule"]
    assert [e["code"] for e in updated["errors"]] == ["CONFLICT"]
    still = await gql.data("query($id: ID!) { schedule(id: $id) { enabled } }", {"id": schedule_id}, tenant.token())
    assert still["schedule"] == {"enabled": False}


async def test_writes_need_trigger_manage_and_reads_workflow_read(gql: GraphQLClient, tenant: TenantFixture) -> None:
    workflow_id = await published(gql, tenant, chain(ECHO))
    for role in (Role.VIEWER, Role.APPROVER, Role.OPERATOR):
        denied = await gql.raw(CREATE, {"w": workflow_id, "i": {"cron": YEARLY}}, tenant.token(role))
        assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"], role
        assert "trigger:manage" in denied["errors"][0]["message"]
    made = await gql.data(CREATE, {"w": workflow_id, "i": {"cron": YEARLY}}, tenant.token(Role.EDITOR))
    schedule_id = made["createSchedule"]["schedule"]["id"]
    for document in (PAUSE, RESUME, DELETE):
        denied = await gql.raw(document, {"id": schedule_id}, tenant.token(Role.OPERATOR))
        assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    assert (await gql.data(READ, {"id": schedule_id}, tenant.token(Role.VIEWER)))["schedule"]["id"] == schedule_id
    assert await gql.error_codes(READ, {"id": schedule_id}) == ["UNAUTHENTICATED"]


async def test_another_tenants_schedule_is_not_found(
    gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    workflow_id = await published(gql, tenant, chain(ECHO))
    made = await gql.data(CREATE, {"w": workflow_id, "i": {"cron": YEARLY, "input": {"secret": 1}}}, tenant.token())
    schedule_id = made["createSchedule"]["schedule"]["id"]
    theirs = other_tenant.token(Role.ADMIN)
    assert (await gql.data(READ, {"id": schedule_id}, theirs))["schedule"] is None
    on_their_workflow = (await gql.data(CREATE, {"w": workflow_id, "i": {"cron": YEARLY}}, theirs))["createSchedule"]
    assert [e["code"] for e in on_their_workflow["errors"]] == ["NOT_FOUND"]
    for document, name in ((PAUSE, "pauseSchedule"), (RESUME, "resumeSchedule"), (DELETE, "deleteSchedule")):
        answer = (await gql.data(document, {"id": schedule_id}, theirs))[name]
        assert [e["code"] for e in answer["errors"]] == ["NOT_FOUND"], name
    hijack = (await gql.data(UPDATE, {"id": schedule_id, "i": {"cron": "* * * * * *"}}, theirs))["updateSchedule"]
    assert [e["code"] for e in hijack["errors"]] == ["NOT_FOUND"]
    mine = await gql.data(
        "query($id: ID!) { schedule(id: $id) { cron enabled input } }", {"id": schedule_id}, tenant.token()
    )
    assert mine["schedule"] == {"cron": YEARLY, "enabled": True, "input": {"secret": 1}}, "unchanged"


async def test_fires_page_through_graphql_with_their_runs(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, scheduler: Scheduler, workers: Workers
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    schedule_id = await make_schedule(state, tenant, workflow_id, overlap="allow")
    for step in range(3):
        await scheduler.fire(tenant.id, schedule_id, at(10 * step + 1))
    query = """query($id: ID!, $after: String) { schedule(id: $id) { lastFireAt nextFireAt
      lastFire { scheduledFor outcome run { id trigger triggerDetails { scheduleId scheduledFor } } }
      fires(first: 2, after: $after) { pageInfo { hasNextPage endCursor }
        edges { node { scheduledFor outcome run { id trigger idempotencyKey } } } } } }"""
    page = (await gql.data(query, {"id": str(schedule_id)}, tenant.token(Role.VIEWER)))["schedule"]
    assert datetime.fromisoformat(page["lastFireAt"]) == at(20)
    # The Triggers page's "Last fire" links to its run; the run says which schedule and tick started it.
    last = page["lastFire"]
    assert datetime.fromisoformat(last["scheduledFor"]) == at(20) and last["outcome"] == "started"
    assert last["run"]["id"] == page["fires"]["edges"][0]["node"]["run"]["id"]
    assert last["run"]["triggerDetails"]["scheduleId"] == str(schedule_id)
    assert datetime.fromisoformat(last["run"]["triggerDetails"]["scheduledFor"]) == at(20)
    assert datetime.fromisoformat(page["nextFireAt"]) == at(30)
    nodes = [e["node"] for e in page["fires"]["edges"]]
    assert [datetime.fromisoformat(n["scheduledFor"]) for n in nodes] == [at(20), at(10)], "newest tick first"
    assert {k: v for k, v in nodes[0]["run"].items() if k != "id"} == {
        "trigger": "schedule",
        "idempotencyKey": run_key(schedule_id, at(20)),
    }
    rest = (
        await gql.data(query, {"id": str(schedule_id), "after": page["fires"]["pageInfo"]["endCursor"]}, tenant.token())
    )["schedule"]["fires"]
    assert [datetime.fromisoformat(e["node"]["scheduledFor"]) for e in rest["edges"]] == [T0]
    assert rest["pageInfo"]["hasNextPage"] is False


# ------------------------------------------------------------------------------------------------ the loop


@pytest.mark.skipif(SERVICES, reason="the embedded scheduler runs in `studio serve` without Redis (the SQLite pass)")
async def test_the_embedded_scheduler_fires_a_per_second_schedule(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await published(gql, tenant, chain(ECHO))
    made = await gql.data(CREATE, {"w": workflow_id, "i": {"cron": "* * * * * *", "overlap": "allow"}}, tenant.token())
    schedule_id = uuid.UUID(made["createSchedule"]["schedule"]["id"])
    deadline = time.monotonic() + 20
    while len(await runs_of(state, tenant, schedule_id)) < 3:
        assert time.monotonic() < deadline, "the embedded scheduler did not fire"
        await asyncio.sleep(0.1)
    await gql.data(PAUSE, {"id": str(schedule_id)}, tenant.token())
    await asyncio.sleep(0.5)  # a pass that started before the pause may still finish its tick
    fires = await fires_of(state, tenant, schedule_id)
    ticks = [f.scheduled_for for f in fires]
    assert ticks == [ticks[0] + timedelta(seconds=i) for i in range(len(ticks))], "every second, none twice"
    runs = await runs_of(state, tenant, schedule_id)
    assert len(runs) == len(fires) and {f.outcome for f in fires} == {"started"}
    for run in runs:
        assert (await wait_for(state, tenant.id, run.id)).run.status is RunStatus.SUCCEEDED
    await asyncio.sleep(1.5)
    assert len(await fires_of(state, tenant, schedule_id)) == len(fires), "a paused schedule does not fire"


async def test_a_changed_schedule_wakes_a_sleeping_scheduler(state: AppState, settings: Settings) -> None:
    sleepy = Scheduler(
        settings.model_copy(update={"scheduler_interval_s": 60.0}), state.db_engine, state.bus, state.control
    )
    passed = asyncio.Event()
    original = sleepy.run_once

    async def counted(now: datetime | None = None) -> datetime | None:
        passed.set()
        return await original(now)

    sleepy.run_once = counted  # type: ignore[method-assign]
    await sleepy.start()
    try:
        await asyncio.wait_for(passed.wait(), 10)
        await asyncio.sleep(0.3)  # now asleep: the earliest next_fire_at of this database is far away
        passed.clear()
        await state.bus.publish(channels.schedules(), {"schedule": "changed"})
        await asyncio.wait_for(passed.wait(), 5)  # woken long before its 60 s interval
    finally:
        await sleepy.close()


# --------------------------------------------------------------------------------- two scheduler processes


@pytest.fixture
def scheduler_processes(settings: Settings, workers: Workers, tmp_path: Path) -> Iterator[StudioProcesses]:
    """Real ``studio scheduler`` processes beside the session's workers."""
    procs = StudioProcesses(settings, tmp_path, "scheduler")
    yield procs
    procs.stop()


@pytest.mark.slow
@pytest.mark.skipif(
    not SERVICES, reason="studio scheduler hands runs to studio worker processes (Redis): the postgres pass runs it"
)
async def test_two_scheduler_processes_fire_every_tick_exactly_once_across_a_restart(
    state: AppState, tenant: TenantFixture, scheduler_processes: StudioProcesses
) -> None:
    workflow_id = await publish(state, tenant, chain(ECHO))
    first, second = scheduler_processes.start(), scheduler_processes.start()
    async with state.sessions.begin() as s:
        row = await schedules.create(
            s,
            tenant.id,
            actor(tenant),
            state.registry,
            workflow_id,
            schedules.ScheduleSpec(cron="* * * * * */2", overlap="allow", input={"from": "cron"}),
        )
    schedule_id = row.id
    await state.bus.publish(channels.schedules(), {"schedule": str(schedule_id)})
    await asyncio.sleep(7)
    os.kill(first.pid, signal.SIGKILL)  # a crash: whatever it was doing, mid-claim or mid-start
    await asyncio.to_thread(first.wait)
    await asyncio.sleep(4)
    scheduler_processes.start()  # the restart
    await asyncio.sleep(6)
    assert second.poll() is None
    async with state.sessions.begin() as s:
        await schedules.set_enabled(s, tenant.id, actor(tenant), schedule_id, False)
    await asyncio.sleep(1)  # a pass that began before the pause finishes its tick

    deadline = time.monotonic() + PENDING_STALE_S + 15  # a fire the crash left pending is resumed by the others
    while any(f.outcome == "pending" for f in await fires_of(state, tenant, schedule_id)):
        assert time.monotonic() < deadline, "a pending fire was never started"
        await asyncio.sleep(0.2)
    scheduler_processes.stop()

    fires = await fires_of(state, tenant, schedule_id)
    ticks = [f.scheduled_for for f in fires]
    assert len(ticks) >= 7, ticks
    assert ticks == [ticks[0] + timedelta(seconds=2 * i) for i in range(len(ticks))], "no tick lost, none twice"
    assert {f.outcome for f in fires} == {"started"}
    runs = await runs_of(state, tenant, schedule_id)
    assert sorted(r.id for r in runs) == sorted(f.run_id for f in fires if f.run_id), "one run per tick"
    assert sorted(r.idempotency_key or "" for r in runs) == sorted(run_key(schedule_id, t) for t in ticks)
    for run in runs:
        finished = await wait_for(state, tenant.id, run.id)
        assert finished.run.status is RunStatus.SUCCEEDED and finished.run.input == {"from": "cron"}
        assert finished.run.started_at is not None


@pytest.mark.slow
async def test_the_latency_benchmark_measures_every_tick() -> None:
    from bench import schedule_latency

    mode = "services-1" if SERVICES else "embedded"
    figures = await schedule_latency.measure(mode, 2, 3.0, POSTGRES_ADMIN_URL, "redis://127.0.0.1:6379/11")
    assert figures.schedules == 2 and figures.ticks >= 4 and figures.runs == figures.ticks
    assert figures.lost_ticks == 0
    assert all(ms >= 0 for ms in figures.latencies_ms)
    assert figures.row().startswith(f"| {mode} | 2 |") and "nan" not in figures.row()
