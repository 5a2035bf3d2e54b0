"""DAG semantics end to end, in the mode of this pass: embedded (SQLite) or services (PostgreSQL + Redis + workers)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.db.engine import storable_json
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, ValidationFailed
from studio_shared.types import RunStatus
from studio_worker.engine import records
from studio_worker.engine.runtime import RunEngine
from studio_worker.nodes.plugins import load_catalog
from tests.conftest import SERVICES, TenantFixture, Workers
from tests.nodes_plugin import sink_lines
from tests.worker.engine_harness import actor, assert_events_contiguous, chain, load, publish, run_once, wait_for

pytestmark = pytest.mark.usefixtures("workers")


def transform(id: str, value: Any) -> dict[str, Any]:
    return {"id": id, "type": "transform", "config": {"value": value}}


async def test_linear_chain_passes_outputs_along(state: AppState, tenant: TenantFixture) -> None:
    done = await run_once(
        state,
        tenant,
        chain(transform("a", {"n": "{{ input.n + 1 }}"}), transform("b", "{{ steps.a.output.n * 10 }}")),
        input={"n": 4},
    )
    assert done.run.status is RunStatus.SUCCEEDED
    assert done.run.output == {"b": 50}
    assert done.steps["a"].output == {"n": 5}
    assert done.steps["start"].output == {"n": 4}, "a trigger's output is the run input"
    assert done.steps["b"].envelope["status"] == "SUCCEEDED"
    assert done.steps["b"].envelope["run_id"] == str(done.run.id)
    assert done.run.started_at is not None
    assert done.run.finished_at is not None
    assert_events_contiguous(done)


async def test_diamond_joins_both_sides(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(
        transform("a", 1),
        transform("b", 2),
        transform("c", "{{ steps.a.output + steps.b.output }}"),
        edges=[("start", "a"), ("start", "b"), ("a", "c"), ("b", "c")],
    )
    done = await run_once(state, tenant, definition)
    assert done.run.output == {"c": 3}
    assert_events_contiguous(done)


def _branching(expression: str) -> dict[str, Any]:
    return chain(
        {"id": "check", "type": "condition", "config": {"expression": expression}},
        transform("yes", "Y"),
        transform("no", "N"),
        transform("after_no", "{{ steps.no.output }}!"),
        transform("join", "joined"),
        edges=[
            ("start", "check"),
            ("check", "yes", "true"),
            ("check", "no", "false"),
            ("no", "after_no"),
            ("yes", "join"),
            ("after_no", "join"),
        ],
    )


async def test_branch_skips_the_side_not_taken_and_joins_after(state: AppState, tenant: TenantFixture) -> None:
    done = await run_once(state, tenant, _branching("{{ input.amount > 100 }}"), input={"amount": 500})
    assert done.steps["check"].output == {"result": True}
    assert [done.status(s) for s in ("yes", "no", "after_no", "join")] == [
        "SUCCEEDED",
        "SKIPPED",
        "SKIPPED",
        "SUCCEEDED",
    ]
    assert done.run.output == {"join": "joined"}
    other = await run_once(state, tenant, _branching("{{ input.amount > 100 }}"), input={"amount": 5})
    assert [other.status(s) for s in ("yes", "no", "after_no", "join")] == [
        "SKIPPED",
        "SUCCEEDED",
        "SUCCEEDED",
        "SUCCEEDED",
    ]
    assert other.steps["after_no"].output == "N!"


async def test_switch_falls_back_to_default(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(
        {"id": "sw", "type": "switch", "config": {"value": "{{ input.kind }}", "cases": ["a", "b"]}},
        transform("on_a", "A"),
        transform("on_other", "other"),
        edges=[("start", "sw"), ("sw", "on_a", "a"), ("sw", "on_other", "default")],
    )
    done = await run_once(state, tenant, definition, input={"kind": "zzz"})
    assert done.steps["sw"].branches == ["default"]
    assert done.status("on_a") == "SKIPPED"
    assert done.run.output == {"on_other": "other"}


async def test_fail_with_on_error_continue_lets_the_run_succeed(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(
        {"id": "boom", "type": "fail", "config": {"message": "bad {{ input.x }}"}, "on_error": "continue"},
        transform("after", "still here"),
    )
    done = await run_once(state, tenant, definition, input={"x": 7})
    assert done.run.status is RunStatus.SUCCEEDED
    assert done.steps["boom"].error == {"type": "Fail", "message": "bad 7", "retryable": False}
    assert done.run.output == {"after": "still here"}


async def test_failure_fails_the_run_with_the_step_error(state: AppState, tenant: TenantFixture) -> None:
    definition = chain({"id": "boom", "type": "fail", "config": {"message": "nope"}}, transform("never", 1))
    done = await run_once(state, tenant, definition)
    assert done.run.status is RunStatus.FAILED
    assert done.run.error == {"step_id": "boom", "type": "Fail", "message": "nope", "retryable": False}
    assert done.status("never") == "CANCELLED"
    assert_events_contiguous(done)


async def test_retry_succeeds_on_the_third_attempt(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {
            "id": "flaky",
            "type": "test.flaky",
            "config": {"fail_times": 2, "sink": sink},
            "retry": {"max_attempts": 3, "initial_interval_s": 0.05, "backoff": 2, "jitter": False},
        }
    )
    done = await run_once(state, tenant, definition)
    assert done.run.status is RunStatus.SUCCEEDED
    assert done.steps["flaky"].attempt == 3
    assert done.steps["flaky"].output == {"attempt": 3}
    assert [line["attempt"] for line in sink_lines(sink)] == [1, 2, 3]
    assert len({line["key"] for line in sink_lines(sink)}) == 1, "one idempotency key across automatic retries"
    retrying = [e for e in done.events if e.kind == "step.retrying"]
    assert [e.data["attempt"] for e in retrying] == [1, 2], "every attempt is recorded"


async def test_retries_give_up_after_max_attempts(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {
            "id": "flaky",
            "type": "test.flaky",
            "config": {"fail_times": 5, "sink": sink},
            "retry": {"max_attempts": 2, "initial_interval_s": 0.01, "jitter": False},
        }
    )
    done = await run_once(state, tenant, definition)
    assert done.run.status is RunStatus.FAILED
    assert done.steps["flaky"].attempt == 2
    assert len(sink_lines(sink)) == 2


async def test_retry_waits_are_jittered_once_and_a_resumed_run_keeps_them(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    """Bug 1 of issue 18: the engine waited the plain interval. Five steps fail at once with a 1,000 s interval:
    jittered, their waits spread over 800 to 1,200 s (plain, they would all be 1,000 s less the commit's lag). A
    resumed run reads the stored wake times back instead of drawing again."""
    flaky = [
        {
            "id": f"f{i}",
            "type": "test.flaky",
            "config": {"fail_times": 5, "sink": str(tmp_path / f"sink{i}")},
            "retry": {"max_attempts": 2, "initial_interval_s": 1000, "max_interval_s": 2000},
        }
        for i in range(5)
    ]
    definition = chain(*flaky, edges=[("start", f["id"]) for f in flaky])
    workflow_id = await publish(state, tenant, definition)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    parked = await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    retrying = {e.step_id: e for e in parked.events if e.kind == "step.retrying"}
    assert sorted(retrying) == [f["id"] for f in flaky]
    waits = []
    for step_id, event in retrying.items():
        wake_at = parked.steps[step_id].wake_at
        assert wake_at is not None and event.data["retry_at"] == wake_at.isoformat(), "the stored wake time is it"
        waits.append((wake_at - event.at).total_seconds())
    assert all(790 <= w <= 1200 for w in waits), waits
    assert max(waits) - min(waits) > 10, f"the waits are not jittered: {waits}"

    # Resume the run (a poke, as a decision would): its driver parks it again on the same, stored wake times.
    async with state.db_engine.begin() as conn:
        await records.poke(conn, tenant.id, run.id)
    await state.control.queue.enqueue_advance(tenant.id, run.id)
    for _ in range(1500):
        again = await load(state, tenant.id, run.id)
        if again.run.status is RunStatus.WAITING and any(e.kind == "run.resumed" for e in again.events):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the poked run never resumed and parked again")
    assert {sid: again.steps[sid].wake_at for sid in retrying} == {sid: parked.steps[sid].wake_at for sid in retrying}
    assert sum(e.kind == "step.retrying" for e in again.events) == len(flaky), "no step failed or drew again"
    await state.control.cancel_run(tenant.id, actor(tenant), run.id)


async def test_timeout_fails_the_step(state: AppState, tenant: TenantFixture) -> None:
    definition = chain({"id": "slow", "type": "test.sleep", "config": {"seconds": 5}, "timeout_s": 0.2})
    done = await run_once(state, tenant, definition)
    assert done.run.status is RunStatus.FAILED
    assert done.steps["slow"].error["type"] == "Timeout"


async def test_template_errors_fail_the_step_clearly(state: AppState, tenant: TenantFixture) -> None:
    done = await run_once(state, tenant, chain(transform("a", "{{ input.missing.deeper }}")), input={})
    assert done.run.status is RunStatus.FAILED
    assert done.steps["a"].error["type"] == "TemplateError"
    assert "missing" in done.steps["a"].error["message"]


async def test_short_delay_completes_and_long_delay_parks_the_run(state: AppState, tenant: TenantFixture) -> None:
    quick = await run_once(state, tenant, chain({"id": "wait", "type": "delay", "config": {"seconds": 0.1}}))
    assert quick.run.status is RunStatus.SUCCEEDED
    workflow_id = await publish(state, tenant, chain({"id": "wait", "type": "delay", "config": {"seconds": 3}}))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    parked = await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    assert parked.run.lease_owner is None, "a waiting run holds no worker"
    assert parked.steps["wait"].wake_at is not None
    done = await wait_for(state, tenant.id, run.id, timeout=20)
    assert done.run.status is RunStatus.SUCCEEDED
    assert [e.kind for e in done.events].count("run.resumed") == 1


async def test_cancel_a_running_step(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {"id": "slow", "type": "test.sleep", "config": {"seconds": 30, "sink": sink}}, transform("after", 1)
    )
    workflow_id = await publish(state, tenant, definition)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    for _ in range(500):
        if sink_lines(sink):
            break
        await asyncio.sleep(0.02)
    await state.control.cancel_run(tenant.id, actor(tenant), run.id)
    done = await wait_for(state, tenant.id, run.id, timeout=15)
    assert done.run.status is RunStatus.CANCELLED
    assert done.status("slow") == "CANCELLED"
    assert done.status("after") == "CANCELLED"
    assert [line["what"] for line in sink_lines(sink)] == ["start"], "the step was interrupted, not finished"
    assert_events_contiguous(done)
    with pytest.raises(Conflict):
        await state.control.cancel_run(tenant.id, actor(tenant), run.id)


async def test_cancel_a_parked_run_at_once(state: AppState, tenant: TenantFixture) -> None:
    workflow_id = await publish(state, tenant, chain({"id": "wait", "type": "delay", "config": {"seconds": 3600}}))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    cancelled = await state.control.cancel_run(tenant.id, actor(tenant), run.id)
    assert cancelled.status is RunStatus.CANCELLED


async def test_resume_from_the_failed_step_keeps_earlier_outputs(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {"id": "first", "type": "test.count", "config": {"sink": sink}},
        {"id": "flaky", "type": "test.flaky", "config": {"fail_times": 1, "sink": sink}},
        transform("last", "{{ steps.flaky.output.attempt }}"),
    )
    failed = await run_once(state, tenant, definition)
    assert failed.run.status is RunStatus.FAILED
    await state.control.retry_run(tenant.id, actor(tenant), failed.run.id, None)
    done = await wait_for(state, tenant.id, failed.run.id)
    assert done.run.status is RunStatus.SUCCEEDED
    assert done.run.output == {"last": 2}
    calls = [(line["step"], line["attempt"]) for line in sink_lines(sink)]
    assert calls == [("first", 1), ("flaky", 1), ("flaky", 2)], "the step that succeeded did not run again"
    keys = {line["key"] for line in sink_lines(sink) if line["step"] == "flaky"}
    assert len(keys) == 2, "an explicit resume is a new logical attempt with its own idempotency key"
    assert_events_contiguous(done)
    assert any(e.kind == "run.retried" for e in done.events)


async def test_resume_from_a_named_step(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {"id": "a", "type": "test.count", "config": {"sink": sink}},
        {"id": "b", "type": "test.count", "config": {"sink": sink}},
    )
    done = await run_once(state, tenant, definition)
    with pytest.raises(ValidationFailed):
        await state.control.retry_run(tenant.id, actor(tenant), done.run.id, "nope")
    await state.control.retry_run(tenant.id, actor(tenant), done.run.id, "b")
    again = await wait_for(state, tenant.id, done.run.id)
    assert again.run.status is RunStatus.SUCCEEDED
    assert [line["step"] for line in sink_lines(sink)] == ["a", "b", "b"]


async def test_start_is_idempotent_by_key(state: AppState, tenant: TenantFixture) -> None:
    workflow_id = await publish(state, tenant, chain(transform("a", 1)))
    results = await asyncio.gather(
        *(state.control.start_run(tenant.id, "test", workflow_id, idempotency_key="order-42") for _ in range(8))
    )
    assert len({run.id for run, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    await wait_for(state, tenant.id, results[0][0].id)


async def test_start_validates_input_and_version(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(transform("a", 1))
    definition["nodes"][0]["config"] = {
        "input_schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}
    }
    workflow_id = await publish(state, tenant, definition)
    with pytest.raises(ValidationFailed) as bad:
        await state.control.start_run(tenant.id, "test", workflow_id, input={"amount": "lots"})
    assert [p.path for p in bad.value.problems] == [("input", "amount")]
    with pytest.raises(ValidationFailed):
        await state.control.start_run(tenant.id, "test", workflow_id, input={"amount": 1}, version=9)
    with pytest.raises(NotFound):
        await state.control.start_run(tenant.id, "test", uuid.uuid4())


async def test_tenant_concurrency_limit_keeps_the_rest_queued_in_order(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_concurrent_runs=1))
    sink = str(tmp_path / "sink")
    workflow_id = await publish(
        state, tenant, chain({"id": "slow", "type": "test.sleep", "config": {"seconds": 0.3, "sink": sink}})
    )
    started = [(await state.control.start_run(tenant.id, "test", workflow_id))[0] for _ in range(3)]
    finished = [await wait_for(state, tenant.id, run.id, timeout=30) for run in started]
    assert all(f.run.status is RunStatus.SUCCEEDED for f in finished)
    windows = sorted((f.run.started_at, f.run.finished_at, i) for i, f in enumerate(finished))
    assert [i for _, _, i in windows] == [0, 1, 2], "admitted in the order they were started"
    for (_, end, _), (begin, _, _) in itertools.pairwise(windows):
        assert begin >= end, "never two RUNNING at once under a limit of 1"


async def test_the_sweep_dispatches_held_runs_only_into_free_slots(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant's held backlog is not re-dispatched wholesale every sweep (it would crowd out every other tenant);
    once a slot is free, the sweep gives it the oldest held run even when the finishing run's kick was lost."""
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_concurrent_runs=1))
    workflow_id = await publish(state, tenant, chain({"id": "a", "type": "transform", "config": {"value": 1}}))
    dispatched: list[uuid.UUID] = []

    async def not_yet(tenant_id: uuid.UUID, run_id: uuid.UUID, **_: Any) -> None:
        dispatched.append(run_id)

    monkeypatch.setattr(state.control.queue, "enqueue_advance", not_yet)
    blocker, *held = [(await state.control.start_run(tenant.id, "test", workflow_id))[0].id for _ in range(4)]
    monkeypatch.undo()
    past = utcnow() - timedelta(minutes=5)
    async with state.sessions.begin() as s:  # the blocker RUNNING under someone else's lease; the rest held
        await s.execute(
            sa.update(models.Run)
            .where(models.Run.id == blocker)
            .values(status=RunStatus.RUNNING, lease_owner="elsewhere", lease_expires_at=utcnow() + timedelta(hours=1))
        )
        for i, run_id in enumerate(held):
            await s.execute(
                sa.update(models.Run)
                .where(models.Run.id == run_id)
                .values(held_since=past, updated_at=past, created_at=past + timedelta(seconds=i))
            )
    sweeper = RunEngine(state.settings, state.db_engine, state.bus, state.control.queue, load_catalog(state.settings))
    assert not {run_id for _, run_id in await sweeper.sweep()} & {blocker, *held}, "no free slot: nothing to send"

    # A run started now joins the held ones at the back instead of putting a job in the shared queue.
    monkeypatch.setattr(state.control.queue, "enqueue_advance", not_yet)
    late, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    monkeypatch.undo()
    assert late.id not in dispatched and late.held_since is not None
    held.append(late.id)

    async with state.sessions.begin() as s:  # the blocker ends without its kick (its worker died, say)
        await s.execute(
            sa.update(models.Run)
            .where(models.Run.id == blocker)
            .values(status=RunStatus.SUCCEEDED, lease_owner=None, lease_expires_at=None, finished_at=utcnow())
        )
    swept = {run_id for _, run_id in await sweeper.sweep()} & set(held)
    assert swept <= {held[0]}, "one free slot: only the oldest held run"
    finished = [await wait_for(state, tenant.id, run_id, timeout=30) for run_id in held]
    assert all(f.run.status is RunStatus.SUCCEEDED for f in finished)
    starts = [f.run.started_at for f in finished]
    assert starts == sorted(starts), "admitted oldest first"


