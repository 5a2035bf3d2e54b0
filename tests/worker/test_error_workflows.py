"""Error workflows end to end, in the mode of this pass: a failed live run starts its error workflow once, in its
final transaction (README: Error workflows)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.types import RunStatus
from studio_worker.engine.records.error_runs import error_key
from tests.conftest import TenantFixture
from tests.worker.engine_harness import Finished, actor, assert_events_contiguous, chain, load, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "studio_shared/schemas/error_input.schema.json").read_text())
FAILING = chain({"id": "boom", "type": "fail", "config": {"message": "order {{ input.order }} is broken"}})
# The error workflow: records what it got (its output is its input's failed run).
HANDLER = chain({"id": "note", "type": "transform", "config": {"value": "{{ input.failed_run }}"}})


async def set_error_workflow(state: AppState, workflow_id: uuid.UUID, target: uuid.UUID | None) -> None:
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Workflow).where(models.Workflow.id == workflow_id).values(error_workflow_id=target)
        )


async def set_default(state: AppState, tenant: TenantFixture, target: uuid.UUID | None) -> None:
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(default_error_workflow_id=target)
        )


async def runs_of(state: AppState, tenant: TenantFixture, workflow_id: uuid.UUID) -> list[models.Run]:
    async with state.sessions() as s:
        rows = await s.scalars(
            sa.select(models.Run)
            .where(models.Run.tenant_id == tenant.id, models.Run.workflow_id == workflow_id)
            .order_by(models.Run.created_at)
        )
        return list(rows)


async def start(state: AppState, tenant: TenantFixture, workflow_id: uuid.UUID, input: Any = None) -> Finished:
    run, _ = await state.control.start_run(
        tenant.id, "test", workflow_id, input=input, started_by=tenant.users[next(iter(tenant.users))]
    )
    return await wait_for(state, tenant.id, run.id)


def error_events(done: Finished) -> list[dict[str, Any]]:
    return [e.data for e in done.events if e.kind == "run.error_workflow"]


async def test_a_failed_run_starts_its_error_workflow_once_with_the_failure_as_input(
    state: AppState, tenant: TenantFixture
) -> None:
    handler = await publish(state, tenant, HANDLER, name="on-error")
    failing = await publish(state, tenant, FAILING, name="orders")
    await set_error_workflow(state, failing, handler)

    failed = await start(state, tenant, failing, {"order": 7})
    assert failed.run.status is RunStatus.FAILED
    assert failed.run.error_run_id is not None, "the error run is named in the failed run's final transaction"
    error_run = await wait_for(state, tenant.id, failed.run.error_run_id)
    assert error_run.run.status is RunStatus.SUCCEEDED, error_run.run.error
    assert error_run.run.workflow_id == handler and error_run.run.trigger == "error"
    assert error_run.run.idempotency_key == error_key(failed.run.id)
    assert error_run.run.trigger_data == {"failed_run_id": str(failed.run.id)}
    assert error_run.run.parent_run_id is None and not error_run.run.test
    assert error_run.run.started_by_user == failed.run.started_by_user, "the failed run's person, for approvals"
    expected = {
        "id": str(failed.run.id),
        "workflow": {"id": str(failing), "name": "orders"},
        "version": 1,
        "status": "FAILED",
        "error": failed.run.error,
        "failed_step": {"id": "boom", "type": "fail", "error": failed.steps["boom"].error},
        "input": {"order": 7},
        "trigger": "manual",
    }
    assert error_run.run.input == {"failed_run": expected}
    assert failed.run.error["message"] == "order 7 is broken"
    jsonschema.validate(error_run.run.input, SCHEMA)
    assert error_run.steps["note"].output == expected, "the error workflow reads the failure as {{ input.failed_run }}"

    kinds = [e.kind for e in failed.events]
    assert kinds[-2:] == ["run.error_workflow", "run.failed"], "written with the final state, before run.failed"
    assert error_events(failed) == [
        {
            "error_workflow_id": str(handler),
            "source": "workflow",
            "started": True,
            "error_run_id": str(error_run.run.id),
        }
    ]
    assert_events_contiguous(failed)
    assert [r.id for r in await runs_of(state, tenant, handler)] == [error_run.run.id]


async def test_a_failure_committed_again_starts_no_second_error_run(state: AppState, tenant: TenantFixture) -> None:
    """retryRun re-drives the same run to the same failure: its final transaction runs again, and the error run's
    key (error:<failed run id>) is known, so none is added."""
    handler = await publish(state, tenant, HANDLER, name="on-error")
    failing = await publish(state, tenant, FAILING, name="orders")
    await set_error_workflow(state, failing, handler)
    failed = await start(state, tenant, failing, {"order": 1})
    first = failed.run.error_run_id
    assert first is not None

    await state.control.retry_run(tenant.id, actor(tenant), failed.run.id, None)
    again = await wait_for(state, tenant.id, failed.run.id)
    while [e.kind for e in again.events].count("run.failed") < 2:
        again = await wait_for(state, tenant.id, failed.run.id)
    assert again.run.status is RunStatus.FAILED
    assert again.run.error_run_id == first
    assert [r.id for r in await runs_of(state, tenant, handler)] == [first], "exactly one error run"
    second = error_events(again)[-1]
    assert second["started"] is False and second["error_run_id"] == str(first)
    assert "already started" in second["reason"]


async def test_a_timed_out_step_starts_the_error_workflow(state: AppState, tenant: TenantFixture) -> None:
    handler = await publish(state, tenant, HANDLER, name="on-error")
    slow = await publish(
        state,
        tenant,
        chain({"id": "wait", "type": "test.sleep", "config": {"seconds": 30}, "timeout_s": 0.2}),
        name="slow",
    )
    await set_error_workflow(state, slow, handler)
    failed = await start(state, tenant, slow)
    assert failed.run.status is RunStatus.FAILED and failed.run.error["type"] == "Timeout"
    assert failed.run.error_run_id is not None
    error_run = await wait_for(state, tenant.id, failed.run.error_run_id)
    step = error_run.run.input["failed_run"]["failed_step"]
    assert step["id"] == "wait" and step["type"] == "test.sleep" and step["error"]["type"] == "Timeout"


async def test_success_starts_none_and_the_error_workflow_failing_starts_none(
    state: AppState, tenant: TenantFixture
) -> None:
    # The error workflow fails too, and names itself: an error run never starts an error workflow.
    handler = await publish(state, tenant, FAILING, name="broken handler")
    await set_error_workflow(state, handler, handler)
    fine = await publish(state, tenant, chain({"id": "ok", "type": "transform", "config": {"value": 1}}))
    await set_error_workflow(state, fine, handler)
    done = await start(state, tenant, fine)
    assert done.run.status is RunStatus.SUCCEEDED and done.run.error_run_id is None
    assert error_events(done) == []

    failing = await publish(state, tenant, FAILING, name="orders")
    await set_error_workflow(state, failing, handler)
    failed = await start(state, tenant, failing, {"order": 2})
    assert failed.run.error_run_id is not None
    error_run = await wait_for(state, tenant.id, failed.run.error_run_id)
    assert error_run.run.status is RunStatus.FAILED
    assert error_run.run.error_run_id is None and error_events(error_run) == []
    assert len(await runs_of(state, tenant, handler)) == 1, "no loop: the failed error run started nothing"


async def test_the_tenant_default_applies_when_the_workflow_names_none(state: AppState, tenant: TenantFixture) -> None:
    default = await publish(state, tenant, HANDLER, name="default handler")
    own = await publish(state, tenant, HANDLER, name="own handler")
    await set_default(state, tenant, default)
    try:
        plain = await publish(state, tenant, FAILING, name="plain")
        failed = await start(state, tenant, plain, {"order": 3})
        assert failed.run.error_run_id is not None
        error_run = await load(state, tenant.id, failed.run.error_run_id)
        assert error_run.run.workflow_id == default
        assert error_events(failed)[0]["source"] == "tenant"

        named = await publish(state, tenant, FAILING, name="named")
        await set_error_workflow(state, named, own)
        failed = await start(state, tenant, named, {"order": 4})
        assert failed.run.error_run_id is not None
        assert (await load(state, tenant.id, failed.run.error_run_id)).run.workflow_id == own, "its own wins"
    finally:
        await set_default(state, tenant, None)


async def test_no_error_run_for_child_runs_only_for_their_top_level_parent(
    state: AppState, tenant: TenantFixture
) -> None:
    handler = await publish(state, tenant, HANDLER, name="on-error")
    child = await publish(state, tenant, FAILING, name="child")
    await set_error_workflow(state, child, handler)
    parent = await publish(
        state,
        tenant,
        chain({"id": "sub", "type": "subworkflow", "config": {"workflow": str(child), "input": {"order": 5}}}),
        name="parent",
    )
    await set_error_workflow(state, parent, handler)
    failed = await start(state, tenant, parent)
    assert failed.run.status is RunStatus.FAILED
    async with state.sessions() as s:
        children = list(await s.scalars(sa.select(models.Run).where(models.Run.parent_run_id == failed.run.id)))
    assert len(children) == 1 and children[0].status is RunStatus.FAILED
    assert children[0].error_run_id is None, "a child's failure is its parent's to report"
    handled = await runs_of(state, tenant, handler)
    assert [r.id for r in handled] == [failed.run.error_run_id]
    assert handled[0].input["failed_run"]["id"] == str(failed.run.id)


async def test_an_unusable_error_workflow_is_explained_on_the_failed_run(
    state: AppState, tenant: TenantFixture
) -> None:
    failing = await publish(state, tenant, FAILING, name="orders")
    # Never published.
    async with state.sessions.begin() as s:
        draft = models.Workflow(tenant_id=tenant.id, name="draft only", draft=HANDLER)
        s.add(draft)
    await set_error_workflow(state, failing, draft.id)
    failed = await start(state, tenant, failing, {"order": 6})
    assert failed.run.status is RunStatus.FAILED and failed.run.error_run_id is None
    [event] = error_events(failed)
    assert event["started"] is False and "has no published version" in event["reason"]

    # Its input schema refuses the error input.
    strict = await publish(
        state,
        tenant,
        {
            "nodes": [
                {
                    "id": "start",
                    "type": "trigger.manual",
                    "config": {"input_schema": {"type": "object", "required": ["ticket"]}},
                }
            ],
            "edges": [],
        },
        name="strict",
    )
    await set_error_workflow(state, failing, strict)
    failed = await start(state, tenant, failing, {"order": 6})
    assert failed.run.status is RunStatus.FAILED and failed.run.error_run_id is None
    [event] = error_events(failed)
    assert "does not fit the input schema" in event["reason"] and "ticket" in event["reason"]

    # Archived after it was chosen.
    gone = await publish(state, tenant, HANDLER, name="gone")
    await set_error_workflow(state, failing, gone)
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Workflow).where(models.Workflow.id == gone).values(archived=True))
    failed = await start(state, tenant, failing, {"order": 6})
    assert failed.run.error_run_id is None and "archived" in error_events(failed)[0]["reason"]
    assert await runs_of(state, tenant, gone) == []


async def test_an_error_run_beyond_the_live_run_cap_is_refused_and_explained(
    state: AppState, tenant: TenantFixture
) -> None:
    handler = await publish(state, tenant, HANDLER, name="on-error")
    waiting = await publish(state, tenant, chain({"id": "wait", "type": "delay", "config": {"seconds": 3600}}))
    failing = await publish(state, tenant, FAILING, name="orders")
    await set_error_workflow(state, failing, handler)
    parked, _ = await state.control.start_run(tenant.id, "test", waiting)
    await wait_for(state, tenant.id, parked.id, {RunStatus.WAITING})
    async with state.sessions.begin() as s:  # one live run allowed: the parked one takes it
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_live_runs=1))
    try:
        # Admitted already (as a message's runs are, before the cap was lowered): the run itself starts.
        run, _ = await state.control.start_run(tenant.id, "test", failing, input={"order": 8}, admitted=True)
        failed = await wait_for(state, tenant.id, run.id)
    finally:
        async with state.sessions.begin() as s:
            await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_live_runs=None))
        await state.control.cancel_run(tenant.id, actor(tenant), parked.id)
    assert failed.run.status is RunStatus.FAILED and failed.run.error_run_id is None
    [event] = error_events(failed)
    assert event["started"] is False and "at most 1 live runs" in event["reason"]
    assert await runs_of(state, tenant, handler) == []
