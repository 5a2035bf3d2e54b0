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
