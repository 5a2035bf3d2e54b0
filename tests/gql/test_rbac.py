"""RBAC, generated from the matrix: every root operation against every role (and no token at all).

The table ``OPERATIONS`` holds a minimal, valid call of every Query and Mutation field. A test insists
its keys equal the schema's root fields, so an operation added without a row here fails the suite.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import sqlalchemy as sa
import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.field import StrawberryField

from studio_gql.permissions import IsAuthenticated, Requires, required_permission
from studio_gql.schema import PUBLIC_OPERATIONS, build_schema
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import ROLE_PERMISSIONS, Permission, Role, lowest_role_with, permissions_for
from studio_shared.settings import Settings
from tests.conftest import PASSWORD, GraphQLClient, TenantFixture

# The contract's table (section 2), written out literally: permission → lowest role that has it.
CONTRACT_LOWEST_ROLE: dict[str, Role] = {
    "workflow:read": Role.VIEWER,
    "run:read": Role.VIEWER,
    "artifact:read": Role.VIEWER,
    "task:read": Role.VIEWER,
    "task:decide": Role.APPROVER,
    "run:start": Role.OPERATOR,
    "run:cancel": Role.OPERATOR,
    "run:retry": Role.OPERATOR,
    "run:signal": Role.OPERATOR,
    "message:send": Role.OPERATOR,
    "workflow:write": Role.EDITOR,
    "workflow:publish": Role.EDITOR,
    "workflow:test": Role.EDITOR,
    "trigger:manage": Role.EDITOR,
    "credential:manage": Role.ADMIN,
    "user:manage": Role.ADMIN,
    "apikey:manage": Role.ADMIN,
    "audit:read": Role.ADMIN,
    "tenant:manage": Role.ADMIN,
    "conversation:manage": Role.ADMIN,
}
CONTRACT_ROLE_ORDER = ["VIEWER", "APPROVER", "OPERATOR", "EDITOR", "ADMIN"]

# Root fields that need a caller but no particular permission (every role may ask who it is, set its password).
AUTHENTICATED_ONLY = frozenset({"me", "changePassword"})
# The payload errors an allowed call gets in these tables: changePassword is called with a wrong current password
# (a right one would end the sessions of the shared users the other rows use); an API key has no password.
# exchangeSignInCode is called with an unknown code (a real one needs an SSO sign-in: tests/gql/test_oidc.py).
# deleteConversation: no GraphQL call makes a conversation (agent runs do), so the allowed call names a missing one;
# tests/gql/test_conversations.py and the audit coverage test delete real ones.
EXPECTED_PAYLOAD_CODES = {
    "changePassword": ["INVALID_CREDENTIALS"],
    "exchangeSignInCode": ["INVALID_CODE"],
    "deleteConversation": ["NOT_FOUND"],
}
EXPECTED_KEY_PAYLOAD_CODES = {
    "decideHumanTask": ["FORBIDDEN"],
    "changePassword": ["NO_PASSWORD"],
    "exchangeSignInCode": ["INVALID_CODE"],
    "deleteConversation": ["NOT_FOUND"],
}

MINIMAL_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "start", "type": "trigger.manual", "config": {}}],
    "edges": [],
}
WAITING_DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "wait", "type": "delay", "config": {"seconds": 3600}},
    ],
    "edges": [{"source": "start", "target": "wait"}],
}
APPROVAL_DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "ask", "type": "human.approval", "config": {"title": "RBAC check"}},
    ],
    "edges": [{"source": "start", "target": "ask"}],
}
WAIT_EVENT_DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "wait", "type": "wait.event", "config": {"event": "go"}},
    ],
    "edges": [{"source": "start", "target": "wait"}],
}
DENIED = frozenset({"FORBIDDEN", "UNAUTHENTICATED"})


# ------------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Seed:
    """Builds the targets a call needs (always with the tenant's ADMIN, never with the role under test)."""

    gql: GraphQLClient
    tenant: TenantFixture

    async def workflow(self, definition: dict[str, Any] | None = None) -> str:
        data = await self.gql.data(
            """mutation($n: String!, $d: JSON!) {
                 createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { code } } }""",
            {"n": f"rbac-{secrets.token_hex(4)}", "d": definition or MINIMAL_DEFINITION},
            self.tenant.token(Role.ADMIN),
        )
        assert data["createWorkflow"]["errors"] == []
        workflow_id: str = data["createWorkflow"]["workflow"]["id"]
        return workflow_id

    async def published_workflow(self, definition: dict[str, Any] | None = None) -> str:
        workflow_id = await self.workflow(definition)
        data = await self.gql.data(
            "mutation($id: ID!) { publishWorkflow(id: $id) { errors { code } } }",
            {"id": workflow_id},
            self.tenant.token(Role.ADMIN),
        )
        assert data["publishWorkflow"]["errors"] == []
        return workflow_id

    async def run(self, finished: bool, definition: dict[str, Any] | None = None) -> str:
        """A run that waits on a long delay (cancellable), or one that succeeded (retryable from a step)."""
        workflow_id = await self.published_workflow(definition or (None if finished else WAITING_DEFINITION))
        admin = self.tenant.token(Role.ADMIN)
        data = await self.gql.data(
            "mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { code } } }",
            {"id": workflow_id},
            admin,
        )
        run_id: str = data["startRun"]["run"]["id"]
        wanted = "SUCCEEDED" if finished else "WAITING"
        for _ in range(1500):
            got = await self.gql.data("query($id: ID!) { run(id: $id) { status } }", {"id": run_id}, admin)
            if got["run"]["status"] == wanted:
                return run_id
            await asyncio.sleep(0.02)
        raise AssertionError(f"run {run_id} never reached {wanted}")

    async def human_task(self) -> str:
        """An OPEN approval task (APPROVER and above may decide it) of a fresh waiting run."""
        run_id = await self.run(finished=False, definition=APPROVAL_DEFINITION)
        query = "query($id: ID!) { run(id: $id) { humanTasks { id } } }"
        tasks = (await self.gql.data(query, {"id": run_id}, self.tenant.token(Role.ADMIN)))["run"]["humanTasks"]
        task_id: str = tasks[0]["id"]
        return task_id

    async def api_key(self) -> str:
        data = await self.gql.data(
            """mutation { createApiKey(name: "rbac", role: VIEWER) { apiKey { id } errors { code } } }""",
            token=self.tenant.token(Role.ADMIN),
        )
        assert data["createApiKey"]["errors"] == []
        key_id: str = data["createApiKey"]["apiKey"]["id"]
        return key_id

    async def webhook(self) -> str:
        data = await self.gql.data(
            "mutation($w: ID!) { createWebhook(workflowId: $w) { webhook { id } errors { code } } }",
            {"w": await self.workflow()},
            self.tenant.token(Role.ADMIN),
        )
        assert data["createWebhook"]["errors"] == []
        webhook_id: str = data["createWebhook"]["webhook"]["id"]
        return webhook_id

    async def schedule(self) -> str:
        """A yearly schedule of an unpublished workflow (it never starts a run while the tests run)."""
        data = await self.gql.data(
            """mutation($w: ID!) { createSchedule(workflowId: $w, input: {cron: "0 0 1 1 *"}) {
                 schedule { id } errors { code } } }""",
            {"w": await self.workflow()},
            self.tenant.token(Role.ADMIN),
        )
        assert data["createSchedule"]["errors"] == []
        schedule_id: str = data["createSchedule"]["schedule"]["id"]
        return schedule_id

    async def credential(self) -> str:
        data = await self.gql.data(
            """mutation($n: String!) { createCredential(input: {name: $n, kind: "bearer", value: {token: "rbac-secret"}}) {
                 credential { id } errors { code } } }""",
            {"n": f"rbac-{secrets.token_hex(4)}"},
            self.tenant.token(Role.ADMIN),
        )
        assert data["createCredential"]["errors"] == []
        credential_id: str = data["createCredential"]["credential"]["id"]
        return credential_id


Variables = Callable[[Seed], Awaitable[dict[str, Any]]]


async def no_variables(seed: Seed) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Op:
    """A minimal valid call: its root, the permission it must require (None: public or any caller), the call."""

    root: Literal["Query", "Mutation"]
    permission: Permission | None
    document: str
    variables: Variables = field(default=no_variables)


async def _workflow_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.workflow()}


