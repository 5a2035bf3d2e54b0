"""Approvals through GraphQL: the inbox, decideHumanTask's answers, and the humanTaskUpdates subscription."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.events import channels
from studio_shared.rbac import Role
from studio_shared.store import human_tasks
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.busfaults import bus_reconnected, until_subscribed
from tests.gql.wsclient import WsClient
from tests.worker.engine_harness import chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

INBOX = """query($status: HumanTaskStatus, $mine: Boolean, $first: Int, $after: String) {
  humanTasks(status: $status, assignedToMe: $mine, first: $first, after: $after) {
    edges { cursor node { id status title } }
    pageInfo { hasNextPage endCursor }
  }
}"""
DECIDE = """mutation($id: ID!, $decision: Decision!, $comment: String, $data: JSON) {
  decideHumanTask(id: $id, decision: $decision, comment: $comment, data: $data) {
    task {
      id status comment data approvals requiredApprovals assigneeRole assignees formSchema expiresAt stepId title
      decidedBy { email }
      decisions { decision comment data user { email } }
      run { id humanTasks { id } }
    }
    errors { path message code }
  }
}"""
UPDATES = "subscription { humanTaskUpdates { id status title run { id } } }"


def approval_flow(**config: Any) -> dict[str, Any]:
    ask = {"id": "ask", "type": "human.approval", "config": {"title": "Approve {{ input.amount }}", **config}}
    return chain(
        ask,
        {"id": "yes", "type": "transform", "config": {"value": 1}},
        {"id": "no", "type": "transform", "config": {"value": 0}},
        edges=[("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected")],
    )


async def open_task(state: AppState, tenant: TenantFixture, **config: Any) -> tuple[uuid.UUID, str]:
    """Start a run of an approval flow and wait for its task: (run id, task id)."""
    workflow_id = await publish(state, tenant, approval_flow(**config), name="approval")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"amount": 7})
    await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    for _ in range(500):
        async with state.sessions() as s:
            found = (await human_tasks.of_runs(s, tenant.id, [run.id]))[run.id]
        if found:
            return run.id, str(found[0].id)
        await asyncio.sleep(0.02)
    raise AssertionError("no task opened")


async def decide(gql: GraphQLClient, token: str, task_id: str, decision: str, **more: Any) -> dict[str, Any]:
    data = await gql.data(DECIDE, {"id": task_id, "decision": decision, **more}, token)
    result: dict[str, Any] = data["decideHumanTask"]
    return result


async def inbox(gql: GraphQLClient, token: str, **variables: Any) -> list[str]:
    data = await gql.data(INBOX, {"first": 100, **variables}, token)
    return [edge["node"]["id"] for edge in data["humanTasks"]["edges"]]


async def test_the_inbox_filters_by_status_and_by_who_may_decide(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    _, anyone = await open_task(state, tenant)
    _, editors = await open_task(state, tenant, assignee_role="EDITOR")
    _, named = await open_task(state, tenant, assignees=[tenant.emails[Role.OPERATOR]])
    _, low = await open_task(state, tenant, assignee_role="VIEWER")
    _, decided = await open_task(state, tenant)
    assert (await decide(gql, tenant.token(Role.APPROVER), decided, "APPROVE"))["errors"] == []
    _, theirs = await open_task(state, other_tenant)

    viewer = tenant.token(Role.VIEWER)
    assert set(await inbox(gql, viewer)) == {anyone, editors, named, low, decided}
    assert set(await inbox(gql, viewer, status="OPEN")) == {anyone, editors, named, low}
    assert await inbox(gql, viewer, status="APPROVED") == [decided]
    assert await inbox(gql, viewer, status="EXPIRED") == []
    mine = {
        Role.VIEWER: set(),  # a VIEWER decides nothing, even a task for VIEWER and above
        Role.APPROVER: {anyone, low},
        Role.OPERATOR: {anyone, named, low},
        Role.EDITOR: {anyone, editors, low},
        Role.ADMIN: {anyone, editors, low},
    }
    for role, expected in mine.items():
        assert set(await inbox(gql, tenant.token(role), status="OPEN", mine=True)) == expected, role
    everything_open = {anyone, editors, named, low}
    assert set(await inbox(gql, tenant.token(Role.OPERATOR), mine=False, status="OPEN")) == everything_open
    assert theirs not in await inbox(gql, tenant.token(Role.ADMIN))
    assert await inbox(gql, other_tenant.token(Role.ADMIN)) == [theirs]

    first = (await gql.data(INBOX, {"first": 2}, viewer))["humanTasks"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await gql.data(INBOX, {"first": 10, "after": first["pageInfo"]["endCursor"]}, viewer))["humanTasks"]
    paged = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert paged == [decided, low, named, editors, anyone], "newest first, no row twice"


async def test_decide_answers_with_the_task_or_with_errors_that_say_what_to_fix(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture
) -> None:
    form = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
    run_id, task_id = await open_task(state, tenant, form_schema=form, required_approvals=2)
    approver, operator = tenant.token(Role.APPROVER), tenant.token(Role.OPERATOR)

    bad = await decide(gql, approver, task_id, "APPROVE", data={"reason": 5})
    assert bad["task"] is None
    assert [(e["path"], e["code"]) for e in bad["errors"]] == [(["data", "reason"], "INVALID_DATA")]
    missing = await decide(gql, approver, task_id, "APPROVE")
    assert [(e["path"], e["code"]) for e in missing["errors"]] == [(["data"], "INVALID_DATA")]
    assert "reason" in missing["errors"][0]["message"]

    first = await decide(gql, approver, task_id, "APPROVE", comment="ok", data={"reason": "budget"})
    assert first["errors"] == []
    task = first["task"]
    assert (task["status"], task["approvals"], task["requiredApprovals"], task["decidedBy"]) == ("OPEN", 1, 2, None)
    assert task["decisions"] == [
        {
            "decision": "APPROVE",
            "comment": "ok",
            "data": {"reason": "budget"},
            "user": {"email": tenant.emails[Role.APPROVER]},
        }
    ]
    assert (task["title"], task["stepId"], task["assigneeRole"], task["assignees"]) == (
        "Approve 7",
        "ask",
        "APPROVER",
        [],
    )
    assert task["formSchema"] == form
    assert task["run"] == {"id": str(run_id), "humanTasks": [{"id": task_id}]}

    twice = await decide(gql, approver, task_id, "REJECT")
    assert [(e["path"], e["code"]) for e in twice["errors"]] == [(["id"], "ALREADY_DECIDED")]

    body = await gql.raw(DECIDE, {"id": task_id, "decision": "APPROVE"}, tenant.token(Role.VIEWER))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "task:decide" in body["errors"][0]["message"]

    second = await decide(gql, operator, task_id, "APPROVE", comment="agreed", data={"reason": "fine"})
    assert second["errors"] == []
    assert second["task"]["status"] == "APPROVED"
    assert second["task"]["decidedBy"] == {"email": tenant.emails[Role.OPERATOR]}
    assert (second["task"]["comment"], second["task"]["data"]) == ("agreed", {"reason": "fine"})
    late = await decide(gql, tenant.token(Role.ADMIN), task_id, "REJECT")
    assert [e["code"] for e in late["errors"]] == ["ALREADY_DECIDED"]
    done = await wait_for(state, tenant.id, run_id)
    assert (done.status("yes"), done.status("no")) == ("SUCCEEDED", "SKIPPED")


async def test_wrong_role_and_expiry_are_user_errors(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture
) -> None:
    _, task_id = await open_task(state, tenant, assignee_role="ADMIN", timeout_s=2.5, on_timeout="rejected")
    wrong = await decide(gql, tenant.token(Role.EDITOR), task_id, "APPROVE")
    assert [(e["path"], e["code"]) for e in wrong["errors"]] == [(["id"], "FORBIDDEN")]
    assert "ADMIN" in wrong["errors"][0]["message"]
    for _ in range(400):
        status = await gql.data("query($id: ID!) { humanTask(id: $id) { status } }", {"id": task_id}, tenant.token())
        if status["humanTask"]["status"] == "EXPIRED":
            break
        await asyncio.sleep(0.02)
    late = await decide(gql, tenant.token(Role.ADMIN), task_id, "APPROVE")
    assert [(e["path"], e["code"]) for e in late["errors"]] == [(["id"], "EXPIRED")]
    assert "expired" in late["errors"][0]["message"]


async def test_another_tenants_task_reads_as_missing(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    run_id, theirs = await open_task(state, other_tenant)
    answers = set()
    for id in (theirs, str(uuid.uuid4()), "nope"):
        result = await decide(gql, tenant.token(Role.ADMIN), id, "APPROVE")
        assert result["task"] is None
        assert [e["code"] for e in result["errors"]] == ["NOT_FOUND"]
        answers.add(json.dumps(result).replace(id, "<id>"))
        found = await gql.data("query($id: ID!) { humanTask(id: $id) { id } }", {"id": id}, tenant.token())
        assert found == {"humanTask": None}
    assert len(answers) == 1, answers
    own = await gql.data("query($id: ID!) { humanTask(id: $id) { status } }", {"id": theirs}, other_tenant.token())
    assert own == {"humanTask": {"status": "OPEN"}}, "untouched by the other tenant"
    await state.control.cancel_run(other_tenant.id, admin(other_tenant), run_id)


def admin(tenant: TenantFixture) -> Principal:
    return Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])


async def test_task_updates_stream_the_tenants_tasks_only(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture, live_url: str
) -> None:
    seen: list[tuple[str, str]] = []
    async with WsClient(live_url, tenant.token(Role.VIEWER)) as ws:
        sub = await ws.subscribe(UPDATES)

        async def until(task_id: str, status: str) -> None:
            while (task_id, status) not in seen:
                message = await ws.receive(sub, timeout=20)
                assert message["type"] == "next" and not message["payload"].get("errors"), message
                update = message["payload"]["data"]["humanTaskUpdates"]
                seen.append((update["id"], update["status"]))

        await asyncio.sleep(0.2)  # subscribed before anything happens
        their_run, theirs = await open_task(state, other_tenant)
        assert (await decide(gql, other_tenant.token(Role.APPROVER), theirs, "APPROVE"))["errors"] == []
        approved_run, approved = await open_task(state, tenant)
        await until(approved, "OPEN")
        assert (await decide(gql, tenant.token(Role.APPROVER), approved, "APPROVE"))["errors"] == []
        await until(approved, "APPROVED")
        cancelled_run, cancelled = await open_task(state, tenant)
        await until(cancelled, "OPEN")
        await state.control.cancel_run(tenant.id, admin(tenant), cancelled_run)
        await until(cancelled, "CANCELLED")
    assert theirs not in {id for id, _ in seen}, "another tenant's task leaked"
    assert {id for id, _ in seen} == {approved, cancelled}
    await wait_for(state, other_tenant.id, their_run)
    await wait_for(state, tenant.id, approved_run)


async def test_task_updates_converge_after_the_bus_lost_messages(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture, live_url: str
) -> None:
    """After an outage of the bus (Redis restarted), a follower gets every task of its tenant that changed
    meanwhile, read back from the database, and nothing of another tenant's."""
    _, task_id = await open_task(state, tenant)
    _, foreign_id = await open_task(state, other_tenant)
    async with WsClient(live_url, tenant.token()) as ws:
        sub = await ws.subscribe(UPDATES)
        await until_subscribed(state, channels.tenant_tasks(tenant.id))
        lost_at = datetime.now(UTC)
        # Changes the bus never carried: written behind its back, as if published while it was away.
        async with state.sessions.begin() as s:
            for tenant_id, id in ((tenant.id, task_id), (other_tenant.id, foreign_id)):
                await s.execute(
                    sa.update(models.HumanTask)
                    .where(models.HumanTask.tenant_id == tenant_id, models.HumanTask.id == uuid.UUID(id))
                    .values(title="changed while the bus was away")
                )
        told = bus_reconnected(state, channels.tenant_tasks(tenant.id), lost_at)
        assert told == 1
        message = await ws.receive(sub, timeout=10)
        update = message["payload"]["data"]["humanTaskUpdates"]
        assert (update["id"], update["title"]) == (task_id, "changed while the bus was away")
        with pytest.raises(TimeoutError):  # nothing else: not the other tenant's task
            await ws.receive(sub, timeout=0.5)


