"""Every root mutation that changes state writes an audit entry: generated from the schema.

``EXPECTED_ACTION`` names the action each Mutation field records; ``NO_STATE_CHANGE`` lists, with the reason, those
that change nothing an auditor needs. A test insists the two together are exactly the schema's Mutation fields, so a
mutation added without a row (and so without a checked audit entry) fails the suite. Each row is then performed
successfully by the tenant's ADMIN (the minimal valid calls of ``test_rbac.OPERATIONS``, or an override here where
that call changes nothing), and the entry must appear, in the caller's tenant, with the caller as its actor.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
import strawberry

from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_shared.auth import encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import conversations, oidc, tenants
from tests.conftest import PASSWORD, GraphQLClient, TenantFixture
from tests.gql.test_rbac import OPERATIONS, Seed

# Mutation field → the audit action a successful call records.
EXPECTED_ACTION: dict[str, str] = {
    "login": "user.login",
    "exchangeSignInCode": "user.login",
    "setOidcConfig": "oidc.configure",
    "deleteOidcConfig": "oidc.delete",
    "createUser": "user.create",
    "setUserRole": "user.set_role",
    "setUserActive": "user.disable",
    "changePassword": "user.password_change",
    "resetUserPassword": "user.password_reset",
    "createApiKey": "apikey.create",
    "revokeApiKey": "apikey.revoke",
    "sendMessage": "message.send",
    "createWebhook": "webhook.create",
    "rotateWebhookSecret": "webhook.rotate",
    "updateWebhook": "webhook.update",
    "deleteWebhook": "webhook.delete",
    "createSchedule": "schedule.create",
    "updateSchedule": "schedule.update",
    "pauseSchedule": "schedule.pause",
    "resumeSchedule": "schedule.resume",
    "deleteSchedule": "schedule.delete",
    "createCredential": "credential.create",
    "deleteCredential": "credential.delete",
    "deleteConversation": "conversation.delete",
    "createWorkflow": "workflow.create",
    "updateWorkflow": "workflow.update",
    "publishWorkflow": "workflow.publish",
    "archiveWorkflow": "workflow.archive",
    "setErrorWorkflow": "workflow.error_workflow",
    "setDefaultErrorWorkflow": "tenant.default_error_workflow",
    "setModelBudget": "tenant.model_budget",
    "startRun": "run.start",
    "cancelRun": "run.cancel",
    "retryRun": "run.retry",
    "signalRun": "run.resume",
    "replayRun": "run.start",
    "testRun": "run.test",
    "testStep": "run.test",
    "testReplay": "run.test",
    "pinNodeOutput": "workflow.pin",
    "unpinNodeOutput": "workflow.unpin",
    "deleteRun": "run.delete",
    "decideHumanTask": "human_task.decide",
}

# Mutation fields that change no state an auditor needs, each with its reason. Empty today: every mutation records.
NO_STATE_CHANGE: dict[str, str] = {}

# Who the entry names: the calling ADMIN, except where the call acts as another user.
ACTS_AS_ITSELF = {"login", "changePassword", "exchangeSignInCode"}


@dataclass(frozen=True)
class Call:
    """A successful call that changes state; ``token`` None: the tenant's ADMIN's."""

    document: str
    variables: dict[str, Any]
    token: str | None = None
    actor: str | None = None  # the actor the entry names, when not the ADMIN


Override = Callable[[Seed, AppState], Awaitable[Call]]


async def _fresh_user(seed: Seed, state: AppState) -> models.User:
    async with state.sessions.begin() as s:
        email = f"audit-{secrets.token_hex(5)}@{seed.tenant.slug}.example"
        return await tenants.create_user(s, seed.tenant.id, email, PASSWORD, Role.VIEWER)


async def _set_user_role(seed: Seed, state: AppState) -> Call:
    user = await _fresh_user(seed, state)
    document = "mutation($id: ID!) { setUserRole(userId: $id, role: EDITOR) { user { id } errors { code } } }"
    return Call(document, {"id": str(user.id)})


async def _set_user_active(seed: Seed, state: AppState) -> Call:
    user = await _fresh_user(seed, state)
    document = "mutation($id: ID!) { setUserActive(userId: $id, active: false) { user { id } errors { code } } }"
    return Call(document, {"id": str(user.id)})


async def _change_password(seed: Seed, state: AppState) -> Call:
    user = await _fresh_user(seed, state)
    token = encode_access_token(state.settings, subject=user.id, tenant_id=seed.tenant.id, role=Role.VIEWER)
    document = """mutation($p: String!) { changePassword(currentPassword: $p, newPassword: "a brand new passphrase") {
                    token errors { code } } }"""
    return Call(document, {"p": PASSWORD}, token, f"user:{user.id}")


async def _set_default_error_workflow(seed: Seed, state: AppState) -> Call:
    document = """mutation($id: ID!) { setDefaultErrorWorkflow(errorWorkflowId: $id) { tenant { id }
                    errors { code } } }"""
    return Call(document, {"id": await seed.workflow()})


async def _set_model_budget(seed: Seed, state: AppState) -> Call:
    document = (
        "mutation { setModelBudget(dailyMaxTokens: 5000, dailyMaxCostUsd: 2.5) { budget { day } errors { code } } }"
    )
    return Call(document, {})


async def _resume_schedule(seed: Seed, state: AppState) -> Call:
    schedule_id = await seed.schedule()
    paused = await seed.gql.data(
        "mutation($id: ID!) { pauseSchedule(id: $id) { errors { code } } }", {"id": schedule_id}, seed.tenant.token()
    )
    assert paused["pauseSchedule"]["errors"] == []
    document = "mutation($id: ID!) { resumeSchedule(id: $id) { schedule { enabled } errors { code } } }"
    return Call(document, {"id": schedule_id})


async def _exchange_sign_in_code(seed: Seed, state: AppState) -> Call:
    user = await _fresh_user(seed, state)
    async with state.sessions.begin() as s:
        code = await oidc.issue_code(s, user)  # what an SSO callback hands the web app
    document = "mutation($c: String!) { exchangeSignInCode(code: $c) { token errors { code } } }"
    return Call(document, {"c": code}, actor=f"user:{user.id}")


async def _delete_conversation(seed: Seed, state: AppState) -> Call:
    async with state.sessions.begin() as s:
        await conversations.save(s, seed.tenant.id, f"audit-{secrets.token_hex(4)}", "writer", [], [])
    async with state.sessions() as s:
        [row] = await conversations.list_conversations(s, seed.tenant.id, 1)
    document = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId errors { code } } }"
    return Call(document, {"id": str(row.id)})


OVERRIDES: dict[str, Override] = {
    "exchangeSignInCode": _exchange_sign_in_code,
    "deleteConversation": _delete_conversation,
    "resumeSchedule": _resume_schedule,
    "setUserRole": _set_user_role,
    "setUserActive": _set_user_active,
    "changePassword": _change_password,
    "setDefaultErrorWorkflow": _set_default_error_workflow,
    "setModelBudget": _set_model_budget,
}


def mutation_fields(settings: Settings) -> set[str]:
    schema: strawberry.Schema = build_schema(settings)
    mutation = schema._schema.mutation_type
    return set(mutation.fields) if mutation is not None else set()


def test_every_mutation_is_audited_or_listed_as_changing_nothing(settings: Settings) -> None:
    fields = mutation_fields(settings)
    assert not set(EXPECTED_ACTION) & set(NO_STATE_CHANGE), "a mutation is both audited and listed as changing nothing"
    listed = set(EXPECTED_ACTION) | set(NO_STATE_CHANGE)
    assert listed - fields == set(), "rows for mutations the schema does not have"
    assert fields - listed == set(), (
        "mutations neither audited here nor listed in NO_STATE_CHANGE: record an audit entry in their store code "
        "(audit.record) and add a row to EXPECTED_ACTION"
    )
    assert all(reason.strip() for reason in NO_STATE_CHANGE.values()), "say why each listed mutation changes nothing"
    assert set(OPERATIONS) >= set(EXPECTED_ACTION), "test_rbac.OPERATIONS has no call for a mutation"


@pytest.fixture(scope="module")
async def t(make_tenant: Any, workers: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


async def _last_id(state: AppState) -> int:
    async with state.sessions() as s:
        return int(await s.scalar(sa.select(sa.func.max(models.AuditEntry.id))) or 0)


async def _entries_after(state: AppState, last: int) -> list[models.AuditEntry]:
    async with state.sessions() as s:
        rows = await s.scalars(sa.select(models.AuditEntry).where(models.AuditEntry.id > last))
        return list(rows.all())


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTION))
async def test_a_successful_mutation_writes_its_audit_entry(
    name: str, gql: GraphQLClient, state: AppState, t: TenantFixture
) -> None:
    seed = Seed(gql, t)
    if name in OVERRIDES:
        call = await OVERRIDES[name](seed, state)
    else:
        op = OPERATIONS[name]
        call = Call(op.document, await op.variables(seed))
    admin = f"user:{t.users[Role.ADMIN]}"
    actor = call.actor or (f"user:{t.users[Role.VIEWER]}" if name == "login" else admin)
    last = await _last_id(state)
    token = None if name == "login" else (call.token or t.token(Role.ADMIN))
    data = await gql.data(call.document, call.variables, token)
    assert data[name].get("errors", []) == [], data
    entries = await _entries_after(state, last)
    mine = [e for e in entries if e.action == EXPECTED_ACTION[name]]
    assert mine, f"{name} wrote no {EXPECTED_ACTION[name]!r} entry (it wrote {[e.action for e in entries]})"
    assert {e.tenant_id for e in mine} == {t.id}
    assert actor in {e.actor for e in mine}, [(e.actor, e.action) for e in mine]
    assert name in ACTS_AS_ITSELF or actor == admin