async def _login(seed: Seed) -> dict[str, Any]:
    return {"e": seed.tenant.emails[Role.VIEWER], "p": PASSWORD}


async def _new_user(seed: Seed) -> dict[str, Any]:
    return {"e": f"new-{secrets.token_hex(5)}@{seed.tenant.slug}.example", "p": PASSWORD}


async def _fresh_user_id(seed: Seed) -> dict[str, Any]:
    """A user made for this call alone (a reset ends that user's sessions)."""
    data = await seed.gql.data(
        """mutation($e: String!, $p: String!) {
             createUser(email: $e, password: $p, role: VIEWER) { user { id } errors { code } } }""",
        await _new_user(seed),
        seed.tenant.token(Role.ADMIN),
    )
    assert data["createUser"]["errors"] == []
    return {"id": data["createUser"]["user"]["id"]}


async def _viewer_id(seed: Seed) -> dict[str, Any]:
    return {"id": str(seed.tenant.users[Role.VIEWER])}


async def _api_key_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.api_key()}


SET_OIDC = """mutation { setOidcConfig(input: {issuer: "https://login.example.org", clientId: "studio",
  clientSecret: "s3cret", jitRole: VIEWER}) { oidcConfig { issuer } errors { code } } }"""


async def _oidc_configured(seed: Seed) -> dict[str, Any]:
    """The tenant has an OIDC provider (for deleteOidcConfig to remove)."""
    data = await seed.gql.data(SET_OIDC, {}, seed.tenant.token(Role.ADMIN))
    assert data["setOidcConfig"]["errors"] == [], data
    return {}


