"""human.approval: tasks for people, decisions, quorum, expiry, escalation; the run resumes exactly once.

Decisions go through the real control API (``Control.decide_human_task``) in the mode of this pass; the
GraphQL surface (inbox, payload errors, subscription) is covered in tests/gql/test_approvals.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.errors import ValidationFailed
from studio_shared.rbac import Role
from studio_shared.store import human_tasks
from studio_shared.types import Decision, HumanTaskStatus, RunStatus, StepStatus
from tests.conftest import TenantFixture
from tests.worker.engine_harness import Finished, chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

APPROVE, REJECT = Decision.APPROVE, Decision.REJECT
WAITING = {RunStatus.WAITING}


def approval_flow(**config: Any) -> dict[str, Any]:
    """start → ask (human.approval) → yes on approved, no on rejected."""
    ask = {"id": "ask", "type": "human.approval", "config": {"title": "Approve {{ input.amount }} EUR", **config}}
    return chain(
        ask,
        {"id": "yes", "type": "transform", "config": {"value": "{{ steps.ask.output.decision }}"}},
        {"id": "no", "type": "transform", "config": {"value": "{{ steps.ask.output.decision }}"}},
        edges=[("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected")],
    )


async def start(state: AppState, tenant: TenantFixture, definition: dict[str, Any], actor: str = "test") -> uuid.UUID:
    workflow_id = await publish(state, tenant, definition, name="approvals")
    run, _ = await state.control.start_run(tenant.id, actor, workflow_id, input={"amount": 120})
    return run.id


async def tasks_of(state: AppState, tenant: TenantFixture, run_id: uuid.UUID) -> list[models.HumanTask]:
    async with state.sessions() as s:
        return (await human_tasks.of_runs(s, tenant.id, [run_id]))[run_id]


async def open_task(state: AppState, tenant: TenantFixture, run_id: uuid.UUID, timeout: float = 30) -> models.HumanTask:
    """The run's task, once the step waits for it."""
    for _ in range(int(timeout / 0.02)):
        found = await tasks_of(state, tenant, run_id)
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} opened no task within {timeout}s")


async def task_by_id(state: AppState, tenant: TenantFixture, task_id: uuid.UUID) -> models.HumanTask:
    async with state.sessions() as s:
        task = await human_tasks.get(s, tenant.id, task_id)
    assert task is not None
    return task


def user(tenant: TenantFixture, role: Role) -> Principal:
    return Principal(tenant_id=tenant.id, role=role, user_id=tenant.users[role])


async def decide(
    state: AppState,
    tenant: TenantFixture,
    role: Role,
    task: models.HumanTask,
    decision: Decision,
    comment: str | None = None,
    data: Any = None,
) -> models.HumanTask:
    return await state.control.decide_human_task(tenant.id, user(tenant, role), task.id, decision, comment, data)


async def refused(coro: Any) -> str:
    """The code of a refused decision."""
    with pytest.raises(human_tasks.DecisionRefused) as caught:
        await coro
    return caught.value.code


def succeeded(finished: Finished, step_id: str) -> int:
    return sum(1 for e in finished.events if e.kind == "step.succeeded" and e.step_id == step_id)


async def votes(state: AppState, tenant: TenantFixture, task_id: uuid.UUID) -> list[models.HumanTaskDecision]:
    async with state.sessions() as s:
        return (await human_tasks.decisions_of(s, tenant.id, [task_id]))[task_id]


# -- the happy paths -------------------------------------------------------------------------------------


