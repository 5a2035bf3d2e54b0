"""Tenancy: another tenant's id behaves exactly like an id that does not exist, and nothing leaks into lists.

Tenant A owns a workflow (with a published version), users and an API key; tenant B's ADMIN (who
holds every permission) tries every ID-taking operation on A's ids. ``TENANCY_CASES`` must hold a row
for every operation that takes an ID, so a new one cannot ship without its cross-tenant test.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import strawberry
from graphql import GraphQLInputObjectType, GraphQLInputType, GraphQLNamedType, get_named_type

from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import conversations
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.test_subscriptions import CROSS_TENANT_SUBSCRIPTIONS

MINIMAL_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "start", "type": "trigger.manual", "config": {}}],
    "edges": [],
}
HIJACKED_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "evil", "type": "trigger.manual", "config": {}}],
    "edges": [],
}
MALFORMED_ID = "nope"

Target = Literal[
    "workflow",
    "user",
    "api_key",
    "active_run",
    "finished_run",
    "credential",
    "webhook",
    "human_task",
    "schedule",
    "conversation",
]
WAITING_DEFINITION: dict[str, Any] = {  # a long delay, and beside it a wait for the event signalRun names
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "wait", "type": "delay", "config": {"seconds": 3600}},
        {"id": "approval", "type": "wait.event", "config": {"timeout_s": 3600}},
    ],
    "edges": [{"source": "start", "target": "wait"}, {"source": "start", "target": "approval"}],
}

APPROVAL_DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "ask", "type": "human.approval", "config": {"title": "Approve the payroll"}},
    ],
    "edges": [{"source": "start", "target": "ask"}],
}


@dataclass(frozen=True)
class IdCase:
    """One ID-taking operation: its document (the id is always ``$id``), what kind of id it takes."""

    root: Literal["Query", "Mutation", "Subscription"]
    document: str
    target: Target
    extra: dict[str, Any] = field(default_factory=dict)

    def variables(self, id: str) -> dict[str, Any]:
        return {"id": id, **self.extra}


TENANCY_CASES: dict[str, IdCase] = {
    "workflow": IdCase(
        "Query",
        "query($id: ID!) { workflow(id: $id) { id name draft latestVersion { version } } }",
        "workflow",
    ),
    "updateWorkflow": IdCase(
        "Mutation",
        """mutation($id: ID!, $d: JSON!) {
             updateWorkflow(id: $id, input: {name: "hijacked", description: "x", definition: $d}) {
               workflow { id name } errors { path message code } } }""",
        "workflow",
        {"d": HIJACKED_DEFINITION},
    ),
    "publishWorkflow": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             publishWorkflow(id: $id, note: "hijacked") { version { id version } errors { path message code } } }""",
        "workflow",
    ),
    "archiveWorkflow": IdCase(
        "Mutation",
        "mutation($id: ID!) { archiveWorkflow(id: $id) { workflow { id archived } errors { path message code } } }",
        "workflow",
    ),
    # The workflow and the error workflow it names: both must be the caller's (a workflow may name itself).
    "setErrorWorkflow": IdCase(
        "Mutation",
        """mutation($id: ID!) { setErrorWorkflow(workflowId: $id, errorWorkflowId: $id) {
             workflow { id errorWorkflow { id } } errors { path message code } } }""",
        "workflow",
    ),
    "setDefaultErrorWorkflow": IdCase(
        "Mutation",
        """mutation($id: ID!) { setDefaultErrorWorkflow(errorWorkflowId: $id) {
             tenant { id defaultErrorWorkflow { id } } errors { path message code } } }""",
        "workflow",
    ),
    "setUserRole": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             setUserRole(userId: $id, role: ADMIN) { user { id role } errors { path message code } } }""",
        "user",
    ),
    "setUserActive": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             setUserActive(userId: $id, active: false) { user { id active } errors { path message code } } }""",
        "user",
    ),
    "resetUserPassword": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             resetUserPassword(userId: $id) { user { id } temporaryPassword expiresAt errors { path message code } } }""",
        "user",
    ),
    "startRun": IdCase(
        "Mutation",
        "mutation($id: ID!) { startRun(workflowId: $id) { run { id status } errors { path message code } } }",
        "workflow",
    ),
    "run": IdCase("Query", "query($id: ID!) { run(id: $id) { id status steps { stepId } } }", "finished_run"),
    "cancelRun": IdCase(
        "Mutation",
        "mutation($id: ID!) { cancelRun(id: $id) { run { id status } errors { path message code } } }",
        "active_run",
    ),
    "signalRun": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             signalRun(runId: $id, name: "approval") { run { id status } errors { path message code } } }""",
        "active_run",
    ),
    "retryRun": IdCase(
        "Mutation",
        """mutation($id: ID!) {
             retryRun(id: $id, fromStep: "start") { run { id status } errors { path message code } } }""",
        "finished_run",
    ),
    "createWebhook": IdCase(
        "Mutation",
        "mutation($id: ID!) { createWebhook(workflowId: $id) { webhook { id } secret errors { path message code } } }",
        "workflow",
    ),
    "rotateWebhookSecret": IdCase(
        "Mutation",
        "mutation($id: ID!) { rotateWebhookSecret(id: $id) { webhook { id } secret errors { path message code } } }",
        "webhook",
    ),
    "updateWebhook": IdCase(
        "Mutation",
        """mutation($id: ID!) { updateWebhook(id: $id, input: {enabled: false}) {
             webhook { id enabled } errors { path message code } } }""",
        "webhook",
    ),
    "deleteWebhook": IdCase(
        "Mutation",
        "mutation($id: ID!) { deleteWebhook(id: $id) { deletedId errors { path message code } } }",
        "webhook",
    ),
    "replayRun": IdCase(
        "Mutation",
        "mutation($id: ID!) { replayRun(id: $id) { run { id status } errors { path message code } } }",
        "finished_run",
    ),
    "testRun": IdCase(
        "Mutation",
        "mutation($id: ID!) { testRun(workflowId: $id) { run { id status } errors { path message code } } }",
        "workflow",
    ),
    "testStep": IdCase(
        "Mutation",
        """mutation($id: ID!) { testStep(workflowId: $id, nodeId: "start") {
             run { id status } errors { path message code } } }""",
        "workflow",
    ),
    "testReplay": IdCase(
        "Mutation",
        "mutation($id: ID!) { testReplay(runId: $id) { run { id status } errors { path message code } } }",
        "finished_run",
    ),
    "pinNodeOutput": IdCase(
        "Mutation",
        """mutation($id: ID!) { pinNodeOutput(workflowId: $id, nodeId: "start", output: {hijacked: true}) {
             pin { nodeId } workflow { id } errors { path message code } } }""",
        "workflow",
    ),
    "unpinNodeOutput": IdCase(
        "Mutation",
        """mutation($id: ID!) { unpinNodeOutput(workflowId: $id, nodeId: "start") {
             pin { nodeId } workflow { id } errors { path message code } } }""",
        "workflow",
    ),
    "humanTask": IdCase("Query", "query($id: ID!) { humanTask(id: $id) { id status title } }", "human_task"),
    "decideHumanTask": IdCase(
        "Mutation",
        """mutation($id: ID!) { decideHumanTask(id: $id, decision: APPROVE, comment: "hijacked") {
             task { id status } errors { path message code } } }""",
        "human_task",
    ),
    "createSchedule": IdCase(
        "Mutation",
        """mutation($id: ID!) { createSchedule(workflowId: $id, input: {cron: "0 0 1 1 *"}) {
             schedule { id } errors { path message code } } }""",
        "workflow",
    ),
    "updateSchedule": IdCase(
        "Mutation",
        """mutation($id: ID!) { updateSchedule(id: $id, input: {cron: "0 0 1 1 *", enabled: false, input: {x: 1}}) {
             schedule { id cron } errors { path message code } } }""",
        "schedule",
    ),
    "pauseSchedule": IdCase(
        "Mutation",
        "mutation($id: ID!) { pauseSchedule(id: $id) { schedule { id enabled } errors { path message code } } }",
        "schedule",
    ),
    "resumeSchedule": IdCase(
        "Mutation",
        "mutation($id: ID!) { resumeSchedule(id: $id) { schedule { id enabled } errors { path message code } } }",
        "schedule",
    ),
    "deleteSchedule": IdCase(
        "Mutation",
        "mutation($id: ID!) { deleteSchedule(id: $id) { deletedId errors { path message code } } }",
        "schedule",
    ),
    "schedule": IdCase("Query", "query($id: ID!) { schedule(id: $id) { id cron input } }", "schedule"),
    "deleteRun": IdCase(
        "Mutation",
        "mutation($id: ID!) { deleteRun(id: $id) { deletedId errors { path message code } } }",
        "finished_run",
    ),
    "deleteCredential": IdCase(
        "Mutation",
        "mutation($id: ID!) { deleteCredential(id: $id) { deletedId errors { path message code } } }",
        "credential",
    ),
    "revokeApiKey": IdCase(
        "Mutation",
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revoked } errors { path message code } } }",
        "api_key",
    ),
    "deleteConversation": IdCase(
        "Mutation",
        "mutation($id: ID!) { deleteConversation(id: $id) { deletedId errors { path message code } } }",
        "conversation",
    ),
}