async def _webhook_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.webhook()}


async def _schedule_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.schedule()}


async def _credential_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.credential()}


async def _missing_id(seed: Seed) -> dict[str, Any]:
    return {"id": str(uuid.uuid4())}


async def _new_credential(seed: Seed) -> dict[str, Any]:
    return {"n": f"cred-{secrets.token_hex(4)}"}


async def _definition(seed: Seed) -> dict[str, Any]:
    return {"d": MINIMAL_DEFINITION}


async def _new_workflow(seed: Seed) -> dict[str, Any]:
    return {"n": f"rbac-new-{secrets.token_hex(4)}", "d": MINIMAL_DEFINITION}


async def _published_workflow_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.published_workflow()}


async def _active_run_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.run(finished=False)}


async def _waiting_event_run_id(seed: Seed) -> dict[str, Any]:
    """A run whose wait.event step waits for the event "go" (each call resumes a fresh one)."""
    return {"id": await seed.run(finished=False, definition=WAIT_EVENT_DEFINITION)}


async def _finished_run_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.run(finished=True)}


async def _pinned_workflow_id(seed: Seed) -> dict[str, Any]:
    """A workflow whose trigger node has a pinned output."""
    workflow_id = await seed.workflow()
    data = await seed.gql.data(
        """mutation($id: ID!) { pinNodeOutput(workflowId: $id, nodeId: "start", output: {a: 1}) { errors { code } } }""",
        {"id": workflow_id},
        seed.tenant.token(Role.ADMIN),
    )
    assert data["pinNodeOutput"]["errors"] == []
    return {"id": workflow_id}


async def _human_task_id(seed: Seed) -> dict[str, Any]:
    return {"id": await seed.human_task()}


