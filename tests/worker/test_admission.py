"""Admission of every new run, in the mode of this pass: a nested fan-out stays within its tenant's slots and does
not starve another tenant, the cap on live runs refuses starts and fan-outs beyond it, cancelling a parent with
thousands of children is no storm, and a schedule's fire under the start pace starts its run at its turn."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.constants import job_key_prefix
from arq.jobs import deserialize_job

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.errors import RateLimited, TooManyLiveRuns
from studio_shared.settings import Settings
from studio_shared.types import RunStatus
from studio_worker.scheduler import Scheduler
from tests.conftest import SERVICES, TenantFixture
from tests.worker.engine_harness import actor, chain, publish, wait_for
from tests.worker.test_scheduler import at, fires_of, make_schedule, runs_of

pytestmark = pytest.mark.usefixtures("workers")

SLOTS = 3  # the fan-out tenant's concurrency limit
MIDS, ITEMS = 30, 100  # a foreach of 30 over a foreach of 100 (each at its max_concurrency): 3,000 grandchildren
FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def node(id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "config": config}


async def set_limits(state: AppState, tenant: TenantFixture, **values: int | None) -> None:
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(**values))


async def counts(state: AppState, tenant: TenantFixture) -> dict[str, int]:
    """The tenant's runs by status, and its QUEUED ones that are not held (dispatched, waiting for a worker)."""
    runs = models.Run.__table__
    async with state.db_engine.connect() as conn:
        rows = await conn.execute(
            sa.select(runs.c.status, runs.c.held_since.is_(None), sa.func.count())
            .where(runs.c.tenant_id == tenant.id)
            .group_by(runs.c.status, runs.c.held_since.is_(None))
        )
        found: dict[str, int] = {}
        for status, unheld, count in rows:
            found[status] = found.get(status, 0) + count
            if status == RunStatus.QUEUED and unheld:
                found["dispatched"] = found.get("dispatched", 0) + count
    return found


