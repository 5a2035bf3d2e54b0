"""What a run may store (issue 17, items 7 and 9): no Infinity or NaN ever reaches a JSON column, a batch that
cannot be stored fails its own run instead of every commit of a group forever, and stored outputs are bounded
per run and per tenant."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.db.jsondata import NotStorable
from studio_shared.db.types import utcnow
from studio_shared.events import EventKind
from studio_shared.events.memory import MemoryEventBus
from studio_shared.store import runs as runs_store
from studio_shared.types import RunStatus, StepStatus
from studio_worker.engine import commit as commit_module
from studio_worker.engine.commit import GroupCommitter
from studio_worker.engine.quotas import REFUSE_FRESH_S
from studio_worker.engine.records import Batch
from tests.conftest import SERVICES, TenantFixture
from tests.worker.engine_harness import (
    Finished,
    actor,
    assert_events_contiguous,
    chain,
    publish,
    run_once,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("workers")
MiB = 1024 * 1024
BOMB = "{{ 'a' * 999000 }}"  # just under the template meter's 1,000,000 characters: ~3 MB stored per step


def transform(id: str, value: Any) -> dict[str, Any]:
    return {"id": id, "type": "transform", "config": {"value": value}}


async def set_limits(
    state: AppState, tenant: TenantFixture, *, run: int | None = None, total: int | None = None
) -> None:
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Tenant)
            .where(models.Tenant.id == tenant.id)
            .values(max_run_output_bytes=run, max_output_bytes=total)
        )


async def stored_text(state: AppState, run_id: uuid.UUID) -> int:
    """Characters of JSON the database holds for the run (its steps' columns, its events' data, its output)."""

    def length(column: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.func.length(sa.cast(column, sa.Text))), 0)

    step, event, run = models.Step, models.RunEvent, models.Run
    columns = (step.input, step.output, step.error, step.envelope, step.state, step.branches)
    async with state.sessions() as s:
        steps = sum([await s.scalar(sa.select(length(c)).where(step.run_id == run_id)) for c in columns])
        events = await s.scalar(sa.select(length(event.data)).where(event.run_id == run_id))
        output = await s.scalar(sa.select(length(run.output)).where(run.id == run_id))
    return int(steps) + int(events) + int(output)


def strict_texts(finished: Finished) -> str:
    """Every stored JSON value of the run, as one text (what a client would parse)."""
    values: list[Any] = [finished.run.input, finished.run.output, finished.run.error]
    for row in finished.steps.values():
        values += [row.input, row.output, row.error, row.envelope, row.state]
    values += [event.data for event in finished.events]
    return json.dumps(values, allow_nan=False)  # raises on a non-finite number


# --- item 7: non-finite numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["inf", "nan"])
async def test_the_issue_template_with_a_non_finite_amount_fails_its_step_and_ends_the_run(
    state: AppState, tenant: TenantFixture, amount: str
) -> None:
    """It produced Infinity: on PostgreSQL every commit of the run failed and it stayed QUEUED forever; on SQLite
    the run succeeded holding a value no JSON parser reads back."""
    done = await run_once(
        state,
        tenant,
        chain(transform("total", {"total": "{{ input.amount | float * 1.2 }}"}), transform("after", 1)),
        input={"amount": amount},
        timeout=20,
    )
    assert done.run.status is RunStatus.FAILED
    error = done.steps["total"].error
    assert error is not None and error["type"] == "TemplateError" and error["retryable"] is False
    assert f"float: '{amount}' is not a finite number; JSON has no Infinity or NaN" in error["message"]
    assert done.run.error is not None and done.run.error["step_id"] == "total"
    assert done.steps["after"].status is StepStatus.CANCELLED
    strict_texts(done)
    assert_events_contiguous(done)


async def test_a_node_output_holding_infinity_fails_the_step_naming_where_it_is(
    state: AppState, tenant: TenantFixture
) -> None:
    """The boundary where a step's result becomes stored data: any node (a plugin, a parser of upstream data)."""
    for value, shown in (("-inf", "-Infinity"), ("nan", "NaN")):
        done = await run_once(
            state,
            tenant,
            chain({"id": "parse", "type": "test.number", "config": {"value": value}}, transform("after", 1)),
            timeout=20,
        )
        assert done.run.status is RunStatus.FAILED
        assert done.steps["parse"].error == {
            "type": "NonFiniteNumber",
            "message": f"steps.parse.output.total is {shown}; JSON has no Infinity or NaN",
            "retryable": False,
        }
        assert done.steps["parse"].output is None
        assert done.run.error is not None and done.run.error["type"] == "NonFiniteNumber"
        strict_texts(done)


async def _no_enqueue(*args: Any, **kwargs: Any) -> None:
    return None


