"""Passwords: a user changes their own (the current one checked under the sign-in limits, the other sessions ended),
an admin resets another's (a temporary password shown once, which signs in only to set a new one, until it
expires), and both are audited without the password."""

from __future__ import annotations

import itertools
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from studio_gql.state import AppState
from studio_shared.auth import ALGORITHM
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import tenants
from tests.conftest import PASSWORD, GraphQLClient, TenantFixture

LOGIN = """mutation($e: String!, $p: String!) {
  login(email: $e, password: $p) { token user { id mustChangePassword } errors { path message code } } }"""
CHANGE = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) {
    token user { id mustChangePassword passwordChangedAt } errors { path message code } } }"""
RESET = """mutation($id: ID!) {
  resetUserPassword(userId: $id) { temporaryPassword expiresAt user { id mustChangePassword }
    errors { path message code } } }"""
ME = "{ me { user { email mustChangePassword } } }"
WORKFLOWS = "{ workflows(first: 1) { edges { node { id } } } }"
CREATE_WORKFLOW = """mutation { createWorkflow(input: {name: "blocked", definition: {nodes: [], edges: []}}) {
  workflow { id } errors { code } } }"""
NEW = "a brand new password"
_ADDRESSES = itertools.count(1)

Client = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def from_address(app: Starlette) -> AsyncIterator[Client]:
    """Clients that connect from addresses of their own (198.19.0.0/16, set aside for tests), so that counting
    failed attempts here never meets the rest of the session's."""
    opened: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        n = next(_ADDRESSES) + 256 * (uuid.uuid4().int % 200)
        transport = httpx.ASGITransport(app=app, client=(f"198.19.{n // 256 % 256}.{n % 256}", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://studio.test")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def call(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def new_user(state: AppState, tenant: TenantFixture, role: Role = Role.EDITOR) -> models.User:
    async with state.sessions.begin() as s:
        return await tenants.create_user(
            s, tenant.id, f"pw-{secrets.token_hex(5)}@{tenant.slug}.example", PASSWORD, role
        )


def earlier_token(settings: Settings, user: models.User, seconds_ago: int = 5) -> str:
    """An access token of ``user`` issued a few seconds ago: a session that was open before a change."""
    now = int(time.time()) - seconds_ago
    claims = {
        "sub": str(user.id),
        "tenant_id": str(user.tenant_id),
        "role": user.role.value,
        "iat": now,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.jwt_key(), algorithm=ALGORITHM)


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code", "") for e in body.get("errors") or []]


async def audit_entries(state: AppState, tenant: TenantFixture, user_id: uuid.UUID) -> list[models.AuditEntry]:
    async with state.sessions() as s:
        rows = await s.scalars(
            sa.select(models.AuditEntry).where(
                models.AuditEntry.tenant_id == tenant.id, models.AuditEntry.target_id == str(user_id)
            )
        )
        return list(rows)


# --------------------------------------------------------------------------------------------- your own


async def test_a_user_changes_their_password_and_their_other_sessions_end(
    gql: GraphQLClient, state: AppState, settings: Settings, tenant: TenantFixture
) -> None:
    user = await new_user(state, tenant)
    this_session, other_session = earlier_token(settings, user), earlier_token(settings, user, 60)
    changed = (await gql.data(CHANGE, {"c": PASSWORD, "n": NEW}, this_session))["changePassword"]
    assert changed["errors"] == [] and changed["user"]["passwordChangedAt"]
    # The session that changed it continues with the token in the answer; every earlier token is refused.
    assert (await gql.data(ME, {}, changed["token"]))["me"]["user"]["email"] == user.email
    for old in (this_session, other_session):
        body = await gql.raw(ME, {}, old)
        assert codes(body) == ["UNAUTHENTICATED"] and "password" in body["errors"][0]["message"], body
    # The new password signs in, the old one no longer does.
    assert (await gql.data(LOGIN, {"e": user.email, "p": NEW}))["login"]["token"]
    assert (await gql.data(LOGIN, {"e": user.email, "p": PASSWORD}))["login"]["token"] is None
    [entry] = [e for e in await audit_entries(state, tenant, user.id) if e.action.startswith("user.password")]
    assert (entry.action, entry.actor) == ("user.password_change", f"user:{user.id}")
    assert NEW not in json.dumps(entry.data) and PASSWORD not in json.dumps(entry.data)


@pytest.mark.parametrize(
    ("current", "new", "problems"),
    [
        ("not my password", NEW, [(["currentPassword"], "INVALID_CREDENTIALS")]),
        (PASSWORD, "short", [(["newPassword"], "TOO_SHORT")]),
        (PASSWORD, "x" * 1025, [(["newPassword"], "TOO_LONG")]),
        (PASSWORD, PASSWORD, [(["newPassword"], "UNCHANGED")]),
        ("not my password", "short", [(["currentPassword"], "INVALID_CREDENTIALS"), (["newPassword"], "TOO_SHORT")]),
    ],
    ids=["wrong-current", "too-short", "too-long", "unchanged", "both"],
)
async def test_a_refused_change_says_what_is_wrong_and_changes_nothing(
    gql: GraphQLClient,
    state: AppState,
    settings: Settings,
    tenant: TenantFixture,
    current: str,
    new: str,
    problems: list[tuple[list[str], str]],
) -> None:
    user = await new_user(state, tenant)
    session = earlier_token(settings, user)
    answer = (await gql.data(CHANGE, {"c": current, "n": new}, session))["changePassword"]
    assert answer["token"] is None
    assert [(e["path"], e["code"]) for e in answer["errors"]] == problems
    assert all(e["message"] for e in answer["errors"])
    assert (await gql.data(ME, {}, session))["me"]["user"]["email"] == user.email, "the session goes on"
    assert (await gql.data(LOGIN, {"e": user.email, "p": PASSWORD}))["login"]["token"], "the password is unchanged"


async def test_wrong_current_passwords_count_as_failed_sign_ins(
    from_address: Client, state: AppState, settings: Settings, tenant: TenantFixture
) -> None:
    """A stolen session cannot guess the password faster than the login form lets anyone."""
    user = await new_user(state, tenant)
    session = earlier_token(settings, user)
    client = from_address()
    for _ in range(settings.login_failures_per_account):
        body = await call(client, CHANGE, {"c": "a guess", "n": NEW}, session)
        assert body["data"]["changePassword"]["errors"][0]["code"] == "INVALID_CREDENTIALS", body
    refused = await call(client, CHANGE, {"c": PASSWORD, "n": NEW}, session)
    assert codes(refused) == ["RATE_LIMITED"] and refused["errors"][0]["extensions"]["retryAfterS"] >= 1, refused
    # The same account's login waits too, from any address: one limit for both doors.
    assert codes(await call(from_address(), LOGIN, {"e": user.email, "p": PASSWORD})) == ["RATE_LIMITED"]


async def test_an_api_key_has_no_password_to_change(gql: GraphQLClient, tenant: TenantFixture) -> None:
    made = await gql.data(
        'mutation { createApiKey(name: "pw", role: EDITOR) { key errors { code } } }', {}, tenant.token(Role.ADMIN)
    )
    answer = (await gql.data(CHANGE, {"c": PASSWORD, "n": NEW}, made["createApiKey"]["key"]))["changePassword"]
    assert [e["code"] for e in answer["errors"]] == ["NO_PASSWORD"] and answer["token"] is None


# ------------------------------------------------------------------------------------------- admin reset


async def test_an_admin_reset_gives_a_temporary_password_that_only_sets_a_new_one(
    gql: GraphQLClient, state: AppState, settings: Settings, tenant: TenantFixture
) -> None:
    user = await new_user(state, tenant)
    before_reset = earlier_token(settings, user)
    reset = (await gql.data(RESET, {"id": str(user.id)}, tenant.token(Role.ADMIN)))["resetUserPassword"]
    assert reset["errors"] == [] and reset["user"]["mustChangePassword"] is True
    temporary = reset["temporaryPassword"]
    assert len(temporary) >= 16 and temporary != PASSWORD
    assert codes(await gql.raw(ME, {}, before_reset)) == ["UNAUTHENTICATED"], "the user's sessions end"
    assert (await gql.data(LOGIN, {"e": user.email, "p": PASSWORD}))["login"]["token"] is None

    signed_in = (await gql.data(LOGIN, {"e": user.email, "p": temporary}))["login"]
    assert signed_in["token"] and signed_in["user"]["mustChangePassword"] is True
    limited = signed_in["token"]
    # With a temporary password: who am I, and set a new one; nothing else, reads or writes.
    assert (await gql.data(ME, {}, limited))["me"]["user"]["mustChangePassword"] is True
    for document in (WORKFLOWS, CREATE_WORKFLOW):
        body = await gql.raw(document, {}, limited)
        assert codes(body) == ["PASSWORD_CHANGE_REQUIRED"] and body["data"] is None, body

    changed = (await gql.data(CHANGE, {"c": temporary, "n": NEW}, limited))["changePassword"]
    assert changed["errors"] == [] and changed["user"]["mustChangePassword"] is False
    assert (await gql.data(WORKFLOWS, {}, changed["token"]))["workflows"] is not None
    assert (await gql.data(LOGIN, {"e": user.email, "p": temporary}))["login"]["token"] is None, "used once"
    assert (await gql.data(LOGIN, {"e": user.email, "p": NEW}))["login"]["token"]

    actions = [(e.action, e.actor) for e in await audit_entries(state, tenant, user.id)]
    admin = f"user:{tenant.users[Role.ADMIN]}"
    assert ("user.password_reset", admin) in actions and ("user.password_change", f"user:{user.id}") in actions
    stored = json.dumps([e.data for e in await audit_entries(state, tenant, user.id)])
    assert temporary not in stored and NEW not in stored
    async with state.sessions() as s:
        row = await tenants.get_user(s, tenant.id, user.id)
        assert row is not None and row.password_hash and temporary not in row.password_hash


async def test_a_temporary_password_stops_working_when_it_expires(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    user = await new_user(state, tenant)
    reset = (await gql.data(RESET, {"id": str(user.id)}, tenant.token(Role.ADMIN)))["resetUserPassword"]
    expected = utcnow() + timedelta(seconds=state.settings.temporary_password_ttl_s)
    assert abs((datetime.fromisoformat(reset["expiresAt"]) - expected).total_seconds()) < 60
    token = (await gql.data(LOGIN, {"e": user.email, "p": reset["temporaryPassword"]}))["login"]["token"]
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.User)
            .where(models.User.id == user.id)
            .values(password_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await gql.data(LOGIN, {"e": user.email, "p": reset["temporaryPassword"]}))["login"]["token"] is None
    body = await gql.raw(CHANGE, {"c": reset["temporaryPassword"], "n": NEW}, token)
    assert codes(body) == ["UNAUTHENTICATED"] and "expired" in body["errors"][0]["message"], body


async def test_a_reset_is_for_admins_for_others_and_within_the_tenant(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    user = await new_user(state, tenant)
    assert await gql.error_codes(RESET, {"id": str(user.id)}, tenant.token(Role.EDITOR)) == ["FORBIDDEN"]
    own = (await gql.data(RESET, {"id": str(tenant.users[Role.ADMIN])}, tenant.token(Role.ADMIN)))["resetUserPassword"]
    assert [e["code"] for e in own["errors"]] == ["CONFLICT"] and own["temporaryPassword"] is None
    assert "Change password" in own["errors"][0]["message"]
    # Another tenant's user reads exactly like one that does not exist.
    theirs = (await gql.data(RESET, {"id": str(user.id)}, other_tenant.token(Role.ADMIN)))["resetUserPassword"]
    missing = (await gql.data(RESET, {"id": str(uuid.uuid4())}, other_tenant.token(Role.ADMIN)))["resetUserPassword"]
    assert [e["code"] for e in theirs["errors"]] == [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    assert theirs["temporaryPassword"] is None
    assert (await gql.data(LOGIN, {"e": user.email, "p": PASSWORD}))["login"]["token"], "nothing was reset"