class Jobs:
    """Jobs put in the queue for a tenant's runs: counted at the in-process queue (embedded), or sampled from arq's
    queue in Redis (services: the workers enqueue from their own processes)."""

    def __init__(self, state: AppState, settings: Settings, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch):
        self.state, self.settings, self.tenant = state, settings, tenant
        self.enqueued: list[uuid.UUID] = []
        self.peak_in_queue = 0
        self.uncounted: set[str] = set()  # runs whose jobs the arq sample leaves out (by id)
        if not SERVICES:
            original = state.queue.enqueue_advance

            async def counting(tenant_id: uuid.UUID, run_id: uuid.UUID, **kw: Any) -> None:
                if tenant_id == tenant.id:
                    self.enqueued.append(run_id)
                await original(tenant_id, run_id, **kw)

            monkeypatch.setattr(state.queue, "enqueue_advance", counting)

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        """Samples arq's queue length (jobs waiting or running) every 5 ms meanwhile (services mode)."""
        if not SERVICES:
            yield
            return
        client = aioredis.Redis.from_url(self.settings.redis_url or "")

        # Job id: the run it drives when it is this tenant's (each job read once). The session's queue is shared: other
        # tenants' jobs (earlier tests' parked runs waking up) and jobs already gone are not this tenant's count.
        run_of: dict[bytes, str | None] = {}
        tenant = str(self.tenant.id)

        async def sample() -> None:
            while True:
                ids = await client.zrange("arq:queue", 0, -1)
                for job_id in ids:
                    if job_id not in run_of:
                        stored = await client.get(job_key_prefix + job_id.decode())
                        args = deserialize_job(stored).args if stored else ()
                        run_of[job_id] = str(args[1]) if len(args) > 1 and str(args[0]) == tenant else None
                counted = sum(1 for job_id in ids if run_of.get(job_id) not in (None, *self.uncounted))
                self.peak_in_queue = max(self.peak_in_queue, counted)
                await asyncio.sleep(0.005)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_nested_fan_out_is_held_within_its_tenants_slots_and_another_tenants_run_finishes_promptly(
    state: AppState,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attack of issue 17 at test scale: one start of a foreach over a foreach creates thousands of child runs.
    They must wait in the database (held), not in the shared queue: the tenant gets its slots, the queue gets a
    job per free slot, another tenant's trivial run is not delayed, and cancelling the parent ends every child in
    bulk instead of sending each a nudge and a job."""
    monkeypatch.setattr(settings, "run_starts_per_tenant_per_s", 0)
    await set_limits(state, tenant, max_concurrent_runs=SLOTS)
    leaf = await publish(state, tenant, chain(node("nap", "test.sleep", seconds=60)), name="leaf")
    mid = await publish(
        state,
        tenant,
        chain(node("each", "foreach", items="{{ input.items }}", workflow=str(leaf), input={}, max_concurrency=ITEMS)),
        name="mid",
    )
    top = await publish(
        state,
        tenant,
        chain(
            node(
                "each",
                "foreach",
                items="{{ input.mids }}",
                workflow=str(mid),
                input={"items": "{{ input.items }}"},
                max_concurrency=MIDS,
            )
        ),
        name="top",
    )
    quick = await publish(state, other_tenant, chain(node("a", "transform", value=1)), name="quick")
    jobs = Jobs(state, settings, tenant, monkeypatch)
    quiet: list[float] = []  # another tenant's trivial runs during the fan-out: seconds from start to finish

    async def quiet_run() -> None:
        began = time.monotonic()
        other, _ = await state.control.start_run(other_tenant.id, "test", quick)
        finished = await wait_for(state, other_tenant.id, other.id, timeout=60)
        assert finished.run.status is RunStatus.SUCCEEDED
        quiet.append(time.monotonic() - began)

    # The same trivial runs alone first: on a loaded machine (CI beside other work) they take longer too, and the
    # bound below is about the fan-out's cost to them, not the machine's.
    for _ in range(5):
        await quiet_run()
    alone, quiet[:] = max(quiet), []

    async with jobs.sampling():
        parent, _ = await state.control.start_run(
            tenant.id, "test", top, input={"mids": list(range(MIDS)), "items": list(range(ITEMS))}
        )
        peak_running = peak_dispatched = 0
        quiet_runs: list[asyncio.Task[None]] = []

        async def spawned() -> bool:
            nonlocal peak_running, peak_dispatched
            quiet_runs.append(asyncio.create_task(quiet_run()))  # one every poll, while the fan-out spreads
            found = await counts(state, tenant)
            peak_running = max(peak_running, found.get(RunStatus.RUNNING, 0))
            peak_dispatched = max(peak_dispatched, found.get("dispatched", 0))
            return (
                sum(found.get(s, 0) for s in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING))
                >= (1 + MIDS + MIDS * ITEMS)
                and found.get(RunStatus.RUNNING, 0) >= SLOTS
            )

        await until(spawned, 60, "the whole fan-out spawned, its tenant's slots taken")
        await asyncio.gather(*quiet_runs)
        await quiet_run()  # and one beside the three thousand held runs
        found = await counts(state, tenant)
        assert found.get(RunStatus.QUEUED, 0) >= MIDS * ITEMS - SLOTS, found
        assert peak_running <= SLOTS, f"at most {SLOTS} RUNNING at once, saw {peak_running}"
        assert peak_dispatched <= SLOTS + MIDS, f"children wait held, not in the queue: {peak_dispatched} dispatched"
        if not SERVICES:
            # A job per run that got a slot (and the parents resumed), not one per child: thousands are held.
            assert len(set(jobs.enqueued)) <= 1 + MIDS + 2 * SLOTS, len(set(jobs.enqueued))
        else:  # arq's queue also holds the other tenant's jobs, a few at a time
            assert jobs.peak_in_queue <= 1 + MIDS + 2 * SLOTS + 5, f"{jobs.peak_in_queue} jobs in arq's queue at once"
        # 10x their time alone, at least 2 s: seen 2.02 s in a loaded SQLite pass and 2.89 s (0.39 alone) beside a
        # reliability scenario; the starvation this guards against held them for minutes.
        took, bound = max(quiet), max(2.0, 10 * alone)
        assert took < bound, (
            f"another tenant's trivial runs took up to {took:.2f} s beside the fan-out ({len(quiet)}), "
            f"{alone:.2f} s alone (bound {bound:.2f} s)"
        )

        # Cancel the parent: every child ends, the held ones in the database, without a job each.
        enqueued_before, jobs.peak_in_queue = len(jobs.enqueued), 0
        await state.control.cancel_run(tenant.id, actor(tenant), parent.id)

        async def all_final() -> bool:
            found = await counts(state, tenant)
            return not any(found.get(s) for s in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING))

        await until(all_final, 60, "every run of the fan-out final after cancelling its parent")
    found = await counts(state, tenant)
    assert found == {RunStatus.CANCELLED: 1 + MIDS + MIDS * ITEMS}, found
    # A nudge per parent and per running child, and each finishing parent's poke of its own parent: not one per
    # child (3,000 here).
    bound = 3 * (1 + MIDS) + 2 * SLOTS
    if not SERVICES:
        storm = len(jobs.enqueued) - enqueued_before
        assert storm <= bound, f"cancelling enqueued {storm} jobs (a nudge per child is a storm)"
    else:
        assert jobs.peak_in_queue <= bound, f"cancelling put {jobs.peak_in_queue} jobs in arq's queue at once"
    # Every cancelled child has its events, as a driver would have written them: its steps, then the run.
    async with state.sessions() as s:
        child = await s.scalar(
            sa.select(models.Run).where(
                models.Run.tenant_id == tenant.id, models.Run.workflow_id == leaf, models.Run.started_at.is_(None)
            )
        )
        assert child is not None
        kinds = list(
            await s.scalars(
                sa.select(models.RunEvent.kind)
                .where(models.RunEvent.tenant_id == tenant.id, models.RunEvent.run_id == child.id)
                .order_by(models.RunEvent.seq)
            )
        )
        steps = list(
            await s.scalars(
                sa.select(models.Step.status).where(models.Step.tenant_id == tenant.id, models.Step.run_id == child.id)
            )
        )
    assert kinds == ["run.queued", "step.cancelled", "step.cancelled", "run.cancelled"], kinds
    assert child.last_seq == len(kinds) and set(steps) == {"CANCELLED"}


async def test_the_live_run_cap_refuses_starts_and_fails_a_fan_out_that_would_exceed_it(
    state: AppState, settings: Settings, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "run_starts_per_tenant_per_s", 0)
    await set_limits(state, tenant, max_live_runs=4)
    parked = await publish(state, tenant, chain(node("wait", "delay", seconds=3600)), name="parked")
    child = await publish(state, tenant, chain(node("a", "transform", value="{{ input }}")), name="child")
    fan_out = await publish(
        state,
        tenant,
        chain(
            node(
                "each", "foreach", items="{{ input.items }}", workflow=str(child), input="{{ item }}", max_concurrency=5
            )
        ),
        name="fan",
    )
    waiting = [
        (await state.control.start_run(tenant.id, "test", parked, idempotency_key=f"parked-{i}"))[0] for i in range(4)
    ]
    for run in waiting:
        await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    with pytest.raises(TooManyLiveRuns) as refused:
        await state.control.start_run(tenant.id, "test", parked)
    assert "at most 4 live runs" in str(refused.value) and "has 4 already" in str(refused.value)
    assert refused.value.retry_after_s > 0
    again, created = await state.control.start_run(tenant.id, "test", parked, idempotency_key="parked-0")
    assert (again.id, created) == (waiting[0].id, False), "a known key is answered at the cap too"
    for run in waiting[:2]:
        await state.control.cancel_run(tenant.id, actor(tenant), run.id)

    # Two WAITING and the parent itself: three live; five children would make eight.
    run, _ = await state.control.start_run(tenant.id, "test", fan_out, input={"items": [1, 2, 3, 4, 5]})
    failed = await wait_for(state, tenant.id, run.id)
    assert failed.run.status is RunStatus.FAILED
    error = failed.steps["each"].error or {}
    assert error.get("type") == "TooManyLiveRuns" and error.get("retryable") is False, error
    assert "would start 5 child runs" in error["message"] and "at most 4 live runs" in error["message"], error
    assert "has 3" in error["message"], error
    async with state.sessions() as s:
        spawned = await s.scalar(
            sa.select(sa.func.count()).where(models.Run.tenant_id == tenant.id, models.Run.parent_run_id == run.id)
        )
    assert spawned == 0, "nothing of a refused fan-out is stored"

    # Within the cap, the same fan-out runs (no deadlock: the parent never waits for room).
    run, _ = await state.control.start_run(tenant.id, "test", fan_out, input={"items": [7]})
    done = await wait_for(state, tenant.id, run.id)
    assert done.run.status is RunStatus.SUCCEEDED and done.run.output == {"each": {"results": [{"a": 7}], "errors": []}}
    # retryRun makes a finished run live again: admitted like a start.
    for extra in [(await state.control.start_run(tenant.id, "test", parked))[0] for _ in range(2)]:
        await wait_for(state, tenant.id, extra.id, {RunStatus.WAITING})
    with pytest.raises(TooManyLiveRuns):
        await state.control.retry_run(tenant.id, actor(tenant), failed.run.id, None)
    for live in await _live(state, tenant):
        await state.control.cancel_run(tenant.id, actor(tenant), live)


async def _live(state: AppState, tenant: TenantFixture) -> list[uuid.UUID]:
    async with state.sessions() as s:
        return list(
            await s.scalars(
                sa.select(models.Run.id).where(
                    models.Run.tenant_id == tenant.id,
                    models.Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING]),
                )
            )
        )


async def test_a_schedule_fire_beyond_the_start_pace_starts_its_run_at_its_turn(
    state: AppState, settings: Settings, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schedules share their tenant's start pace with every other kind of start; a fire refused a turn stays
    PENDING and starts its run at its turn: it is neither lost nor failed."""
    monkeypatch.setattr(settings, "run_starts_per_tenant_per_s", 2)
    workflow_id = await publish(state, tenant, chain(node("a", "transform", value=1)))
    schedule_id = await make_schedule(state, tenant, workflow_id)
    scheduler = Scheduler(settings, state.db_engine, state.bus, state.control)
    try:
        await state.control.admission.take_turns(tenant.id, 5)  # the tenant's next turn is 2 s away
        with pytest.raises(RateLimited):
            await state.control.start_run(tenant.id, "test", workflow_id)
        assert len(await scheduler.fire(tenant.id, schedule_id, at(1))) == 1
        [recorded] = await fires_of(state, tenant, schedule_id)
        assert recorded.outcome == "pending" and await runs_of(state, tenant, schedule_id) == [], "it waits its turn"

        async def started() -> bool:
            return [f.outcome for f in await fires_of(state, tenant, schedule_id)] == ["started"]

        await until(started, 10, "the paced fire started its run")
        [run] = await runs_of(state, tenant, schedule_id)
        assert (await wait_for(state, tenant.id, run.id)).run.status is RunStatus.SUCCEEDED
    finally:
        await scheduler.close()


async def test_a_fan_out_beyond_its_tenants_slots_dispatches_each_child_about_once(
    state: AppState, settings: Settings, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every finishing child, parking parent and spawn looks for held runs to dispatch into free slots: a held run is
    dispatched once (its hold ends in the same conditional update), and runs dispatched but not yet claimed count as
    busy, so the same oldest held runs are not sent again and again (a storm of duplicate jobs that stalled this
    very fan-out until the sweep)."""
    monkeypatch.setattr(settings, "run_starts_per_tenant_per_s", 0)
    await set_limits(state, tenant, max_concurrent_runs=20)
    child = await publish(state, tenant, chain(node("a", "transform", value="{{ input }}")), name="child")
    fan_out = await publish(
        state,
        tenant,
        chain(
            node(
                "each",
                "foreach",
                items="{{ input.items }}",
                workflow=str(child),
                input="{{ item }}",
                max_concurrency=100,
            )
        ),
        name="fan",
    )
    jobs = Jobs(state, settings, tenant, monkeypatch)
    async with jobs.sampling():
        run, _ = await state.control.start_run(tenant.id, "test", fan_out, input={"items": list(range(300))})
        # Each finishing child pokes the parent, a job each (duplicates, each a no-op claim): how many of those
        # wait at once depends on how busy the machine is (63 once, with both test passes on two cores), and they
        # are not what this test is about. The children's jobs are: about one per slot.
        jobs.uncounted.add(str(run.id))
        done = await wait_for(state, tenant.id, run.id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED
    assert done.run.output == {"each": {"results": [{"a": i} for i in range(300)], "errors": []}}
    if not SERVICES:
        children = [r for r in jobs.enqueued if r != run.id]
        assert len(children) <= 1.2 * 300, f"{len(children)} jobs for 300 children"
    else:
        # Seen at all (the sample finds this tenant's jobs), and about one per slot.
        assert 1 <= jobs.peak_in_queue <= 3 * 20, f"{jobs.peak_in_queue} children's jobs in arq's queue at once"


async def test_a_burst_of_a_tenant_is_not_throttled_by_default() -> None:
    """With the default start pace, a 200-run burst of one tenant is admitted at once: it is not held below what the
    engine runs (fairness between tenants comes from their concurrency limits, not from a low cap on starts)."""
    from studio_shared.ratelimit import RateLimiter
    from studio_worker.admission import Admission

    admission = Admission(Settings(), RateLimiter(None))
    tenant = uuid.uuid4()
    began = time.monotonic()
    for _ in range(200):
        await admission.take_turns(tenant)
    assert time.monotonic() - began < 1.0, "no start of the burst waited for a turn"
    # The pace still bounds a flood: of 400 more at once, those whose turn is over a second away are refused.
    flood = await asyncio.gather(*(admission.take_turns(tenant) for _ in range(400)), return_exceptions=True)
    refused = [r for r in flood if isinstance(r, RateLimited)]
    assert 150 <= len(refused) <= 250 and len(refused) + flood.count(None) == 400