# -- self-approval off: the person a run tree started for may not approve it, however it started -----------------

START = "mutation($w: ID!, $i: JSON) { startRun(workflowId: $w, input: $i) { run { id } errors { code } } }"
CREATE_HOOK = """mutation($w: ID!) { createWebhook(workflowId: $w, input: {auth: NONE}) {
  webhook { id url } errors { code } } }"""
CREATE_KEY = 'mutation { createApiKey(name: "mine", role: OPERATOR) { key errors { code } } }'


@pytest.fixture
def no_self_approval(state: AppState, monkeypatch: pytest.MonkeyPatch) -> None:
    """STUDIO_ALLOW_SELF_APPROVAL=false for this test (the API's control decides)."""
    monkeypatch.setattr(state.control, "allow_self_approval", False)


async def person(state: AppState, tenant: TenantFixture, role: Role) -> tuple[uuid.UUID, str]:
    """A fresh user with ``role`` and their access token."""
    from studio_shared.auth import encode_access_token
    from studio_shared.store import tenants

    async with state.sessions.begin() as s:
        row = await tenants.create_user(s, tenant.id, f"p-{uuid.uuid4().hex[:8]}@{tenant.slug}.example", None, role)
    return row.id, encode_access_token(state.settings, subject=row.id, tenant_id=tenant.id, role=role)


