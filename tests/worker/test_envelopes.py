"""Every finished step stores an envelope that step_output.schema.json accepts, whatever its final status and
whichever way it got there (the driver, a cancel of a parked run, the cancel of never-started child runs), and the
envelope lists the artifacts the step wrote."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.db.jsondata import stored_size
from studio_shared.schemas import validate_step_output
from studio_shared.types import FINAL_STEP_STATUSES, RunStatus, StepStatus
from tests.conftest import TenantFixture
from tests.nodes_plugin import sink_lines
from tests.worker.engine_harness import Finished, actor, chain, load, publish, run_once, wait_for

pytestmark = pytest.mark.usefixtures("workers")


def node(id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "config": config}


def assert_enveloped(done: Finished) -> dict[str, dict[str, Any]]:
    """Every final step has an envelope the schema accepts, naming that step and status; the envelopes by step."""
    found: dict[str, dict[str, Any]] = {}
    for step_id, step in done.steps.items():
        if not step.status.final:
            continue
        envelope = step.envelope
        assert envelope is not None, f"{step.status.value} step {step_id} of run {done.run.id} has no envelope"
        assert validate_step_output(envelope) == [], (step_id, envelope)
        assert (envelope["run_id"], envelope["step_id"], envelope["status"], envelope["node_type"]) == (
            str(done.run.id),
            step_id,
            step.status.value,
            step.node_type,
        )
        found[step_id] = envelope
    return found


async def until(check: Any, what: str, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_succeeded_skipped_failed_and_cancelled_steps_store_valid_envelopes(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    seen: set[str] = set()
    # SUCCEEDED and SKIPPED: a condition takes one side.
    branching = chain(
        node("check", "condition", expression="{{ input.n > 1 }}"),
        node("yes", "transform", value="Y"),
        node("no", "transform", value="N"),
        edges=[("start", "check"), ("check", "yes", "true"), ("check", "no", "false")],
    )
    done = await run_once(state, tenant, branching, input={"n": 5})
    envelopes = assert_enveloped(done)
    assert envelopes["yes"]["output"] == "Y" and envelopes["yes"]["attempt"] == 1
    assert envelopes["no"]["status"] == "SKIPPED" and envelopes["no"]["attempt"] == 0
    assert envelopes["no"]["output"] is None and envelopes["no"]["error"] is None
    seen |= {e["status"] for e in envelopes.values()}

    # FAILED, and the step after it CANCELLED by the driver because the run failed.
    failing = chain(
        node("boom", "test.flaky", fail_times=5, sink=str(tmp_path / "flaky")), node("after", "transform", value=1)
    )
    done = await run_once(state, tenant, failing)
    assert done.run.status is RunStatus.FAILED
    envelopes = assert_enveloped(done)
    assert envelopes["boom"]["status"] == "FAILED" and envelopes["boom"]["error"]["type"]
    assert envelopes["after"]["status"] == "CANCELLED"
    assert envelopes["after"]["error"] == {"type": "Cancelled", "message": "the run failed", "retryable": False}
    seen |= {e["status"] for e in envelopes.values()}

    # CANCELLED while running: the driver stops the step.
    sink = str(tmp_path / "sleep")
    workflow_id = await publish(state, tenant, chain(node("slow", "test.sleep", seconds=30, sink=sink)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)

    async def sleeping() -> bool:
        return bool(sink_lines(sink))

    await until(sleeping, "the step to start")
    await state.control.cancel_run(tenant.id, actor(tenant), run.id)
    done = await wait_for(state, tenant.id, run.id, timeout=15)
    envelopes = assert_enveloped(done)
    assert envelopes["slow"]["status"] == "CANCELLED" and envelopes["slow"]["attempt"] == 1
    assert envelopes["slow"]["started_at"] is not None
    assert envelopes["slow"]["error"]["message"] == "the run was cancelled"
    seen |= {e["status"] for e in envelopes.values()}

    # CANCELLED while parked: the control API ends the run itself (no driver holds it).
    workflow_id = await publish(
        state, tenant, chain(node("wait", "delay", seconds=3600), node("then", "transform", value=1))
    )
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    await state.control.cancel_run(tenant.id, actor(tenant), run.id)
    done = await load(state, tenant.id, run.id)
    assert done.run.status is RunStatus.CANCELLED
    envelopes = assert_enveloped(done)
    assert {e["status"] for e in envelopes.values()} >= {"SUCCEEDED", "CANCELLED"}
    assert envelopes["then"]["attempt"] == 0 and envelopes["then"]["started_at"] is None

    assert seen == {s.value for s in FINAL_STEP_STATUSES}, "every final status was seen"


async def test_never_started_child_runs_cancelled_with_their_parent_store_envelopes(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    """Children held QUEUED by the tenant's limit are cancelled in bulk (engine/records/cancels.py), envelopes included."""
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_concurrent_runs=2))
    sink = str(tmp_path / "sink")
    child = await publish(state, tenant, chain(node("nap", "test.sleep", seconds=30, sink=sink)), name="child")
    parent = chain(node("each", "foreach", items="{{ input.items }}", workflow=str(child), input={}, max_concurrency=6))
    workflow_id = await publish(state, tenant, parent, name="parent")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"items": list(range(6))})

    async def children() -> list[models.Run]:
        async with state.sessions() as s:
            return list(
                await s.scalars(
                    sa.select(models.Run).where(models.Run.tenant_id == tenant.id, models.Run.parent_run_id == run.id)
                )
            )

    async def spawned_and_held() -> bool:
        found = await children()
        return len(found) == 6 and any(c.status is RunStatus.QUEUED for c in found) and bool(sink_lines(sink))

    await until(spawned_and_held, "six children, some held QUEUED, one running")
    await state.control.cancel_run(tenant.id, actor(tenant), run.id)

    async def all_final() -> bool:
        return all(c.status.final for c in await children())

    await until(all_final, "every child to end")
    never_started = [c for c in await children() if c.started_at is None]
    assert never_started, "some children never started"
    for row in await children():
        done = await load(state, tenant.id, row.id)
        envelopes = assert_enveloped(done)
        assert {e["status"] for e in envelopes.values()} <= {"SUCCEEDED", "CANCELLED"}
    for row in never_started:
        done = await load(state, tenant.id, row.id)
        nap = done.steps["nap"]
        assert nap.status is StepStatus.CANCELLED and nap.envelope is not None
        assert nap.envelope["attempt"] == 0 and nap.envelope["error"]["type"] == "Cancelled"
        envelope_bytes = sum(stored_size(step.envelope) for step in done.steps.values())
        assert done.run.stored_bytes >= envelope_bytes > 0, "the envelopes count in the run's stored bytes"


async def test_the_envelope_lists_the_artifacts_the_step_wrote(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(
        node("write", "artifact.write", name="report.md", content="# hi", content_type="text/markdown"),
        node("plain", "transform", value=1),
    )
    done = await run_once(state, tenant, definition)
    assert done.run.status is RunStatus.SUCCEEDED
    envelopes = assert_enveloped(done)
    async with state.sessions() as s:
        written = list(
            await s.scalars(
                sa.select(models.Artifact.id).where(
                    models.Artifact.tenant_id == tenant.id, models.Artifact.run_id == done.run.id
                )
            )
        )
    assert len(written) == 1
    assert envelopes["write"]["artifacts"] == [str(written[0])] == [done.steps["write"].output["artifact_id"]]
    assert envelopes["plain"]["artifacts"] == []
    assert uuid.UUID(envelopes["write"]["artifacts"][0])