CREATE_WORKFLOW = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { path message code } } }"""
PUBLISH = "mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { path message code } } }"
CREATE_KEY = """mutation($n: String!) {
  createApiKey(name: $n, role: VIEWER) { key apiKey { id } errors { path message code } } }"""
SNAPSHOT = """query($id: ID!) {
  workflow(id: $id) {
    id name description draft revision archived createdAt updatedAt
    latestVersion { id version definition note publishedAt }
    versions(first: 100) { edges { node { id version } } }
    pins { nodeId output source }
    webhooks { id auth enabled rateLimitPerMinute previousSecretExpiresAt }
    schedules { id cron timezone enabled nextFireAt overlap input fires(first: 10) { edges { node { id } } } }
  }
  users(first: 100) { edges { node { id email role active } } }
  apiKeys { id name role revoked createdAt }
  credentials { id name kind allowedHosts }
}"""


# ------------------------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class World:
    a: TenantFixture
    b: TenantFixture
    workflow_id: str  # A's, with version 1 published
    workflow_name: str
    user_id: str  # A's VIEWER
    api_key_id: str  # A's VIEWER key
    api_key: str
    active_run_id: str  # A's, waiting on a long delay
    finished_run_id: str  # A's, succeeded
    credential_id: str  # A's
    webhook_id: str  # A's, on the workflow above
    human_task_id: str  # A's, OPEN, of a run waiting for it
    schedule_id: str  # A's, yearly, on the workflow above
    conversation_id: str  # A's, an agent's remembered conversation

    def target(self, kind: Target) -> str:
        return {
            "workflow": self.workflow_id,
            "user": self.user_id,
            "api_key": self.api_key_id,
            "active_run": self.active_run_id,
            "finished_run": self.finished_run_id,
            "credential": self.credential_id,
            "webhook": self.webhook_id,
            "human_task": self.human_task_id,
            "schedule": self.schedule_id,
            "conversation": self.conversation_id,
        }[kind]


async def create_workflow(gql: GraphQLClient, tenant: TenantFixture, name: str) -> str:
    data = await gql.data(CREATE_WORKFLOW, {"n": name, "d": MINIMAL_DEFINITION}, tenant.token(Role.EDITOR))
    assert data["createWorkflow"]["errors"] == []
    workflow_id: str = data["createWorkflow"]["workflow"]["id"]
    return workflow_id


async def create_key(gql: GraphQLClient, tenant: TenantFixture) -> tuple[str, str]:
    data = await gql.data(CREATE_KEY, {"n": f"key-{secrets.token_hex(3)}"}, tenant.token(Role.ADMIN))
    assert data["createApiKey"]["errors"] == []
    return data["createApiKey"]["apiKey"]["id"], data["createApiKey"]["key"]


START = "mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { code } } }"


async def start_run(gql: GraphQLClient, tenant: TenantFixture, definition: dict[str, Any], finished: bool) -> str:
    """A run of a fresh published workflow; waits until it finished (or left QUEUED) when asked."""
    data = await gql.data(CREATE_WORKFLOW, {"n": f"runner {secrets.token_hex(3)}", "d": definition}, tenant.token())
    workflow_id = data["createWorkflow"]["workflow"]["id"]
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token()))["publishWorkflow"]["errors"] == []
    run_id: str = (await gql.data(START, {"id": workflow_id}, tenant.token()))["startRun"]["run"]["id"]
    wanted = {"SUCCEEDED"} if finished else {"WAITING"}
    for _ in range(1500):
        status = await gql.data("query($id: ID!) { run(id: $id) { status } }", {"id": run_id}, tenant.token())
        if status["run"]["status"] in wanted:
            return run_id
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {wanted}")


@pytest.fixture(scope="module")
async def world(make_tenant: Any, gql: GraphQLClient, workers: Any, state: AppState) -> World:
    a: TenantFixture = await make_tenant()
    b: TenantFixture = await make_tenant()
    name = f"Secret payroll flow {secrets.token_hex(4)}"
    workflow_id = await create_workflow(gql, a, name)
    published = await gql.data(PUBLISH, {"id": workflow_id}, a.token(Role.EDITOR))
    assert published["publishWorkflow"] == {"version": {"version": 1}, "errors": []}
    key_id, key = await create_key(gql, a)
    await create_workflow(gql, b, f"B's own flow {secrets.token_hex(4)}")  # B's lists are not empty
    active = await start_run(gql, a, WAITING_DEFINITION, finished=False)
    finished = await start_run(gql, a, MINIMAL_DEFINITION, finished=True)
    credential = await gql.data(
        """mutation { createCredential(input: {name: "a-secret", kind: "bearer", value: {token: "a-token-value"}}) {
             credential { id } errors { code } } }""",
        token=a.token(Role.ADMIN),
    )
    credential_id = credential["createCredential"]["credential"]["id"]
    hook = await gql.data(
        "mutation($w: ID!) { createWebhook(workflowId: $w) { webhook { id } } }", {"w": workflow_id}, a.token()
    )
    webhook_id = hook["createWebhook"]["webhook"]["id"]
    task_id = await open_human_task(gql, a)
    schedule_id = await create_schedule(gql, a, workflow_id)
    conversation_id = await create_conversation(state, a)
    return World(
        a,
        b,
        workflow_id,
        name,
        str(a.users[Role.VIEWER]),
        key_id,
        key,
        active,
        finished,
        credential_id,
        webhook_id,
        task_id,
        schedule_id,
        conversation_id,
    )


async def create_schedule(gql: GraphQLClient, tenant: TenantFixture, workflow_id: str) -> str:
    """A yearly schedule (it does not fire while the tests run)."""
    made = await gql.data(
        """mutation($w: ID!) { createSchedule(workflowId: $w, input: {cron: "0 0 1 1 *", input: {payroll: true}}) {
             schedule { id } errors { code } } }""",
        {"w": workflow_id},
        tenant.token(),
    )
    assert made["createSchedule"]["errors"] == []
    schedule_id: str = made["createSchedule"]["schedule"]["id"]
    return schedule_id


async def create_conversation(state: AppState, tenant: TenantFixture) -> str:
    """A conversation an agent would have stored (no GraphQL call makes one)."""
    key = f"thread-{secrets.token_hex(4)}"
    async with state.sessions.begin() as s:
        await conversations.save(s, tenant.id, key, "writer", [], [])
    async with state.sessions() as s:
        found = [c for c in await conversations.list_conversations(s, tenant.id, 100) if c.key == key]
    return str(found[0].id)


async def open_human_task(gql: GraphQLClient, tenant: TenantFixture) -> str:
    """An OPEN approval task of a fresh run that waits for it."""
    run_id = await start_run(gql, tenant, APPROVAL_DEFINITION, finished=False)
    data = await gql.data("query($id: ID!) { run(id: $id) { humanTasks { id } } }", {"id": run_id}, tenant.token())
    task_id: str = data["run"]["humanTasks"][0]["id"]
    return task_id


async def snapshot(gql: GraphQLClient, world: World) -> dict[str, Any]:
    """Everything B could have touched, read back as A."""
    data: dict[str, Any] = await gql.data(SNAPSHOT, {"id": world.workflow_id}, world.a.token(Role.ADMIN))
    assert data["workflow"] is not None
    return data


async def assert_a_key_works(gql: GraphQLClient, world: World) -> None:
    me = (await gql.data("{ me { role tenant { id } } }", token=world.api_key))["me"]
    assert me == {"role": "VIEWER", "tenant": {"id": str(world.a.id)}}


# ------------------------------------------------------------------------------------------------ the table


@pytest.fixture(scope="module")
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)


def _takes_id(type_: GraphQLInputType, seen: set[str]) -> bool:
    """True when an argument of this type carries an ID, directly or inside an input object."""
    named: GraphQLNamedType = get_named_type(type_)
    if named.name == "ID":
        return True
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        seen.add(named.name)
        return any(_takes_id(f.type, seen) for f in named.fields.values())
    return False


def id_taking_operations(schema: strawberry.Schema) -> dict[str, str]:
    """Root field name → root type name, for every root field with an argument that carries an ID."""
    core = schema._schema
    out: dict[str, str] = {}
    for root in (core.query_type, core.mutation_type, core.subscription_type):
        if root is None:
            continue
        for name, f in root.fields.items():
            if any(_takes_id(arg.type, set()) for arg in f.args.values()):
                out[name] = root.name
    return out


# ID-taking operations whose answer is a list, not an object: checked in the list tests below instead.
LIST_FILTERS = {"runs"}
# Subscriptions take ids too; their cross-tenant cases run over a real websocket in test_subscriptions.
SUBSCRIPTIONS = set(CROSS_TENANT_SUBSCRIPTIONS)


def test_every_id_taking_operation_has_a_cross_tenant_case(schema: strawberry.Schema) -> None:
    found = {k: v for k, v in id_taking_operations(schema).items() if k not in LIST_FILTERS | SUBSCRIPTIONS}
    assert set(found) - set(TENANCY_CASES) == set(), "ID-taking operations without a row in TENANCY_CASES"
    assert set(TENANCY_CASES) - set(found) == set(), "rows for operations that take no ID (or do not exist)"
    for name, root in found.items():
        assert TENANCY_CASES[name].root == root, name
    subscriptions = {k for k, v in id_taking_operations(schema).items() if v == "Subscription"}
    assert subscriptions == SUBSCRIPTIONS, "every ID-taking subscription has a websocket cross-tenant case"


def normalized(body: dict[str, Any], id: str) -> str:
    return json.dumps(body, sort_keys=True).replace(id, "<id>")


@pytest.mark.parametrize("name", sorted(TENANCY_CASES))
async def test_another_tenants_id_is_not_found(name: str, gql: GraphQLClient, world: World) -> None:
    case = TENANCY_CASES[name]
    before = await snapshot(gql, world)
    b_admin = world.b.token(Role.ADMIN)

    theirs = world.target(case.target)
    answers = {}
    for id in (theirs, str(uuid.uuid4()), MALFORMED_ID):
        body = await gql.raw(case.document, case.variables(id), b_admin)
        answers[id] = normalized(body, id)
        # The answer is the not-found answer: null for a query, a NOT_FOUND UserError for a mutation.
        assert not body.get("errors"), body  # never FORBIDDEN: that would confirm the id exists
        result = body["data"][name]
        if case.root == "Query":
            assert result is None, body
        else:
            assert [e["code"] for e in result["errors"]] == ["NOT_FOUND"], body
            assert all(v is None for k, v in result.items() if k != "errors"), body
    # Another tenant's id, a random one and a malformed one read the same, byte for byte (but the id).
    assert len(set(answers.values())) == 1, answers

    assert await snapshot(gql, world) == before, "tenant B changed tenant A's data"
    await assert_a_key_works(gql, world)


async def b_owned_target(gql: GraphQLClient, world: World, kind: Target, state: AppState) -> str:
    if kind == "conversation":
        return await create_conversation(state, world.b)
    if kind == "workflow":
        workflow_id = await create_workflow(gql, world.b, f"B control {secrets.token_hex(4)}")
        assert (await gql.data(PUBLISH, {"id": workflow_id}, world.b.token()))["publishWorkflow"]["errors"] == []
        return workflow_id
    if kind == "user":
        return str(world.b.users[Role.APPROVER])
    if kind == "active_run":
        return await start_run(gql, world.b, WAITING_DEFINITION, finished=False)
    if kind == "finished_run":
        return await start_run(gql, world.b, MINIMAL_DEFINITION, finished=True)
    if kind == "human_task":
        return await open_human_task(gql, world.b)
    if kind == "schedule":
        return await create_schedule(gql, world.b, await b_owned_target(gql, world, "workflow", state))
    if kind == "webhook":
        workflow_id = await b_owned_target(gql, world, "workflow", state)
        made_hook = await gql.data(
            "mutation($w: ID!) { createWebhook(workflowId: $w) { webhook { id } } }",
            {"w": workflow_id},
            world.b.token(),
        )
        hook_id: str = made_hook["createWebhook"]["webhook"]["id"]
        return hook_id
    if kind == "credential":
        made = await gql.data(
            """mutation($n: String!) { createCredential(input: {name: $n, kind: "bearer", value: {token: "b-token"}}) {
                 credential { id } } }""",
            {"n": f"b-{secrets.token_hex(3)}"},
            world.b.token(Role.ADMIN),
        )
        credential_id: str = made["createCredential"]["credential"]["id"]
        return credential_id
    key_id, _ = await create_key(gql, world.b)
    return key_id


@pytest.mark.parametrize("name", sorted(TENANCY_CASES))
async def test_the_same_call_works_on_the_callers_own_id(
    name: str, gql: GraphQLClient, world: World, state: AppState
) -> None:
    """Control: the documents above do find B's own objects, so their NOT_FOUND is about the tenant."""
    case = TENANCY_CASES[name]
    own = await b_owned_target(gql, world, case.target, state)
    body = await gql.raw(case.document, case.variables(own), world.b.token(Role.ADMIN))
    assert not body.get("errors"), body
    result = body["data"][name]
    assert result is not None
    assert result.get("errors", []) == [], body