async def test_many_runs_execute_each_step_exactly_once(
    state: AppState, tenant: TenantFixture, workers: Workers, tmp_path: Path
) -> None:
    sink = str(tmp_path / "sink")
    definition = chain(
        {"id": "a", "type": "test.count", "config": {"sink": sink}},
        {"id": "b", "type": "test.count", "config": {"sink": sink}},
    )
    workflow_id = await publish(state, tenant, definition)
    runs = [(await state.control.start_run(tenant.id, "test", workflow_id))[0] for _ in range(200)]
    for run in runs:
        done = await wait_for(state, tenant.id, run.id, timeout=120)
        assert done.run.status is RunStatus.SUCCEEDED
    lines = sink_lines(sink)
    executions = [(line["run"], line["step"]) for line in lines]
    assert len(executions) == 400
    assert len(set(executions)) == 400, "no step ran twice"


# --- regressions found by `python -m reliability hostile-nodes` ----------------------------------------------------


def test_storable_json_replaces_what_postgresql_cannot_store() -> None:
    assert json.loads(storable_json({"k\x00": ["a\x00b", "\ud800", "\udfff"]})) == {
        "k\ufffd": ["a\ufffdb", "\ufffd", "\ufffd"]
    }
    kept = ["\\u0000", "x\\", "\U0001f600", "é", {"n": 1.5}]  # a literal backslash-u0000, an emoji: untouched
    assert json.loads(storable_json(kept)) == kept