async def test_approve_resumes_the_run_on_the_approved_branch(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(message="Customer {{ input.amount }}"))
    task = await open_task(state, tenant, run_id)
    waiting = await wait_for(state, tenant.id, run_id, WAITING)
    assert waiting.steps["ask"].status is StepStatus.WAITING
    assert waiting.run.lease_owner is None, "a waiting run holds no worker"
    assert (task.status, task.title, task.message) == (HumanTaskStatus.OPEN, "Approve 120 EUR", "Customer 120")
    assert (task.assignee_role, task.assignees, task.required_approvals) == (Role.APPROVER, None, 1)
    assert (task.expires_at, task.escalate_at, task.step_id) == (None, None, "ask")

    decided = await decide(state, tenant, Role.OPERATOR, task, APPROVE, "fine by me", {"note": "ok"})
    assert decided.status is HumanTaskStatus.APPROVED
    assert decided.decided_by == tenant.users[Role.OPERATOR]

    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert (done.status("yes"), done.status("no")) == ("SUCCEEDED", "SKIPPED")
    assert done.steps["ask"].branches == ["approved"]
    output = done.steps["ask"].output
    assert output == {
        "decision": "approved",
        "comment": "fine by me",
        "data": {"note": "ok"},
        "decided_by": tenant.emails[Role.OPERATOR],
        "timed_out": False,
        "task_id": str(task.id),
        "decisions": [{"decided_by": tenant.emails[Role.OPERATOR], "decision": "APPROVE", "comment": "fine by me"}],
    }
    assert done.steps["yes"].output == "approved"
    assert succeeded(done, "ask") == 1
    kinds = [e.kind for e in done.events if e.step_id == "ask"]
    assert "step.task_opened" in kinds

    async with state.sessions() as s:
        entries = list(
            await s.scalars(
                sa.select(models.AuditEntry).where(
                    models.AuditEntry.tenant_id == tenant.id, models.AuditEntry.target_id == str(task.id)
                )
            )
        )
    assert [(e.action, e.actor) for e in entries] == [("human_task.decide", f"user:{tenant.users[Role.OPERATOR]}")]
    assert entries[0].data == {
        "decision": "APPROVE",
        "run_id": str(run_id),
        "step_id": "ask",
        "approvals": 1,
        "resolved": "APPROVED",
    }


async def test_reject_takes_the_rejected_branch(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow())
    task = await open_task(state, tenant, run_id)
    await decide(state, tenant, Role.APPROVER, task, REJECT, "too expensive")
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert (done.status("yes"), done.status("no")) == ("SKIPPED", "SUCCEEDED")
    assert done.steps["ask"].output["decision"] == "rejected"
    assert done.steps["ask"].output["comment"] == "too expensive"
    assert (await task_by_id(state, tenant, task.id)).status is HumanTaskStatus.REJECTED


async def test_a_quorum_of_two_resolves_on_the_second_approval(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(required_approvals=2))
    task = await open_task(state, tenant, run_id)
    await wait_for(state, tenant.id, run_id, WAITING)
    first = await decide(state, tenant, Role.APPROVER, task, APPROVE, "one")
    assert first.status is HumanTaskStatus.OPEN, "one approval of two leaves the task open"
    await asyncio.sleep(0.3)
    assert (await wait_for(state, tenant.id, run_id, WAITING)).steps["ask"].status is StepStatus.WAITING
    second = await decide(state, tenant, Role.EDITOR, task, APPROVE, "two")
    assert second.status is HumanTaskStatus.APPROVED
    done = await wait_for(state, tenant.id, run_id)
    assert done.status("yes") == "SUCCEEDED"
    output = done.steps["ask"].output
    assert output["decided_by"] == tenant.emails[Role.EDITOR]
    assert [d["decided_by"] for d in output["decisions"]] == [tenant.emails[Role.APPROVER], tenant.emails[Role.EDITOR]]
    assert succeeded(done, "ask") == 1


async def test_one_rejection_rejects_a_quorum(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(required_approvals=3))
    task = await open_task(state, tenant, run_id)
    await decide(state, tenant, Role.APPROVER, task, APPROVE)
    await decide(state, tenant, Role.OPERATOR, task, REJECT, "no")
    done = await wait_for(state, tenant.id, run_id)
    assert (done.status("yes"), done.status("no")) == ("SKIPPED", "SUCCEEDED")


# -- races -----------------------------------------------------------------------------------------------

DECIDERS = [Role.APPROVER, Role.OPERATOR, Role.EDITOR, Role.ADMIN]