async def test_a_batch_holding_infinity_fails_alone_and_the_rest_of_its_group_commits(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit shares one transaction between runs: a value the database refuses used to fail the whole group
    (then every batch was retried one by one), and its own run's commits failed forever."""
    monkeypatch.setattr(state.control.queue, "enqueue_advance", _no_enqueue)  # nobody else drives these runs
    workflow_id = await publish(state, tenant, chain(transform("a", 1)))
    poisoned, healthy = [(await state.control.start_run(tenant.id, "test", workflow_id))[0].id for _ in range(2)]
    owner = f"test-committer-{uuid.uuid4().hex[:8]}"
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Run)
            .where(models.Run.id.in_([poisoned, healthy]))
            .values(lease_owner=owner, lease_expires_at=utcnow() + timedelta(seconds=60))
        )
    # Its own bus: this is about the shared transaction (closing it mid-publish to Redis could hang the close).
    committer = GroupCommitter(state.db_engine, MemoryEventBus(), owner)
    await committer.start()

    def started(run_id: uuid.UUID, probe: float) -> Batch:
        batch = Batch(tenant.id, run_id)
        batch.run_values.update(status=RunStatus.RUNNING)
        batch.event(EventKind.RUN_STARTED, status=RunStatus.RUNNING, probe=probe)
        return batch

    try:
        results = await asyncio.gather(
            committer.submit(started(poisoned, float("inf"))),
            committer.submit(started(healthy, 1.5)),
            return_exceptions=True,
        )
    finally:
        await committer.close()
        async with state.sessions.begin() as s:  # let the engine finish both runs
            await s.execute(
                sa.update(models.Run)
                .where(models.Run.id.in_([poisoned, healthy]))
                .values(lease_owner=None, lease_expires_at=None)
            )
    refused, committed = results
    assert isinstance(refused, NotStorable), refused
    assert str(refused) == "events.run.started.data.probe is Infinity; JSON has no Infinity or NaN"
    assert isinstance(committed, list) and [r.data for r in committed] == [{"probe": 1.5}]
    assert (committer.transactions, committer.batches) == (1, 2), "one transaction for the group, not a retry each"
    async with state.sessions() as s:
        rows = await s.execute(
            sa.select(models.Run.id, models.Run.status).where(models.Run.id.in_([poisoned, healthy]))
        )
        statuses = {row.id: row.status for row in rows}
        poisoned_kinds = list(
            await s.scalars(sa.select(models.RunEvent.kind).where(models.RunEvent.run_id == poisoned))
        )
    assert statuses == {poisoned: RunStatus.QUEUED, healthy: RunStatus.RUNNING}
    assert "run.started" not in poisoned_kinds, "nothing of the refused batch was written"