# -------------------------------------------------------------------------------------------------- lists


async def test_lists_never_show_another_tenants_rows(gql: GraphQLClient, world: World) -> None:
    b_admin = world.b.token(Role.ADMIN)
    listed = await gql.data(
        """{ workflows(first: 100, includeArchived: true) { edges { node { id name } } }
             users(first: 100) { edges { node { id email } } }
             apiKeys { id }
             auditLog(first: 100) { edges { node { targetId } } } }""",
        token=b_admin,
    )
    workflow_ids = {e["node"]["id"] for e in listed["workflows"]["edges"]}
    assert workflow_ids, "B has a workflow of its own"
    assert world.workflow_id not in workflow_ids
    assert not {e["node"]["name"] for e in listed["workflows"]["edges"]} & {world.workflow_name}
    user_ids = {e["node"]["id"] for e in listed["users"]["edges"]}
    assert user_ids >= {str(u) for u in world.b.users.values()}
    assert not user_ids & {str(u) for u in world.a.users.values()}
    assert not {e["node"]["email"] for e in listed["users"]["edges"]} & set(world.a.emails.values())
    assert world.api_key_id not in {k["id"] for k in listed["apiKeys"]}
    a_ids = {world.workflow_id, world.api_key_id, *(str(u) for u in world.a.users.values())}
    assert not {e["node"]["targetId"] for e in listed["auditLog"]["edges"]} & a_ids