OPERATIONS: dict[str, Op] = {
    "runs": Op("Query", Permission.RUN_READ, "{ runs(first: 1) { edges { node { id } } } }"),
    "run": Op(
        "Query", Permission.RUN_READ, "query($id: ID!) { run(id: $id) { id steps { stepId } } }", _finished_run_id
    ),
    "startRun": Op(
        "Mutation",
        Permission.RUN_START,
        "mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { code } } }",
        _published_workflow_id,
    ),
    "cancelRun": Op(
        "Mutation",
        Permission.RUN_CANCEL,
        "mutation($id: ID!) { cancelRun(id: $id) { run { id } errors { code } } }",
        _active_run_id,
    ),
    "retryRun": Op(
        "Mutation",
        Permission.RUN_RETRY,
        'mutation($id: ID!) { retryRun(id: $id, fromStep: "start") { run { id } errors { code } } }',
        _finished_run_id,
    ),
    "signalRun": Op(
        "Mutation",
        Permission.RUN_SIGNAL,
        'mutation($id: ID!) { signalRun(runId: $id, name: "go", payload: {ok: true}) { run { id } errors { code } } }',
        _waiting_event_run_id,
    ),
    "replayRun": Op(
        "Mutation",
        Permission.RUN_START,
        "mutation($id: ID!) { replayRun(id: $id) { run { id } errors { code } } }",
        _finished_run_id,
    ),
    "testRun": Op(
        "Mutation",
        Permission.WORKFLOW_TEST,
        "mutation($id: ID!) { testRun(workflowId: $id) { run { id test } errors { code } } }",
        _workflow_id,
    ),
    "testStep": Op(
        "Mutation",
        Permission.WORKFLOW_TEST,
        'mutation($id: ID!) { testStep(workflowId: $id, nodeId: "start") { run { id test } errors { code } } }',
        _workflow_id,
    ),
    "testReplay": Op(
        "Mutation",
        Permission.WORKFLOW_TEST,
        "mutation($id: ID!) { testReplay(runId: $id) { run { id test } errors { code } } }",
        _finished_run_id,
    ),
    "pinNodeOutput": Op(
        "Mutation",
        Permission.WORKFLOW_TEST,
        'mutation($id: ID!) { pinNodeOutput(workflowId: $id, nodeId: "start", output: {x: 1}) { pin { nodeId } '
        "errors { code } } }",
        _workflow_id,
    ),
    "unpinNodeOutput": Op(
        "Mutation",
        Permission.WORKFLOW_TEST,
        'mutation($id: ID!) { unpinNodeOutput(workflowId: $id, nodeId: "start") { pin { nodeId } errors { code } } }',
        _pinned_workflow_id,
    ),
    "deleteRun": Op(
        "Mutation",
        Permission.WORKFLOW_WRITE,
        "mutation($id: ID!) { deleteRun(id: $id) { deletedId errors { code } } }",
        _finished_run_id,
    ),
    # Query
    "me": Op("Query", None, "{ me { role } }"),
    "users": Op("Query", Permission.USER_MANAGE, "{ users(first: 1) { edges { node { id } } } }"),
    "apiKeys": Op("Query", Permission.APIKEY_MANAGE, "{ apiKeys { id } }"),
    "usage": Op("Query", Permission.RUN_READ, "{ usage { calls totalTokens } }"),
    "modelBudget": Op("Query", Permission.RUN_READ, "{ modelBudget { day usedTokens } }"),
    "credentials": Op("Query", Permission.CREDENTIAL_MANAGE, "{ credentials { id name } }"),
    "messages": Op("Query", Permission.RUN_READ, '{ messages(channel: "rbac", first: 1) { edges { node { id } } } }'),
    "humanTasks": Op(
        "Query", Permission.TASK_READ, "{ humanTasks(assignedToMe: true, first: 1) { edges { node { id } } } }"
    ),
    "humanTaskCount": Op("Query", Permission.TASK_READ, "{ humanTaskCount(status: OPEN, assignedToMe: true) }"),
    "humanTask": Op(
        "Query", Permission.TASK_READ, "query($id: ID!) { humanTask(id: $id) { id status } }", _human_task_id
    ),
    "decideHumanTask": Op(
        "Mutation",
        Permission.TASK_DECIDE,
        "mutation($id: ID!) { decideHumanTask(id: $id, decision: APPROVE) { task { status } errors { code } } }",
        _human_task_id,
    ),
    "auditLog": Op("Query", Permission.AUDIT_READ, "{ auditLog(first: 1) { edges { node { id } } } }"),
    "nodeTypes": Op("Query", Permission.WORKFLOW_READ, "{ nodeTypes { type } }"),
    "nodeType": Op("Query", Permission.WORKFLOW_READ, '{ nodeType(type: "transform") { type } }'),
    "validateDefinition": Op(
        "Query",
        Permission.WORKFLOW_READ,
        "query($d: JSON!) { validateDefinition(definition: $d) { code } }",
        _definition,
    ),
    "singleSignOn": Op("Query", None, '{ singleSignOn(tenant: "no-such-workspace") { loginUrl } }'),
    "oidcConfig": Op("Query", Permission.TENANT_MANAGE, "{ oidcConfig { issuer clientSecretSet } }"),
    "workflows": Op("Query", Permission.WORKFLOW_READ, "{ workflows(first: 1) { edges { node { id } } } }"),
    "workflow": Op("Query", Permission.WORKFLOW_READ, "query($id: ID!) { workflow(id: $id) { id } }", _workflow_id),
    # Mutation
    "login": Op(
        "Mutation",
        None,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }",
        _login,
    ),
    "exchangeSignInCode": Op(
        "Mutation", None, 'mutation { exchangeSignInCode(code: "not-a-code") { token errors { code } } }'
    ),
    "setOidcConfig": Op("Mutation", Permission.TENANT_MANAGE, SET_OIDC),
    "deleteOidcConfig": Op(
        "Mutation",
        Permission.TENANT_MANAGE,
        "mutation { deleteOidcConfig { oidcConfig { issuer } errors { code } } }",
        _oidc_configured,
    ),
    "createUser": Op(
        "Mutation",
        Permission.USER_MANAGE,
        """mutation($e: String!, $p: String!) {
             createUser(email: $e, password: $p, role: VIEWER) { user { id } errors { code } } }""",
        _new_user,
    ),
    "setUserRole": Op(
        "Mutation",
        Permission.USER_MANAGE,
        "mutation($id: ID!) { setUserRole(userId: $id, role: VIEWER) { user { id } errors { code } } }",
        _viewer_id,
    ),
    "setUserActive": Op(
        "Mutation",
        Permission.USER_MANAGE,
        "mutation($id: ID!) { setUserActive(userId: $id, active: true) { user { id } errors { code } } }",
        _viewer_id,
    ),
    "changePassword": Op(
        "Mutation",
        None,
        """mutation { changePassword(currentPassword: "not the password", newPassword: "another password") {
             token errors { code } } }""",
    ),
    "resetUserPassword": Op(
        "Mutation",
        Permission.USER_MANAGE,
        "mutation($id: ID!) { resetUserPassword(userId: $id) { temporaryPassword errors { code } } }",
        _fresh_user_id,
    ),
    "createApiKey": Op(
        "Mutation",
        Permission.APIKEY_MANAGE,
        'mutation { createApiKey(name: "k", role: VIEWER) { key errors { code } } }',
    ),
    "revokeApiKey": Op(
        "Mutation",
        Permission.APIKEY_MANAGE,
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } errors { code } } }",
        _api_key_id,
    ),
    "sendMessage": Op(
        "Mutation",
        Permission.MESSAGE_SEND,
        'mutation { sendMessage(channel: "rbac", text: "hi") { message { id } errors { code } } }',
    ),
    "createWebhook": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { createWebhook(workflowId: $id) { webhook { id } secret errors { code } } }",
        _workflow_id,
    ),
    "rotateWebhookSecret": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret errors { code } } }",
        _webhook_id,
    ),
    "updateWebhook": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { updateWebhook(id: $id, input: {enabled: false}) { webhook { id } errors { code } } }",
        _webhook_id,
    ),
    "deleteWebhook": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { deleteWebhook(id: $id) { deletedId errors { code } } }",
        _webhook_id,
    ),
    "schedule": Op("Query", Permission.WORKFLOW_READ, "query($id: ID!) { schedule(id: $id) { id } }", _schedule_id),
    "schedulePreview": Op(
        "Query", Permission.WORKFLOW_READ, 'query { schedulePreview(cron: "0 9 * * 1-5") { fires errors { code } } }'
    ),
    "createSchedule": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        """mutation($id: ID!) { createSchedule(workflowId: $id, input: {cron: "0 0 1 1 *"}) {
             schedule { id } errors { code } } }""",
        _workflow_id,
    ),
    "updateSchedule": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        """mutation($id: ID!) { updateSchedule(id: $id, input: {cron: "0 0 1 1 *", timezone: "Europe/Berlin"}) {
             schedule { id } errors { code } } }""",
        _schedule_id,
    ),
    "pauseSchedule": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { pauseSchedule(id: $id) { schedule { enabled } errors { code } } }",
        _schedule_id,
    ),
    "resumeSchedule": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { resumeSchedule(id: $id) { schedule { enabled } errors { code } } }",
        _schedule_id,
    ),
    "deleteSchedule": Op(
        "Mutation",
        Permission.TRIGGER_MANAGE,
        "mutation($id: ID!) { deleteSchedule(id: $id) { deletedId errors { code } } }",
        _schedule_id,
    ),
    "createCredential": Op(
        "Mutation",
        Permission.CREDENTIAL_MANAGE,
        """mutation($n: String!) { createCredential(input: {name: $n, kind: "bearer", value: {token: "t0ken-value"}}) {
             credential { id } errors { code } } }""",
        _new_credential,
    ),
    "mcpTools": Op(
        "Query",
        Permission.WORKFLOW_WRITE,
        '{ mcpTools(server: "calc", allow: ["add"]) { tools { name } errors { code } } }',
    ),
    "conversations": Op("Query", Permission.CONVERSATION_MANAGE, "{ conversations { id key turnCount } }"),
    "deleteConversation": Op(
        "Mutation",
        Permission.CONVERSATION_MANAGE,
        "mutation($id: ID!) { deleteConversation(id: $id) { deletedId errors { code } } }",
        _missing_id,
    ),
    "deleteCredential": Op(
        "Mutation",
        Permission.CREDENTIAL_MANAGE,
        "mutation($id: ID!) { deleteCredential(id: $id) { deletedId errors { code } } }",
        _credential_id,
    ),
    "createWorkflow": Op(
        "Mutation",
        Permission.WORKFLOW_WRITE,
        """mutation($n: String!, $d: JSON!) {
             createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { code } } }""",
        _new_workflow,
    ),
    "updateWorkflow": Op(
        "Mutation",
        Permission.WORKFLOW_WRITE,
        """mutation($id: ID!) {
             updateWorkflow(id: $id, input: {description: "changed"}) { workflow { id } errors { code } } }""",
        _workflow_id,
    ),
    "publishWorkflow": Op(
        "Mutation",
        Permission.WORKFLOW_PUBLISH,
        "mutation($id: ID!) { publishWorkflow(id: $id) { version { id } errors { code } } }",
        _workflow_id,
    ),
    "archiveWorkflow": Op(
        "Mutation",
        Permission.WORKFLOW_WRITE,
        "mutation($id: ID!) { archiveWorkflow(id: $id) { workflow { id } errors { code } } }",
        _workflow_id,
    ),
    "setErrorWorkflow": Op(
        "Mutation",
        Permission.WORKFLOW_WRITE,
        "mutation($id: ID!) { setErrorWorkflow(workflowId: $id, errorWorkflowId: $id) { workflow { id } "
        "errors { code } } }",
        _workflow_id,
    ),
    "setDefaultErrorWorkflow": Op(
        "Mutation",
        Permission.TENANT_MANAGE,
        "mutation { setDefaultErrorWorkflow(errorWorkflowId: null) { tenant { id } errors { code } } }",
    ),
    "setModelBudget": Op(
        "Mutation",
        Permission.TENANT_MANAGE,
        "mutation { setModelBudget(dailyMaxTokens: 1000) { budget { day } errors { code } } }",
    ),
}