async def test_a_batch_the_database_refuses_ends_its_run_instead_of_retrying_forever(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that can never succeed as it is (a PostgreSQL data exception; here an event kind longer than its
    column) used to fail the run's commit on every redelivery, a traceback each time; the run never ended. Now
    the run ends FAILED with the database's reason, and a run committing beside it is not disturbed."""
    long_kind = "step." + "x" * 60  # run_events.kind is VARCHAR(40): PostgreSQL refuses it (SQLSTATE 22001)
    if not SERVICES:  # SQLite does not enforce VARCHAR lengths: refuse that batch the way PostgreSQL does
        real_apply = commit_module.apply

        async def refusing(conn: Any, batch: Batch, owner: str) -> Any:
            if any(draft.kind == long_kind for draft in batch.events):
                raise sa_exc.DataError("INSERT INTO run_events", {}, Exception("value too long for type varchar(40)"))
            return await real_apply(conn, batch, owner)

        monkeypatch.setattr(commit_module, "apply", refusing)
    refused_id = await publish(
        state, tenant, chain({"id": "emit", "type": "test.event", "config": {"kind": long_kind}})
    )
    fine_id = await publish(state, tenant, chain(transform("a", {"x": "{{ 6 * 7 }}"}), transform("b", 2)))
    started = time.monotonic()
    refused_run, _ = await state.control.start_run(tenant.id, "test", refused_id)
    fine_run, _ = await state.control.start_run(tenant.id, "test", fine_id)
    refused = await wait_for(state, tenant.id, refused_run.id, timeout=20)
    fine = await wait_for(state, tenant.id, fine_run.id, timeout=20)
    assert time.monotonic() - started < 20
    assert fine.run.status is RunStatus.SUCCEEDED and fine.steps["a"].output == {"x": 42}
    assert refused.run.status is RunStatus.FAILED
    error = refused.run.error
    assert error is not None and error["type"] == "StorageRefused" and error["retryable"] is False
    assert error["message"].startswith("the database refused to store this run's data: value too long")
    assert refused.steps["emit"].status is StepStatus.CANCELLED
    assert_events_contiguous(refused)


# --- item 9: stored-output quotas ---------------------------------------------------------------------------------


async def test_a_run_past_its_stored_output_quota_fails_and_stores_no_more(
    state: AppState, tenant: TenantFixture
) -> None:
    """20 transforms of a 999,000-character string grew the database by 122 MB; a 5,000-node version of it would
    have written about 15 GB from one startRun."""
    await set_limits(state, tenant, run=8 * MiB)
    bombs = [transform(f"t{i}", BOMB) for i in range(20)]
    done = await run_once(state, tenant, chain(*bombs), timeout=60)
    assert done.run.status is RunStatus.FAILED
    assert [sid for sid, row in done.steps.items() if row.status is StepStatus.FAILED] == ["t2"]
    error = done.steps["t2"].error
    assert error is not None and error["type"] == "OutputQuotaExceeded" and error["retryable"] is False
    assert error["message"].startswith("this run has stored 6.7 MiB of step outputs and this step would add 1.9 MiB")
    assert "past the run's limit of 8.0 MiB (the tenant's max_run_output_bytes)" in error["message"]
    assert done.steps["t2"].output is None and done.steps["t2"].envelope["logs"] == []
    assert all(done.steps[f"t{i}"].status is StepStatus.CANCELLED for i in range(3, 20))
    assert done.run.error is not None and done.run.error["type"] == "OutputQuotaExceeded"
    held = await stored_text(state, done.run.id)
    assert held <= 8 * MiB, "the database holds at most the quota"
    assert held > 6 * MiB  # two steps and the third's input: what was admitted is kept
    assert abs(done.run.stored_bytes - held) <= held * 0.01, (done.run.stored_bytes, held)
    assert_events_contiguous(done)


async def test_the_tenant_quota_refuses_further_outputs_until_runs_are_deleted(
    state: AppState, tenant: TenantFixture
) -> None:
    await set_limits(state, tenant, total=5 * MiB)
    workflow_id = await publish(state, tenant, chain(transform("big", BOMB)))

    async def one() -> Finished:
        run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
        return await wait_for(state, tenant.id, run.id, timeout=30)

    first = await one()
    assert first.run.status is RunStatus.SUCCEEDED
    assert first.run.stored_bytes > 2.8 * MiB
    second = await one()
    assert second.run.status is RunStatus.FAILED
    error = second.steps["big"].error
    assert error is not None and error["type"] == "OutputQuotaExceeded"
    assert error["message"].startswith("your tenant's runs have stored ")
    assert "past the tenant's limit of 5.0 MiB (the tenant's max_output_bytes): delete runs" in error["message"]
    async with state.sessions.begin() as s:
        await runs_store.delete_tree(s, tenant.id, first.run.id, "test")
    await asyncio.sleep(REFUSE_FRESH_S + 0.2)  # a refusal rests on a total at most this old
    third = await one()
    assert third.run.status is RunStatus.SUCCEEDED, third.run.error
    async with state.sessions() as s:
        total = await s.scalar(sa.select(sa.func.sum(models.Run.stored_bytes)).where(models.Run.tenant_id == tenant.id))
    assert total is not None and total <= 5 * MiB


async def test_retrying_a_run_frees_what_the_reset_steps_stored(state: AppState, tenant: TenantFixture) -> None:
    """The run's total counts what it holds, not every byte ever written: a step run again replaces its output."""
    definition = chain(transform("big", BOMB), {"id": "boom", "type": "fail", "config": {"message": "stop"}})
    done = await run_once(state, tenant, definition, timeout=30)
    assert done.run.status is RunStatus.FAILED
    before = done.run.stored_bytes
    for _ in range(3):
        await state.control.retry_run(tenant.id, actor(tenant), done.run.id, "big")
        done = await wait_for(state, tenant.id, done.run.id, timeout=30)
        assert done.run.status is RunStatus.FAILED
    assert done.run.stored_bytes < before * 1.1, (before, done.run.stored_bytes)
    assert abs(done.run.stored_bytes - await stored_text(state, done.run.id)) <= before * 0.01


async def test_child_run_inputs_count_against_the_tenant_quota(state: AppState, tenant: TenantFixture) -> None:
    """A foreach's children are runs of their own (each with its own run quota), but their inputs are stored when
    they are created: a step spawning 10 inputs of 999,000 characters is refused before it stores any."""
    await set_limits(state, tenant, total=3 * MiB)
    child = await publish(state, tenant, chain(transform("echo", 1)), name="child")
    spawn = {
        "items": "{{ range(10) | list }}",
        "workflow": str(child),
        "input": {"blob": BOMB},
        "max_concurrency": 10,
    }
    done = await run_once(state, tenant, chain({"id": "each", "type": "foreach", "config": spawn}), timeout=30)
    assert done.run.status is RunStatus.FAILED
    error = done.steps["each"].error
    assert error is not None and error["type"] == "OutputQuotaExceeded"
    assert "the inputs of 10 child runs would add 9.5 MiB, past the tenant's limit of 3.0 MiB" in error["message"]
    async with state.sessions() as s:
        children = await s.scalar(sa.select(sa.func.count()).where(models.Run.parent_run_id == done.run.id))
    assert children == 0


async def test_a_run_counts_its_input_from_the_start(state: AppState, tenant: TenantFixture) -> None:
    workflow_id = await publish(state, tenant, chain(transform("a", 1)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"note": "é" * 1000})
    assert run.stored_bytes == len(json.dumps({"note": "é" * 1000}, ensure_ascii=False).encode()) + len("null")