async def test_a_step_value_holding_nul_is_stored_and_the_run_finishes(state: AppState, tenant: TenantFixture) -> None:
    """On PostgreSQL one U+0000 in a rendered config or an output failed every commit: the run never finished."""
    finished = await run_once(
        state,
        tenant,
        chain(
            transform("nul", "{{ 'a' ~ '\\x00' ~ 'b' }}"),
            {"id": "file", "type": "artifact.write", "config": {"name": "{{ 'x' ~ '\\x00' }}", "content": "c"}},
        ),
    )
    assert finished.run.status is RunStatus.FAILED  # the artifact name, not the NUL in the transform's output
    assert finished.steps["nul"].output == "a\ufffdb"
    assert finished.steps["file"].error is not None and finished.steps["file"].error["type"] == "InvalidConfig"


@pytest.mark.skipif(not SERVICES, reason="row locks between connections: the postgres pass runs it")
async def test_the_lease_heartbeat_passes_over_a_run_whose_row_a_commit_holds(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for such a row made the heartbeat and the drivers' commits lock rows in different orders: each
    deadlock cost a second before PostgreSQL broke it."""

    async def not_yet(*args: Any, **kwargs: Any) -> None:
        return None

    workflow_id = await publish(state, tenant, chain(transform("a", 1)))
    monkeypatch.setattr(state.control.queue, "enqueue_advance", not_yet)
    busy, idle = [(await state.control.start_run(tenant.id, "test", workflow_id))[0].id for _ in range(2)]
    heart = RunEngine(state.settings, state.db_engine, state.bus, state.control.queue, load_catalog(state.settings))
    soon = utcnow() + timedelta(seconds=0.5)  # sooner than a renewal (run_lease_s > 0.5)
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Run)
            .where(models.Run.id.in_([busy, idle]))
            .values(lease_owner=heart.owner, lease_expires_at=soon)
        )
    heart.active = {run_id: SimpleNamespace(cancel=asyncio.Event()) for run_id in (busy, idle)}  # type: ignore[misc]
    async with state.db_engine.begin() as commit:  # a driver's commit holds the busy run's row
        await commit.execute(sa.select(models.Run.id).where(models.Run.id == busy).with_for_update())
        await asyncio.wait_for(heart.renew_leases(), timeout=3)
    async with state.sessions() as s:
        leases = dict((await s.execute(sa.select(models.Run.id, models.Run.lease_expires_at).where(
            models.Run.id.in_([busy, idle])))).all())  # fmt: skip
    assert leases[busy] == soon, "the held row waits for the next beat"
    assert leases[idle] > soon, "the others are renewed"