async def task_of_tree(state: AppState, tenant: TenantFixture, root: uuid.UUID) -> str:
    """The open task of ``root`` or of any run below it, once one opens."""
    for _ in range(1500):
        async with state.sessions() as s:
            runs = [root]
            while True:
                children = list(
                    await s.scalars(
                        sa.select(models.Run.id).where(
                            models.Run.tenant_id == tenant.id,
                            models.Run.parent_run_id.in_(runs),
                            models.Run.id.not_in(runs),
                        )
                    )
                )
                if not children:
                    break
                runs += children
            found = [t for tasks in (await human_tasks.of_runs(s, tenant.id, runs)).values() for t in tasks]
        if found:
            return str(found[0].id)
        await asyncio.sleep(0.02)
    finished = await wait_for(state, tenant.id, root)
    raise AssertionError(f"no task opened under run {root}: {finished.run.status} {finished.run.error}")


async def wrapper_workflow(state: AppState, tenant: TenantFixture, trigger: str = "trigger.manual") -> uuid.UUID:
    """A workflow whose subworkflow step runs a child workflow that holds the approval."""
    child = await publish(state, tenant, approval_flow(), name="approval-child")
    inner = {"id": "inner", "type": "subworkflow", "config": {"workflow": str(child), "input": {"amount": 1}}}
    wrapper = chain(inner)
    wrapper["nodes"][0]["type"] = trigger
    return await publish(state, tenant, wrapper, name="wrapper")