@pytest.mark.parametrize("quorum", [1, 2])
async def test_concurrent_decisions_resolve_the_task_once(state: AppState, tenant: TenantFixture, quorum: int) -> None:
    run_id = await start(state, tenant, approval_flow(required_approvals=quorum))
    task = await open_task(state, tenant, run_id)
    await wait_for(state, tenant.id, run_id, WAITING)
    # Quorum 1: approvals and rejections race; quorum 2: four approvals race for the two places.
    choices = [APPROVE, REJECT, APPROVE, REJECT] if quorum == 1 else [APPROVE] * 4
    results = await asyncio.gather(
        *(decide(state, tenant, role, task, choice) for role, choice in zip(DECIDERS, choices, strict=True)),
        return_exceptions=True,
    )
    accepted = [r for r in results if isinstance(r, models.HumanTask)]
    refusals = [r for r in results if not isinstance(r, models.HumanTask)]
    assert len(accepted) == quorum, results
    assert all(isinstance(r, human_tasks.DecisionRefused) and r.code == "ALREADY_DECIDED" for r in refusals), results
    recorded = await votes(state, tenant, task.id)
    assert len(recorded) == quorum, "refused decisions leave no vote behind"

    done = await wait_for(state, tenant.id, run_id)
    final = await task_by_id(state, tenant, task.id)
    assert final.status in (HumanTaskStatus.APPROVED, HumanTaskStatus.REJECTED)
    taken = "approved" if final.status is HumanTaskStatus.APPROVED else "rejected"
    assert done.steps["ask"].branches == [taken]
    assert done.steps["ask"].output["decision"] == taken
    assert succeeded(done, "ask") == 1, "the run resumed exactly once"
    assert [e.kind for e in done.events].count("run.succeeded") == 1
    await asyncio.sleep(0.3)  # nothing happens to the finished run afterwards
    assert (await wait_for(state, tenant.id, run_id)).run.last_seq == done.run.last_seq


async def test_deciding_twice_is_refused(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(required_approvals=2))
    task = await open_task(state, tenant, run_id)
    await decide(state, tenant, Role.APPROVER, task, APPROVE)
    assert await refused(decide(state, tenant, Role.APPROVER, task, APPROVE)) == "ALREADY_DECIDED"
    assert await refused(decide(state, tenant, Role.APPROVER, task, REJECT)) == "ALREADY_DECIDED"
    assert len(await votes(state, tenant, task.id)) == 1
    await decide(state, tenant, Role.ADMIN, task, APPROVE)
    assert await refused(decide(state, tenant, Role.OPERATOR, task, REJECT)) == "ALREADY_DECIDED"
    assert (await wait_for(state, tenant.id, run_id)).status("yes") == "SUCCEEDED"


async def test_the_unique_key_allows_one_decision_per_approver(state: AppState, tenant: TenantFixture) -> None:
    """The database itself refuses a second vote by the same user (what the guard in decide relies on)."""
    run_id = await start(state, tenant, approval_flow(required_approvals=2))
    task = await open_task(state, tenant, run_id)
    await decide(state, tenant, Role.APPROVER, task, APPROVE)
    with pytest.raises(sa.exc.IntegrityError):
        async with state.sessions.begin() as s:
            s.add(
                models.HumanTaskDecision(
                    tenant_id=tenant.id, task_id=task.id, user_id=tenant.users[Role.APPROVER], decision=REJECT
                )
            )
    await state.control.cancel_run(tenant.id, user(tenant, Role.ADMIN), run_id)


# -- who may decide --------------------------------------------------------------------------------------


async def test_only_the_assigned_role_and_people_may_decide(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(assignee_role="EDITOR"))
    task = await open_task(state, tenant, run_id)
    for role in (Role.APPROVER, Role.OPERATOR):
        assert await refused(decide(state, tenant, role, task, APPROVE)) == "FORBIDDEN"
    key = Principal(tenant_id=tenant.id, role=Role.ADMIN, api_key_id=uuid.uuid4())
    assert await refused(state.control.decide_human_task(tenant.id, key, task.id, APPROVE)) == "FORBIDDEN"
    assert await votes(state, tenant, task.id) == []
    await decide(state, tenant, Role.ADMIN, task, APPROVE)  # above the role is fine
    assert (await wait_for(state, tenant.id, run_id)).status("yes") == "SUCCEEDED"

    named = await start(state, tenant, approval_flow(assignees=[tenant.emails[Role.OPERATOR].upper()]))
    task = await open_task(state, tenant, named)
    assert task.assignees == [tenant.emails[Role.OPERATOR]]
    for role in (Role.APPROVER, Role.ADMIN):
        assert await refused(decide(state, tenant, role, task, APPROVE)) == "FORBIDDEN", role
    await decide(state, tenant, Role.OPERATOR, task, REJECT)
    assert (await wait_for(state, tenant.id, named)).status("no") == "SUCCEEDED"


