"""The Runs page's API: `runs(filter:)` by trigger kind, starter and top level, keyset paging with filters, what a
run's header shows (who started it, through what, the delivery or tick), children by status with a summary, and
the inbox's count of open tasks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.test_approvals import decide, open_task
from tests.gql.test_webhooks import make_hook
from tests.gql.test_workflows import statements
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_nodes_io import node

pytestmark = pytest.mark.usefixtures("workers")

RUNS = """query($f: RunFilter, $first: Int, $after: String) {
  runs(first: $first, after: $after, filter: $f) {
    edges { node { id trigger status } }
    pageInfo { hasNextPage endCursor }
  }
}"""
BASE = datetime(2026, 11, 1, tzinfo=UTC)


class Runs:
    """Run rows written straight to the database, so each test chooses times, triggers, starters and parents."""

    def __init__(self, state: AppState, tenant: TenantFixture, workflow_id: uuid.UUID) -> None:
        self.state, self.tenant, self.workflow_id = state, tenant, workflow_id

    @classmethod
    async def of(cls, state: AppState, tenant: TenantFixture) -> Runs:
        return cls(state, tenant, await publish(state, tenant, chain(node("a", "transform", value=1)), name="listed"))

    async def add(
        self,
        minute: int,
        *,
        trigger: str = "manual",
        status: RunStatus = RunStatus.SUCCEEDED,
        started_by: uuid.UUID | None = None,
        parent: uuid.UUID | None = None,
        step: str | None = None,
        run_id: uuid.UUID | None = None,
        input: Any = None,
        trigger_data: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        async with self.state.sessions.begin() as s:
            version = await s.scalar(
                sa.select(models.WorkflowVersion).where(models.WorkflowVersion.workflow_id == self.workflow_id)
            )
            assert version is not None
            at = BASE + timedelta(minutes=minute)
            row = models.Run(
                id=run_id or uuid.uuid4(),
                tenant_id=self.tenant.id,
                workflow_id=self.workflow_id,
                workflow_version_id=version.id,
                version=version.version,
                status=status,
                trigger=trigger,
                started_by_user=started_by,
                parent_run_id=parent,
                parent_step_id=step,
                depth=1 if parent else 0,
                created_by=f"run:{parent}" if parent else "user:x",
                created_at=at,
                updated_at=at,
                input=input,
                trigger_data=trigger_data,
            )
            s.add(row)
        return row.id


async def listed(gql: GraphQLClient, token: str, where: dict[str, Any] | None, first: int = 100) -> list[str]:
    data = await gql.data(RUNS, {"f": where, "first": first}, token)
    return [edge["node"]["id"] for edge in data["runs"]["edges"]]


async def all_pages(gql: GraphQLClient, token: str, where: dict[str, Any] | None, size: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = (await gql.data(RUNS, {"f": where, "first": size, "after": after}, token))["runs"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def test_runs_filter_by_trigger_starter_and_top_level(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    runs = await Runs.of(state, tenant)
    editor, operator = tenant.users[Role.EDITOR], tenant.users[Role.OPERATOR]
    manual = await runs.add(1, started_by=editor)
    hooked = await runs.add(2, trigger="webhook", started_by=operator)
    ticked = await runs.add(3, trigger="schedule", status=RunStatus.FAILED, started_by=editor)
    child = await runs.add(4, trigger="parent", started_by=editor, parent=manual, step="a")
    token = tenant.token(Role.VIEWER)

    assert await listed(gql, token, None) == [str(r) for r in (child, ticked, hooked, manual)], "newest first"
    assert await listed(gql, token, {"trigger": ["webhook"]}) == [str(hooked)]
    assert await listed(gql, token, {"trigger": ["webhook", "schedule"]}) == [str(ticked), str(hooked)]
    assert await listed(gql, token, {"trigger": ["parent"]}) == [str(child)]
    assert await listed(gql, token, {"trigger": ["nothing-has-this"]}) == []
    assert await listed(gql, token, {"startedBy": str(editor)}) == [str(child), str(ticked), str(manual)]
    assert await listed(gql, token, {"startedBy": str(operator), "trigger": ["manual"]}) == []
    assert await listed(gql, token, {"topLevel": True}) == [str(ticked), str(hooked), str(manual)]
    assert await listed(gql, token, {"topLevel": False}) == [str(child)]
    combined = {"topLevel": True, "startedBy": str(editor), "status": ["FAILED"], "workflowId": str(runs.workflow_id)}
    assert await listed(gql, token, combined) == [str(ticked)]
    window = {
        "createdAfter": (BASE + timedelta(minutes=2)).isoformat(),
        "createdBefore": (BASE + timedelta(minutes=4)).isoformat(),
    }
    assert await listed(gql, token, window) == [str(ticked), str(hooked)]

    # An id that names nothing reads as a missing one: an empty list, never an error; another tenant's user too.
    assert await listed(gql, token, {"startedBy": "not-an-id"}) == []
    assert await listed(gql, token, {"startedBy": str(other_tenant.users[Role.EDITOR])}) == []
    assert await listed(gql, other_tenant.token(Role.ADMIN), {"startedBy": str(editor)}) == []


async def test_a_bad_filter_says_what_to_fix(gql: GraphQLClient, tenant: TenantFixture) -> None:
    token = tenant.token(Role.VIEWER)
    for where, message in (
        ({"trigger": [f"kind{i}" for i in range(11)]}, "list at most 10 values in filter.trigger"),
        ({"trigger": [""]}, "a trigger kind is 1 to 32 characters"),
        ({"trigger": ["x" * 33]}, "a trigger kind is 1 to 32 characters"),
    ):
        body = await gql.raw(RUNS, {"f": where, "first": 5}, token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["problems"][0]["path"] == ["filter", "trigger"]
        assert message in error["message"], error["message"]


async def test_filtered_keyset_pages_cover_every_run_once_in_order(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """Runs created in the same instant page by id: no run is skipped or repeated at a page boundary."""
    runs = await Runs.of(state, tenant)
    webhook_runs = []
    for i in range(13):
        await runs.add(i // 3, trigger="manual")
        webhook_runs.append((i // 4, await runs.add(i // 4, trigger="webhook")))
    wanted = [str(r) for _, r in sorted(webhook_runs, key=lambda mr: (mr[0], mr[1]), reverse=True)]
    token = tenant.token(Role.VIEWER)
    for size in (1, 4, 5, 100):
        assert await all_pages(gql, token, {"trigger": ["webhook"], "topLevel": True}, size) == wanted, size


async def test_who_and_what_started_a_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    query = """query($id: ID!) { run(id: $id) {
      trigger startedVia idempotencyKey startedBy { id email }
      triggerDetails { deliveryId receivedAt scheduleId scheduledFor channel messageId replayOf }
    } }"""
    workflow_id = await publish(state, tenant, chain(node("a", "transform", value=1)))
    started = await gql.data(
        'mutation($w: ID!) { startRun(workflowId: $w, idempotencyKey: "k-1") { run { id } } }',
        {"w": str(workflow_id)},
        tenant.token(Role.OPERATOR),
    )
    run_id = started["startRun"]["run"]["id"]
    shown = (await gql.data(query, {"id": run_id}, tenant.token(Role.VIEWER)))["run"]
    assert shown["trigger"] == "manual"
    assert shown["startedVia"] == "user"
    assert shown["idempotencyKey"] == "k-1"
    assert shown["startedBy"] == {"id": str(tenant.users[Role.OPERATOR]), "email": tenant.emails[Role.OPERATOR]}
    assert set(shown["triggerDetails"].values()) == {None}

    replayed = await gql.data(
        "mutation($id: ID!) { replayRun(id: $id) { run { id } errors { message } } }",
        {"id": run_id},
        tenant.token(Role.EDITOR),
    )
    again = (await gql.data(query, {"id": replayed["replayRun"]["run"]["id"]}, tenant.token(Role.VIEWER)))["run"]
    assert again["triggerDetails"]["replayOf"] == run_id
    assert again["startedBy"]["email"] == tenant.emails[Role.EDITOR]

    hook = await make_hook(gql, state, tenant, http, auth="NONE")
    answer = await hook.post(b'{"x": 1}', {"Idempotency-Key": "delivery-7"})
    assert answer.status_code == 202, answer.text
    delivered = (await gql.data(query, {"id": answer.json()["run_id"]}, tenant.token(Role.VIEWER)))["run"]
    assert delivered["trigger"] == "webhook"
    assert delivered["startedVia"] == "webhook"
    assert delivered["triggerDetails"]["deliveryId"] == "delivery-7"
    assert delivered["triggerDetails"]["receivedAt"] is not None
    assert delivered["startedBy"]["email"] == tenant.emails[Role.EDITOR], "the webhook's maker"


async def test_a_run_reader_cannot_learn_a_webhooks_id_from_its_runs(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    """The attack: a webhook's id is its URL, which is all it takes to start runs through an unsigned webhook,
    and only trigger managers may read it. A VIEWER listing runs read it in `idempotencyKey`
    (`webhook:<id>:<key>`); every field of a webhook's run is read here and none may hold it."""
    hook = await make_hook(gql, state, tenant, http, auth="NONE")
    answer = await hook.post(b'{"x": 1}', {"Idempotency-Key": "delivery-8"})
    assert answer.status_code == 202, answer.text
    await wait_for(state, tenant.id, uuid.UUID(answer.json()["run_id"]))
    everything = """query { runs(first: 3) { edges { node {
      id version status trigger input output error idempotencyKey startedVia createdAt startedAt finishedAt
      triggerDetails { deliveryId receivedAt scheduleId scheduledFor channel messageId replayOf }
      startedBy { id email } events(first: 100) { kind stepId status data } steps { stepId input output envelope }
    } } } }"""
    for role in (Role.VIEWER, Role.OPERATOR):
        seen = json.dumps(await gql.data(everything, token=tenant.token(role)))
        assert "delivery-8" in seen, "control: the webhook's run is in the answer"
        assert hook.id not in seen, role