@pytest.mark.usefixtures("no_self_approval")
async def test_the_starter_of_a_wrapper_run_may_not_approve_its_childs_task(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """The attack: the approval sits in a child run (created by ``run:<parent>``), so comparing the child's own
    starter with the approver let the user who started the wrapper approve it."""
    _, starter = await person(state, tenant, Role.OPERATOR)
    workflow_id = await wrapper_workflow(state, tenant)
    started = (await gql.data(START, {"w": str(workflow_id), "i": {"amount": 5}}, starter))["startRun"]
    assert started["errors"] == []
    task_id = await task_of_tree(state, tenant, uuid.UUID(started["run"]["id"]))

    refused = await decide(gql, starter, task_id, "APPROVE")
    assert [e["code"] for e in refused["errors"]] == ["SELF_APPROVAL"], refused
    approved = await decide(gql, tenant.token(Role.APPROVER), task_id, "APPROVE")
    assert approved["errors"] == [] and approved["task"]["status"] == "APPROVED"
    finished = await wait_for(state, tenant.id, uuid.UUID(started["run"]["id"]))
    assert finished.run.status is RunStatus.SUCCEEDED


@pytest.mark.usefixtures("no_self_approval")
async def test_a_run_started_through_your_own_unsigned_webhook_is_yours(
    gql: GraphQLClient, http: Any, state: AppState, tenant: TenantFixture
) -> None:
    """The attack: an EDITOR (who may approve) starts a run through an unsigned webhook she made, then approves it.
    The maker of a webhook is the starter of its runs, down to their child runs."""
    _, editor = await person(state, tenant, Role.EDITOR)
    workflow_id = await wrapper_workflow(state, tenant, trigger="trigger.webhook")
    hook = (await gql.data(CREATE_HOOK, {"w": str(workflow_id)}, editor))["createWebhook"]
    assert hook["errors"] == []
    response = await http.post(f"/hooks/{hook['webhook']['id']}", json={"amount": 9})
    assert response.status_code == 202, response.text
    task_id = await task_of_tree(state, tenant, uuid.UUID(response.json()["run_id"]))

    refused = await decide(gql, editor, task_id, "APPROVE")
    assert [e["code"] for e in refused["errors"]] == ["SELF_APPROVAL"], refused
    assert (await decide(gql, tenant.token(Role.APPROVER), task_id, "APPROVE"))["errors"] == []


@pytest.mark.usefixtures("no_self_approval")
async def test_a_run_started_with_your_api_key_is_yours(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    _, admin = await person(state, tenant, Role.ADMIN)
    key = (await gql.data(CREATE_KEY, token=admin))["createApiKey"]["key"]
    workflow_id = await publish(state, tenant, approval_flow(), name="approval")
    started = (await gql.data(START, {"w": str(workflow_id), "i": {"amount": 3}}, key))["startRun"]
    task_id = await task_of_tree(state, tenant, uuid.UUID(started["run"]["id"]))
    refused = await decide(gql, admin, task_id, "APPROVE")
    assert [e["code"] for e in refused["errors"]] == ["SELF_APPROVAL"], refused
    assert (await decide(gql, tenant.token(Role.APPROVER), task_id, "APPROVE"))["errors"] == []


async def test_with_self_approval_allowed_the_starter_of_a_wrapper_may_approve(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    assert state.control.allow_self_approval, "the test settings keep the default"
    _, starter = await person(state, tenant, Role.OPERATOR)
    workflow_id = await wrapper_workflow(state, tenant)
    started = (await gql.data(START, {"w": str(workflow_id), "i": {"amount": 5}}, starter))["startRun"]
    task_id = await task_of_tree(state, tenant, uuid.UUID(started["run"]["id"]))
    assert (await decide(gql, starter, task_id, "APPROVE"))["errors"] == []