async def test_self_approval_can_be_turned_off(state: AppState, tenant: TenantFixture) -> None:
    starter = f"user:{tenant.users[Role.APPROVER]}"
    strict = dataclasses.replace(state.control, allow_self_approval=False)
    run_id = await start(state, tenant, approval_flow(), actor=starter)
    task = await open_task(state, tenant, run_id)
    own = strict.decide_human_task(tenant.id, user(tenant, Role.APPROVER), task.id, APPROVE)
    assert await refused(own) == "SELF_APPROVAL"
    assert await votes(state, tenant, task.id) == []
    await strict.decide_human_task(tenant.id, user(tenant, Role.OPERATOR), task.id, APPROVE)
    assert (await wait_for(state, tenant.id, run_id)).status("yes") == "SUCCEEDED"

    # The default setting lets the starter decide.
    again = await start(state, tenant, approval_flow(), actor=starter)
    task = await open_task(state, tenant, again)
    await decide(state, tenant, Role.APPROVER, task, APPROVE)
    assert (await wait_for(state, tenant.id, again)).status("yes") == "SUCCEEDED"


async def test_form_data_is_validated_against_the_form_schema(state: AppState, tenant: TenantFixture) -> None:
    form = {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 3}, "amount": {"type": "integer"}},
        "additionalProperties": False,
    }
    run_id = await start(state, tenant, approval_flow(form_schema=form, required_approvals=2))
    task = await open_task(state, tenant, run_id)
    assert task.form_schema == form, "the form schema is stored as written, not rendered"

    cases: list[tuple[Any, list[tuple[str, ...]]]] = [
        (None, [("data",)]),  # reason is required
        ({"reason": "ok", "amount": "ten", "extra": 1}, [("data", "amount"), ("data", "extra"), ("data", "reason")]),
        (["not", "an", "object"], [("data",)]),
    ]
    for data, paths in cases:
        with pytest.raises(ValidationFailed) as caught:
            await decide(state, tenant, Role.APPROVER, task, APPROVE, data=data)
        assert sorted(p.path for p in caught.value.problems) == sorted(paths), caught.value.problems
    assert await votes(state, tenant, task.id) == [], "an invalid decision records nothing"

    await decide(state, tenant, Role.APPROVER, task, APPROVE, data={"reason": "within budget", "amount": 120})
    # A rejection need not fill in the form.
    await decide(state, tenant, Role.OPERATOR, task, REJECT, "no")
    done = await wait_for(state, tenant.id, run_id)
    assert done.status("no") == "SUCCEEDED"


# -- expiry and escalation -------------------------------------------------------------------------------


@pytest.mark.parametrize("on_timeout", ["approved", "rejected", "fail"])
async def test_an_unanswered_task_expires_to_on_timeout(
    state: AppState, tenant: TenantFixture, on_timeout: str
) -> None:
    run_id = await start(state, tenant, approval_flow(timeout_s=0.5, on_timeout=on_timeout))
    task = await open_task(state, tenant, run_id)
    assert task.expires_at is not None
    done = await wait_for(state, tenant.id, run_id)
    expired = await task_by_id(state, tenant, task.id)
    assert expired.status is HumanTaskStatus.EXPIRED
    assert await refused(decide(state, tenant, Role.APPROVER, task, APPROVE)) == "EXPIRED"
    assert [e.kind for e in done.events].count("step.task_expired") == 1
    if on_timeout == "fail":
        assert done.run.status is RunStatus.FAILED
        assert done.steps["ask"].error is not None
        assert done.steps["ask"].error["type"] == "ApprovalExpired"
        assert "on_timeout" in done.steps["ask"].error["message"]
        assert (done.status("yes"), done.status("no")) == ("CANCELLED", "CANCELLED")
        return
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["ask"].branches == [on_timeout]
    assert done.steps["ask"].output["decision"] == on_timeout
    assert done.steps["ask"].output["timed_out"] is True
    assert done.steps["ask"].output["decided_by"] is None
    taken, skipped = ("yes", "no") if on_timeout == "approved" else ("no", "yes")
    assert (done.status(taken), done.status(skipped)) == ("SUCCEEDED", "SKIPPED")


async def test_a_task_past_its_expiry_is_refused_before_the_engine_marks_it(
    state: AppState, tenant: TenantFixture
) -> None:
    run_id = await start(state, tenant, approval_flow())
    task = await open_task(state, tenant, run_id)
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with state.sessions.begin() as s:  # an expiry the engine has not acted on yet (a busy worker)
        await s.execute(sa.update(models.HumanTask).where(models.HumanTask.id == task.id).values(expires_at=past))
    assert await refused(decide(state, tenant, Role.APPROVER, task, APPROVE)) == "EXPIRED"
    assert await votes(state, tenant, task.id) == []
    await state.control.cancel_run(tenant.id, user(tenant, Role.ADMIN), run_id)