# ---------------------------------------------------------------------------------------------- schema walk


@pytest.fixture(scope="module")
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)


def root_fields(schema: strawberry.Schema) -> dict[str, dict[str, StrawberryField]]:
    """GraphQL root type name → GraphQL field name → the Strawberry field behind it."""
    out: dict[str, dict[str, StrawberryField]] = {}
    core = schema._schema
    for root in (core.query_type, core.mutation_type, core.subscription_type):
        if root is None:
            continue
        fields: dict[str, StrawberryField] = {}
        for name in root.fields:
            found = schema.get_field_for_type(name, root.name)
            assert found is not None, (root.name, name)
            fields[name] = found
        out[root.name] = fields
    return out


def guards(f: StrawberryField) -> list[BasePermission]:
    return [perm for ext in f.extensions if isinstance(ext, PermissionExtension) for perm in ext.permissions]


def permission_of(schema: strawberry.Schema, name: str) -> Permission | None:
    f = schema.get_field_for_type(name, OPERATIONS[name].root)
    assert f is not None, name
    return required_permission(f.extensions)


def test_operations_table_covers_every_root_field(schema: strawberry.Schema) -> None:
    fields = root_fields(schema)
    in_schema = {(root, name) for root in ("Query", "Mutation") for name in fields.get(root, {})}
    in_table = {(op.root, name) for name, op in OPERATIONS.items()}
    assert in_table - in_schema == set(), "rows for operations the schema does not have"
    assert in_schema - in_table == set(), "operations without a row in OPERATIONS: add a minimal call for each"