async def test_run_lists_never_show_another_tenants_runs(gql: GraphQLClient, world: World) -> None:
    query = "query($f: RunFilter) { runs(first: 100, filter: $f) { edges { node { id } } } }"
    a_runs = {world.active_run_id, world.finished_run_id}
    for where in (None, {"workflowId": world.workflow_id}, {"workflowId": MALFORMED_ID}):
        listed = await gql.data(query, {"f": where}, world.b.token(Role.ADMIN))
        assert not {e["node"]["id"] for e in listed["runs"]["edges"]} & a_runs
    mine = await gql.data(query, {"f": None}, world.a.token(Role.ADMIN))
    assert a_runs <= {e["node"]["id"] for e in mine["runs"]["edges"]}, "control: A sees its own runs"


@pytest.mark.parametrize("search", ["exact", "lower", "prefix"])
async def test_search_does_not_cross_tenants(gql: GraphQLClient, world: World, search: str) -> None:
    term = {
        "exact": world.workflow_name,
        "lower": world.workflow_name.lower(),
        "prefix": world.workflow_name[:14],
    }[search]
    query = """query($s: String!) {
      workflows(search: $s, includeArchived: true, first: 100) { edges { node { id } } } }"""
    in_b = await gql.data(query, {"s": term}, world.b.token(Role.ADMIN))
    assert in_b["workflows"]["edges"] == []
    # Control: the same search in A finds it.
    in_a = await gql.data(query, {"s": term}, world.a.token(Role.VIEWER))
    assert world.workflow_id in {e["node"]["id"] for e in in_a["workflows"]["edges"]}


async def test_a_key_authenticates_only_in_its_own_tenant(gql: GraphQLClient, world: World) -> None:
    await assert_a_key_works(gql, world)
    seen = await gql.data(
        "query($id: ID!) { workflow(id: $id) { id } workflows(first: 100) { edges { node { id } } } }",
        {"id": world.workflow_id},
        world.api_key,
    )
    assert seen["workflow"] == {"id": world.workflow_id}
    assert world.workflow_id in {e["node"]["id"] for e in seen["workflows"]["edges"]}