async def test_children_by_status_and_their_summary(gql: GraphQLClient, state: AppState, tenant: TenantFixture) -> None:
    runs = await Runs.of(state, tenant)
    parent = await runs.add(0, status=RunStatus.RUNNING)
    statuses = [RunStatus.SUCCEEDED] * 5 + [RunStatus.FAILED] * 2 + [RunStatus.CANCELLED, RunStatus.WAITING]
    children = [
        await runs.add(i + 1, trigger="parent", status=status, parent=parent, step="each")
        for i, status in enumerate(statuses)
    ]
    other_step = await runs.add(20, trigger="parent", status=RunStatus.FAILED, parent=parent, step="other")
    query = """query($id: ID!, $status: [RunStatus!]) { run(id: $id) {
      childSummary(stepId: "each") { total queued running succeeded failed cancelled }
      all: childSummary { total failed }
      failed: children(stepId: "each", status: $status, first: 10) { edges { node { id status } } }
    } }"""
    found = (await gql.data(query, {"id": str(parent), "status": ["FAILED", "CANCELLED"]}, tenant.token(Role.VIEWER)))[
        "run"
    ]
    assert found["childSummary"] == {
        "total": 9, "queued": 0, "running": 1, "succeeded": 5, "failed": 2, "cancelled": 1,
    }  # fmt: skip
    assert found["all"] == {"total": 10, "failed": 3}
    failed = [edge["node"]["id"] for edge in found["failed"]["edges"]]
    assert failed == [str(children[7]), str(children[6]), str(children[5])], "failed and cancelled, newest first"
    assert str(other_step) not in failed