def test_every_root_field_is_guarded(schema: strawberry.Schema) -> None:
    fields = {name: f for per_root in root_fields(schema).values() for name, f in per_root.items()}
    assert set(fields) >= PUBLIC_OPERATIONS, "PUBLIC_OPERATIONS names an operation that does not exist"
    assert set(fields) >= AUTHENTICATED_ONLY
    for name, f in fields.items():
        held = guards(f)
        if name in PUBLIC_OPERATIONS:
            assert held == [], f"{name} is public and must not carry a permission check"
            continue
        assert any(isinstance(p, IsAuthenticated) for p in held), f"{name} lets anonymous callers in"
        if name in AUTHENTICATED_ONLY:
            assert required_permission(f.extensions) is None, name
        else:
            assert required_permission(f.extensions) is not None, f"{name} declares no permission: use needs(...)"
            # Authentication is checked first: no token is UNAUTHENTICATED, never FORBIDDEN.
            kinds = [type(p) for p in held]
            assert kinds.index(IsAuthenticated) < kinds.index(Requires), name


def test_each_operation_declares_the_permission_the_table_expects(schema: strawberry.Schema) -> None:
    declared = {name: permission_of(schema, name) for name in OPERATIONS}
    expected = {name: op.permission for name, op in OPERATIONS.items()}
    assert declared == expected
    for name, op in OPERATIONS.items():
        assert (op.permission is None) == (name in PUBLIC_OPERATIONS | AUTHENTICATED_ONLY), name