async def test_a_long_timeout_parks_the_run_until_the_expiry(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow(timeout_s=3, on_timeout="rejected"))
    task = await open_task(state, tenant, run_id)
    waiting = await wait_for(state, tenant.id, run_id, WAITING)
    assert waiting.run.wake_at == task.expires_at, "the run wakes at the expiry, holding no worker meanwhile"
    done = await wait_for(state, tenant.id, run_id)
    assert done.status("no") == "SUCCEEDED"


async def test_escalation_offers_the_task_to_another_role(state: AppState, tenant: TenantFixture) -> None:
    config = {"assignees": [tenant.emails[Role.APPROVER]], "escalate_after_s": 1.5, "escalate_to_role": "ADMIN"}
    run_id = await start(state, tenant, approval_flow(**config))
    task = await open_task(state, tenant, run_id)
    assert (task.escalate_to_role, task.escalated_at) == (Role.ADMIN, None)
    admin = human_tasks.Approver(tenant.users[Role.ADMIN], tenant.emails[Role.ADMIN], Role.ADMIN)
    assert await inbox(state, tenant, admin) == []
    assert await refused(decide(state, tenant, Role.ADMIN, task, APPROVE)) == "FORBIDDEN"

    for _ in range(500):
        task = await task_by_id(state, tenant, task.id)
        if task.escalated_at is not None:
            break
        await asyncio.sleep(0.02)
    assert task.escalated_at is not None and task.escalate_at is not None
    assert task.escalated_at >= task.escalate_at
    assert task.status is HumanTaskStatus.OPEN
    assert await inbox(state, tenant, admin) == [task.id]
    editor = human_tasks.Approver(tenant.users[Role.EDITOR], tenant.emails[Role.EDITOR], Role.EDITOR)
    assert await inbox(state, tenant, editor) == [], "EDITOR is below the escalation role and not an assignee"
    await decide(state, tenant, Role.ADMIN, task, APPROVE, "escalated and approved")
    done = await wait_for(state, tenant.id, run_id)
    assert done.status("yes") == "SUCCEEDED"
    assert [e.kind for e in done.events].count("step.task_escalated") == 1


async def inbox(state: AppState, tenant: TenantFixture, approver: human_tasks.Approver) -> list[uuid.UUID]:
    where = human_tasks.TaskFilter(status=HumanTaskStatus.OPEN, assigned_to=approver)
    async with state.sessions() as s:
        page = await human_tasks.list_tasks(s, tenant.id, where, 100, None)
    return [t.id for t in page.items]


# -- the run ends otherwise ------------------------------------------------------------------------------


async def test_cancelling_the_run_cancels_its_task(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, approval_flow())
    task = await open_task(state, tenant, run_id)
    await wait_for(state, tenant.id, run_id, WAITING)
    await state.control.cancel_run(tenant.id, user(tenant, Role.ADMIN), run_id)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.CANCELLED
    assert (await task_by_id(state, tenant, task.id)).status is HumanTaskStatus.CANCELLED
    assert await refused(decide(state, tenant, Role.APPROVER, task, APPROVE)) == "CANCELLED"


async def test_a_run_failing_elsewhere_cancels_its_task(state: AppState, tenant: TenantFixture) -> None:
    definition = chain(
        {"id": "ask", "type": "human.approval", "config": {"title": "Approve"}},
        {"id": "pause", "type": "delay", "config": {"seconds": 0.5}},
        {"id": "boom", "type": "fail", "config": {"message": "broken"}},
        edges=[("start", "ask"), ("start", "pause"), ("pause", "boom")],
    )
    run_id = await start(state, tenant, definition)
    task = await open_task(state, tenant, run_id)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.FAILED
    assert done.status("ask") == "CANCELLED"
    assert (await task_by_id(state, tenant, task.id)).status is HumanTaskStatus.CANCELLED


async def test_a_decision_on_a_busy_run_is_not_lost(state: AppState, tenant: TenantFixture) -> None:
    """The run is RUNNING another step when the decision lands: the driver notices the poke before parking."""
    definition = chain(
        {"id": "ask", "type": "human.approval", "config": {"title": "Approve"}},
        {"id": "busy", "type": "test.sleep", "config": {"seconds": 1.5}},
        edges=[("start", "ask"), ("start", "busy")],
    )
    run_id = await start(state, tenant, definition)
    task = await open_task(state, tenant, run_id)
    await decide(state, tenant, Role.APPROVER, task, APPROVE)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["ask"].output["decision"] == "approved"
    assert succeeded(done, "ask") == 1