async def test_the_open_task_count_and_whether_a_task_is_yours(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    _, anyone = await open_task(state, tenant)
    _, editors = await open_task(state, tenant, assignee_role="EDITOR")
    _, decided = await open_task(state, tenant)
    assert (await decide(gql, tenant.token(Role.APPROVER), decided, "APPROVE"))["errors"] == []
    await open_task(state, other_tenant)
    query = """query($mine: Boolean) {
      open: humanTaskCount(status: OPEN, assignedToMe: $mine) all: humanTaskCount
      humanTasks(status: OPEN, first: 10) { nodes { id assignedToMe } }
    }"""
    expected = {Role.VIEWER: 0, Role.APPROVER: 1, Role.EDITOR: 2, Role.ADMIN: 2}
    for role, mine in expected.items():
        found = await gql.data(query, {"mine": True}, tenant.token(role))
        assert found["open"] == mine, role
        assert found["all"] == 3, role
        assert sum(task["assignedToMe"] for task in found["humanTasks"]["nodes"]) == mine, role
        assert {t["id"] for t in found["humanTasks"]["nodes"] if t["assignedToMe"]} <= {anyone, editors}
    assert (await gql.data(query, {"mine": False}, tenant.token(Role.VIEWER)))["open"] == 2


async def test_a_page_of_runs_reads_their_documents_only_when_asked(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """A run's input, output, error and trigger delivery may be megabytes each: a page of the Runs page (which shows
    none of them) does not read them; asking for them costs one more statement for the whole page."""
    runs = await Runs.of(state, tenant)
    big = {"blob": "x" * 300_000}
    made = [
        await runs.add(
            i, input={**big, "n": i}, trigger="webhook", trigger_data={"received_at": "2026-11-01T00:00:00+00:00"}
        )
        for i in range(3)
    ]
    token = tenant.token(Role.VIEWER)
    light = "{ runs(first: 10) { nodes { id status trigger startedVia workflow { name } startedBy { email } } } }"
    with statements(state) as seen:
        listed = await gql.data(light, token=token)
    assert [node["id"] for node in listed["runs"]["nodes"]] == [str(r) for r in reversed(made)]
    assert not [st for st in seen if "trigger_data" in st or ".input" in st], seen

    heavy = "{ runs(first: 10) { nodes { id input triggerDetails { receivedAt } } } }"
    with statements(state) as seen:
        listed = await gql.data(heavy, token=token)
    nodes = listed["runs"]["nodes"]
    assert [node["input"]["n"] for node in nodes] == [2, 1, 0]
    assert all(len(node["input"]["blob"]) == 300_000 for node in nodes)
    assert {node["triggerDetails"]["receivedAt"] for node in nodes} == {"2026-11-01T00:00:00+00:00"}
    assert len([st for st in seen if ".input" in st]) == 1, "one statement for the page's documents"
    # One run read alone still answers from its own row.
    one = await gql.data("query($id: ID!) { run(id: $id) { input } }", {"id": str(made[0])}, token)
    assert one["run"]["input"]["n"] == 0