def test_every_used_permission_is_exercised(schema: strawberry.Schema) -> None:
    used = {
        perm
        for per_root in root_fields(schema).values()
        for f in per_root.values()
        if (perm := required_permission(f.extensions)) is not None
    }
    exercised = {op.permission for op in OPERATIONS.values() if op.permission is not None}
    assert used <= set(Permission)
    assert used - exercised == set(), "permissions used by the schema but not covered by OPERATIONS"
    for perm in exercised:
        allowed = [role for role in Role if perm in permissions_for(role)]
        assert allowed, perm
        assert allowed == [role for role in Role if role.at_least(allowed[0])], f"{perm} is not cumulative"


# ------------------------------------------------------------------------------------------ the calls


@pytest.fixture(scope="module")
async def t(make_tenant: Any, workers: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


async def audit_count(state: AppState, tenant: TenantFixture) -> int:
    async with state.sessions() as s:
        count = await s.scalar(
            sa.select(sa.func.count()).select_from(models.AuditEntry).where(models.AuditEntry.tenant_id == tenant.id)
        )
    return int(count or 0)


def _payload_codes(value: Any) -> list[str]:
    if isinstance(value, dict) and isinstance(value.get("errors"), list):
        return [e.get("code", "") for e in value["errors"]]
    return []


CASES = [(name, role) for name in OPERATIONS for role in [*Role, None]]


@pytest.mark.parametrize(
    ("name", "role"), CASES, ids=[f"{name}-{role.value if role else 'anonymous'}" for name, role in CASES]
)
async def test_operation_by_role(
    name: str,
    role: Role | None,
    gql: GraphQLClient,
    state: AppState,
    t: TenantFixture,
) -> None:
    op = OPERATIONS[name]
    variables = await op.variables(Seed(gql, t))
    permission = op.permission  # what the contract wants; the call below shows what the API does
    token = t.token(role) if role is not None else None
    before = await audit_count(state, t)
    body = await gql.raw(op.document, variables, token)

    if name in PUBLIC_OPERATIONS:
        allowed, denial = True, None
    elif role is None:
        allowed, denial = False, "UNAUTHENTICATED"
    else:
        allowed = permission is None or permission in permissions_for(role)
        denial = None if allowed else "FORBIDDEN"

    if allowed:
        assert not body.get("errors"), body
        assert body["data"] is not None
        assert name in body["data"], body
        # Valid inputs and real ids: the payload itself carries no error either.
        assert _payload_codes(body["data"][name]) == EXPECTED_PAYLOAD_CODES.get(name, []), body
        return

    errors = body.get("errors") or []
    assert [(e.get("extensions") or {}).get("code") for e in errors] == [denial], body
    assert errors[0]["path"] == [name], body
    assert body.get("data") is None or body["data"].get(name) is None, body
    if denial == "FORBIDDEN":
        assert permission is not None
        assert permission.value in errors[0]["message"], "say which permission is missing"
    assert not DENIED & set(_payload_codes((body.get("data") or {}).get(name)))
    # A refused call changes nothing: no audit entry (every mutation writes one) appeared.
    assert await audit_count(state, t) == before


# API keys whose creator changed after making them: (the key's own role, the creator's role now, creator active).
# A key acts with the lesser of its role and its creator's current one, and not at all once she is disabled.
KEY_CASES = [(Role.ADMIN, role, True) for role in Role] + [
    (Role.EDITOR, Role.ADMIN, True),
    (Role.ADMIN, Role.ADMIN, False),
]


def _key_case_id(case: tuple[Role, Role, bool]) -> str:
    key_role, creator_role, active = case
    return f"key{key_role.value}-creator{creator_role.value if active else 'DISABLED'}"


@pytest.fixture(scope="module")
async def keys(gql: GraphQLClient, state: AppState, t: TenantFixture) -> dict[tuple[Role, Role, bool], str]:
    """One key per case, each made by its own ADMIN user who was then demoted (or disabled)."""
    from studio_shared.auth import encode_access_token
    from studio_shared.store import tenants

    made: dict[tuple[Role, Role, bool], str] = {}
    for key_role, creator_role, active in KEY_CASES:
        async with state.sessions.begin() as s:
            email = f"maker-{secrets.token_hex(5)}@{t.slug}.example"
            creator = await tenants.create_user(s, t.id, email, PASSWORD, Role.ADMIN)
        token = encode_access_token(state.settings, subject=creator.id, tenant_id=t.id, role=Role.ADMIN)
        data = await gql.data(
            'mutation($r: Role!) { createApiKey(name: "rbac", role: $r) { key errors { code } } }',
            {"r": key_role.value},
            token,
        )
        assert data["createApiKey"]["errors"] == []
        made[(key_role, creator_role, active)] = data["createApiKey"]["key"]
        async with state.sessions.begin() as s:
            await s.execute(
                sa.update(models.User).where(models.User.id == creator.id).values(role=creator_role, active=active)
            )
    return made


KEY_OPERATION_CASES = [(name, case) for name in OPERATIONS for case in KEY_CASES]


@pytest.mark.parametrize(
    ("name", "case"), KEY_OPERATION_CASES, ids=[f"{name}-{_key_case_id(case)}" for name, case in KEY_OPERATION_CASES]
)
async def test_operation_by_key_whose_creator_changed(
    name: str,
    case: tuple[Role, Role, bool],
    gql: GraphQLClient,
    state: AppState,
    t: TenantFixture,
    keys: dict[tuple[Role, Role, bool], str],
) -> None:
    """The principal's creator was demoted or disabled: the key gets what the lesser role gets, or nothing."""
    op = OPERATIONS[name]
    variables = await op.variables(Seed(gql, t))
    key_role, creator_role, active = case
    effective = key_role.capped_by(creator_role)
    before = await audit_count(state, t)
    body = await gql.raw(op.document, variables, keys[case])

    if name in PUBLIC_OPERATIONS:
        allowed, denial = True, None
    elif not active:
        allowed, denial = False, "UNAUTHENTICATED"
    else:
        allowed = op.permission is None or op.permission in permissions_for(effective)
        denial = None if allowed else "FORBIDDEN"

    if allowed:
        assert not body.get("errors"), body
        # Deciding a task is for signed-in users only; a key that may otherwise do so is told in the payload.
        assert _payload_codes(body["data"][name]) == EXPECTED_KEY_PAYLOAD_CODES.get(name, []), body
        if name == "me":
            assert body["data"]["me"]["role"] == effective.value
        return
    errors = body.get("errors") or []
    assert [(e.get("extensions") or {}).get("code") for e in errors] == [denial], body
    assert body.get("data") is None or body["data"].get(name) is None, body
    assert await audit_count(state, t) == before


@pytest.mark.parametrize("role", list(Role))
async def test_me_permissions_match_the_matrix(gql: GraphQLClient, t: TenantFixture, role: Role) -> None:
    me = (await gql.data("{ me { role permissions } }", token=t.token(role)))["me"]
    assert me["role"] == role.value
    assert me["permissions"] == sorted(p.value for p in permissions_for(role))


# ------------------------------------------------------------------------------------------- the matrix


def test_roles_are_ordered_as_in_the_contract() -> None:
    assert [role.value for role in Role] == CONTRACT_ROLE_ORDER
    assert [role.rank for role in Role] == list(range(len(CONTRACT_ROLE_ORDER)))


def test_matrix_matches_the_contract_table() -> None:
    assert {p.value for p in Permission} == set(CONTRACT_LOWEST_ROLE)
    assert set(ROLE_PERMISSIONS) == set(Role)
    for role in Role:
        expected = {perm for perm, lowest in CONTRACT_LOWEST_ROLE.items() if role.at_least(lowest)}
        assert {p.value for p in ROLE_PERMISSIONS[role]} == expected, role
    for perm in Permission:
        assert lowest_role_with(perm) is CONTRACT_LOWEST_ROLE[perm.value], perm


def test_matrix_is_cumulative() -> None:
    for lower, higher in itertools.pairwise(Role):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher], (lower, higher)
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
