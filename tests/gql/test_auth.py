"""Authentication failure paths: login, forged and broken tokens, current roles, API keys.

Every bad credential must end in a GraphQL error with ``extensions.code == "UNAUTHENTICATED"``,
no data, and a message that never echoes the credential back.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

import studio_gql.auth
from studio_gql.auth import Rechecks
from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_shared.auth import MAX_TOKEN_CHARS, REQUIRED_CLAIMS, Principal, decode_access_token, encode_access_token
from studio_shared.db import models
from studio_shared.errors import Unauthenticated
from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings
from studio_shared.store import tenants
from tests.conftest import PASSWORD, GraphQLClient, TenantFixture

# ---------------------------------------------------------------------------------------------- documents

ME = "{ me { role } }"
ME_FULL = "{ me { role permissions user { id email } tenant { id } } }"
LOGIN = """mutation($e: String!, $p: String!) {
  login(email: $e, password: $p) { token user { id email role } errors { path message code } } }"""
CREATE_WORKFLOW = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id name } errors { path message code } } }"""
SEARCH_WORKFLOWS = """query($s: String!) {
  workflows(search: $s, includeArchived: true) { edges { node { id name } } } }"""
CREATE_USER = """mutation($e: String!, $p: String!, $r: Role!) {
  createUser(email: $e, password: $p, role: $r) { user { id role } errors { path message code } } }"""
SET_ROLE = """mutation($id: ID!, $r: Role!) {
  setUserRole(userId: $id, role: $r) { user { id role } errors { path message code } } }"""
SET_ACTIVE = """mutation($id: ID!, $a: Boolean!) {
  setUserActive(userId: $id, active: $a) { user { id active } errors { path message code } } }"""
CREATE_KEY = """mutation($n: String!, $r: Role!) {
  createApiKey(name: $n, role: $r) { key apiKey { id name role revoked } errors { path message code } } }"""
REVOKE_KEY = """mutation($id: ID!) {
  revokeApiKey(id: $id) { key apiKey { id revoked } errors { path message code } } }"""

MINIMAL_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "start", "type": "trigger.manual", "config": {}}],
    "edges": [],
}


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
async def t(make_tenant: Any) -> TenantFixture:
    """One tenant shared by the module: tests here that change users create their own."""
    result: TenantFixture = await make_tenant()
    return result


@pytest.fixture(scope="module")
async def other(make_tenant: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any], authorization: str | None) -> Any:
    """POST a document with an exact ``Authorization`` value (or none), returning the JSON body."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code", "") for e in body.get("errors") or []]


def assert_unauthenticated(body: dict[str, Any], secret: str | None = None) -> None:
    """UNAUTHENTICATED first, no data, and the presented credential nowhere in the answer."""
    assert body.get("errors"), body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert body.get("data") is None, body
    if secret and len(secret) >= 8:
        text = json.dumps(body)
        assert secret not in text, "the answer echoes the credential"
        # Not even a recognisable part of it (e.g. the signature of a JWT).
        for part in secret.split("."):
            if len(part) >= 16:
                assert part not in text, "the answer echoes part of the credential"


async def assert_rejected_everywhere(
    http: httpx.AsyncClient, gql: GraphQLClient, admin_token: str, authorization: str | None, secret: str | None
) -> None:
    """The credential fails on a query and on a mutation, and the mutation wrote nothing."""
    assert_unauthenticated(await post(http, ME, {}, authorization), secret)
    name = f"must-not-exist-{secrets.token_hex(6)}"
    created = await post(http, CREATE_WORKFLOW, {"n": name, "d": MINIMAL_DEFINITION}, authorization)
    assert_unauthenticated(created, secret)
    found = await gql.data(SEARCH_WORKFLOWS, {"s": name}, admin_token)
    assert found["workflows"]["edges"] == []


async def login(gql: GraphQLClient, email: str, password: str) -> dict[str, Any]:
    data = await gql.data(LOGIN, {"e": email, "p": password})
    result: dict[str, Any] = data["login"]
    return result


async def new_user(state: AppState, tenant: TenantFixture, role: Role) -> tuple[uuid.UUID, str]:
    """A fresh user of ``tenant`` (so tests that disable or demote never touch the shared ones)."""
    email = f"{role.value.lower()}-{secrets.token_hex(5)}@{tenant.slug}.example"
    async with state.sessions.begin() as s:
        user = await tenants.create_user(s, tenant.id, email, PASSWORD, role)
    return user.id, email


# ------------------------------------------------------------------------------------------------- login


async def test_login_returns_a_token_that_works_for_me(gql: GraphQLClient, t: TenantFixture) -> None:
    result = await login(gql, t.emails[Role.EDITOR], PASSWORD)
    assert result["errors"] == []
    assert result["token"]
    assert result["user"]["email"] == t.emails[Role.EDITOR]
    me = (await gql.data(ME_FULL, token=result["token"]))["me"]
    assert me["role"] == "EDITOR"
    assert me["user"] == {"id": str(t.users[Role.EDITOR]), "email": t.emails[Role.EDITOR]}
    assert me["tenant"]["id"] == str(t.id)


async def test_login_email_is_case_insensitive(gql: GraphQLClient, t: TenantFixture) -> None:
    result = await login(gql, t.emails[Role.VIEWER].upper(), PASSWORD)
    assert result["errors"] == []
    assert result["token"]


async def test_unknown_email_and_wrong_password_are_indistinguishable(gql: GraphQLClient, t: TenantFixture) -> None:
    unknown = await login(gql, f"nobody-{secrets.token_hex(4)}@{t.slug}.example", PASSWORD)
    wrong = await login(gql, t.emails[Role.EDITOR], PASSWORD + "!")
    empty = await login(gql, t.emails[Role.EDITOR], "")
    for result in (unknown, wrong, empty):
        assert result["token"] is None
        assert result["user"] is None
        assert [e["code"] for e in result["errors"]] == ["INVALID_CREDENTIALS"]
    assert unknown == wrong == empty  # same code, same message, same path: no account oracle


async def test_disabled_user_cannot_log_in_and_its_token_stops_working(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, t: TenantFixture
) -> None:
    user_id, email = await new_user(state, t, Role.EDITOR)
    before = await login(gql, email, PASSWORD)
    token = before["token"]
    assert token
    assert (await gql.data(ME, token=token))["me"]["role"] == "EDITOR"

    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.User).where(models.User.id == user_id).values(active=False))

    after = await login(gql, email, PASSWORD)
    unknown = await login(gql, f"nobody-{secrets.token_hex(4)}@{t.slug}.example", PASSWORD)
    assert after["token"] is None
    assert after == unknown  # a disabled account reads like an unknown one
    await assert_rejected_everywhere(http, gql, t.token(Role.ADMIN), f"Bearer {token}", token)


async def test_me_without_a_token_is_unauthenticated(http: httpx.AsyncClient) -> None:
    assert_unauthenticated(await post(http, ME, {}, None))


async def test_login_needs_no_token(gql: GraphQLClient, t: TenantFixture) -> None:
    body = await gql.raw(LOGIN, {"e": t.emails[Role.VIEWER], "p": PASSWORD})
    assert not body.get("errors"), body
    assert body["data"]["login"]["token"]


# ------------------------------------------------------------------------------------------ forged tokens

OTHER_KEY = "another-signing-key-" + "z" * 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: object) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: str, digest: str = "sha256") -> str:
    """A JWT built by hand: any header, an HMAC (SHA-256 by default) over ``header.payload`` with ``key``."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


@dataclass(frozen=True)
class Forge:
    """What a forging case may use: the server's settings and a real user of a real tenant."""

    settings: Settings
    tenant: TenantFixture

    def claims(self, who: Role = Role.EDITOR, **overrides: Any) -> dict[str, Any]:
        """Valid claims for the tenant's user of role ``who``; ``overrides`` replace or add claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(self.tenant.users[who]),
            "tenant_id": str(self.tenant.id),
            "role": who.value,
            "iat": now,
            "exp": now + 600,
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
        }
        claims.update(overrides)
        return claims

    def sign(self, claims: dict[str, Any], key: str | None = None) -> str:
        return jwt.encode(claims, key or self.settings.jwt_key(), algorithm="HS256")

    def valid(self, role: Role = Role.EDITOR) -> str:
        return self.sign(self.claims(role))


def _without(claim: str) -> Callable[[Forge], str]:
    def build(f: Forge) -> str:
        claims = f.claims()
        del claims[claim]
        return f"Bearer {f.sign(claims)}"

    return build


def _role_swapped(f: Forge) -> str:
    header, _, signature = f.valid(Role.VIEWER).split(".")
    return f"Bearer {header}.{segment(f.claims(Role.VIEWER, role='ADMIN'))}.{signature}"


def _none_keeping_signature(f: Forge) -> str:
    _, payload, signature = f.valid().split(".")
    return f"Bearer {segment({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"


def _oversized(f: Forge) -> str:
    # Correctly signed, so only the size rule can reject it.
    token = f.sign(f.claims(padding="p" * MAX_TOKEN_CHARS))
    assert len(token) > MAX_TOKEN_CHARS
    return f"Bearer {token}"


BAD_AUTHORIZATION: dict[str, Callable[[Forge], str]] = {
    "expired": lambda f: (
        "Bearer "
        + encode_access_token(
            f.settings, subject=f.tenant.users[Role.EDITOR], tenant_id=f.tenant.id, role=Role.EDITOR, ttl_s=-60
        )
    ),
    "other-signing-key": lambda f: f"Bearer {f.sign(f.claims(), key=OTHER_KEY)}",
    "alg-none": lambda f: f"Bearer {jwt.encode(f.claims(), '', algorithm='none')}",
    "alg-none-uppercase": lambda f: f"Bearer {segment({'alg': 'NONE', 'typ': 'JWT'})}.{segment(f.claims())}.",
    "alg-none-keeping-signature": _none_keeping_signature,
    # By hand: PyJWT warns (rightly) about a 48-byte key for HS512, and warnings are errors here.
    "HS512-right-key": lambda f: (
        "Bearer " + hand_signed({"alg": "HS512", "typ": "JWT"}, f.claims(), f.settings.jwt_key(), "sha512")
    ),
    "RS256-header-hmac-signed": lambda f: (
        "Bearer " + hand_signed({"alg": "RS256", "typ": "JWT"}, f.claims(), f.settings.jwt_key())
    ),
    **{f"missing-{claim}": _without(claim) for claim in REQUIRED_CLAIMS},
    "wrong-aud": lambda f: f"Bearer {f.sign(f.claims(aud='someone-else'))}",
    "wrong-iss": lambda f: f"Bearer {f.sign(f.claims(iss='https://evil.example'))}",
    "role-changed-after-signing": _role_swapped,
    "unknown-role-claim": lambda f: f"Bearer {f.sign(f.claims(role='ROOT'))}",
    "sub-not-a-uuid": lambda f: f"Bearer {f.sign(f.claims(sub='admin'))}",
    "unknown-subject": lambda f: f"Bearer {f.sign(f.claims(sub=str(uuid.uuid4())))}",
    "subject-in-another-tenant": lambda f: f"Bearer {f.sign(f.claims(tenant_id=str(uuid.uuid4())))}",
    "garbage-segments": lambda f: "Bearer abc.def.ghi",
    "not-base64-segments": lambda f: "Bearer !!!!.@@@@.####",
    "two-segments": lambda f: "Bearer " + ".".join(f.valid().split(".")[:2]),
    "four-segments": lambda f: f"Bearer {f.valid()}.extra",
    "truncated-signature": lambda f: f"Bearer {f.valid()[:-3]}",
    "over-4096-chars": _oversized,
    "bearer-empty": lambda f: "Bearer ",
    "bearer-only": lambda f: "Bearer",
    "bearer-spaces": lambda f: "Bearer    ",
    "basic-scheme": lambda f: (
        "Basic " + base64.b64encode(f"{f.tenant.emails[Role.ADMIN]}:{PASSWORD}".encode()).decode()
    ),
    "token-scheme-valid-token": lambda f: f"Token {f.valid()}",
    "no-scheme-valid-token": lambda f: f.valid(),
    "api-key-shaped-garbage": lambda f: "Bearer wst_not-a-key",
}


@pytest.fixture(scope="module")
def forge(settings: Settings, t: TenantFixture) -> Forge:
    return Forge(settings, t)


async def test_forging_helpers_make_accepted_tokens_when_nothing_is_wrong(
    http: httpx.AsyncClient, forge: Forge
) -> None:
    """Controls: the same helpers, used honestly, pass; so each rejection below has the intended cause."""
    honest = [
        forge.valid(),
        hand_signed({"alg": "HS256", "typ": "JWT"}, forge.claims(), forge.settings.jwt_key()),
        forge.sign(forge.claims(padding="p" * 100)),
    ]
    for token in honest:
        body = await post(http, ME, {}, f"Bearer {token}")
        assert body == {"data": {"me": {"role": "EDITOR"}}}, body
    # The scheme is case-insensitive, as RFC 7235 says.
    assert (await post(http, ME, {}, f"bearer {forge.valid()}"))["data"]["me"]["role"] == "EDITOR"


@pytest.mark.parametrize("case", sorted(BAD_AUTHORIZATION))
async def test_bad_credentials_are_unauthenticated(
    case: str, http: httpx.AsyncClient, gql: GraphQLClient, forge: Forge, t: TenantFixture
) -> None:
    authorization = BAD_AUTHORIZATION[case](forge)
    credential = authorization.partition(" ")[2] if " " in authorization else authorization
    await assert_rejected_everywhere(http, gql, t.token(Role.ADMIN), authorization, credential)


async def test_expired_token_says_so(http: httpx.AsyncClient, settings: Settings, t: TenantFixture) -> None:
    token = encode_access_token(settings, subject=t.users[Role.VIEWER], tenant_id=t.id, role=Role.VIEWER, ttl_s=-60)
    body = await post(http, ME, {}, f"Bearer {token}")
    assert_unauthenticated(body, token)
    assert "expired" in body["errors"][0]["message"]


# ------------------------------------------------------------------------------------- the current role


async def test_role_is_the_users_current_role(gql: GraphQLClient, t: TenantFixture) -> None:
    admin = t.token(Role.ADMIN)
    email = f"editor-{secrets.token_hex(5)}@{t.slug}.example"
    created = (await gql.data(CREATE_USER, {"e": email, "p": PASSWORD, "r": "EDITOR"}, admin))["createUser"]
    assert created["errors"] == []
    user_id = created["user"]["id"]
    token = (await login(gql, email, PASSWORD))["token"]
    variables = {"n": f"by-editor-{secrets.token_hex(4)}", "d": MINIMAL_DEFINITION}
    assert (await gql.data(CREATE_WORKFLOW, variables, token))["createWorkflow"]["errors"] == []

    demoted = (await gql.data(SET_ROLE, {"id": user_id, "r": "VIEWER"}, admin))["setUserRole"]
    assert demoted == {"user": {"id": user_id, "role": "VIEWER"}, "errors": []}

    # The token still says EDITOR; the API believes the database.
    assert (await gql.data(ME, token=token))["me"]["role"] == "VIEWER"
    body = await gql.raw(
        CREATE_WORKFLOW, {"n": f"after-demotion-{secrets.token_hex(4)}", "d": MINIMAL_DEFINITION}, token
    )
    assert codes(body) == ["FORBIDDEN"], body
    assert body["data"] is None

    # ... in both directions.
    await gql.data(SET_ROLE, {"id": user_id, "r": "EDITOR"}, admin)
    again = await gql.data(CREATE_WORKFLOW, {"n": f"promoted-{secrets.token_hex(4)}", "d": MINIMAL_DEFINITION}, token)
    assert again["createWorkflow"]["errors"] == []


async def test_disabling_a_user_stops_its_token_and_enabling_it_restores_it(
    gql: GraphQLClient, http: httpx.AsyncClient, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    email = f"leaver-{secrets.token_hex(5)}@{t.slug}.example"
    user_id = (await gql.data(CREATE_USER, {"e": email, "p": PASSWORD, "r": "EDITOR"}, admin))["createUser"]["user"][
        "id"
    ]
    token = (await login(gql, email, PASSWORD))["token"]

    disabled = (await gql.data(SET_ACTIVE, {"id": user_id, "a": False}, admin))["setUserActive"]
    assert disabled == {"user": {"id": user_id, "active": False}, "errors": []}
    await assert_rejected_everywhere(http, gql, admin, f"Bearer {token}", token)
    assert (await login(gql, email, PASSWORD))["token"] is None

    enabled = (await gql.data(SET_ACTIVE, {"id": user_id, "a": True}, admin))["setUserActive"]
    assert enabled["user"]["active"] is True
    assert (await gql.data(ME, token=token))["me"]["role"] == "EDITOR"


async def test_you_cannot_disable_yourself_or_the_last_admin(gql: GraphQLClient, make_tenant: Any) -> None:
    fresh = await make_tenant()
    admin_id = str(fresh.users[Role.ADMIN])
    own = (await gql.data(SET_ACTIVE, {"id": admin_id, "a": False}, fresh.token(Role.ADMIN)))["setUserActive"]
    assert own["user"] is None and [e["code"] for e in own["errors"]] == ["CONFLICT"]
    assert "yourself" in own["errors"][0]["message"]
    # Another admin (an API key acting as admin) still cannot remove the only active admin.
    key = (await create_key(gql, fresh.token(Role.ADMIN), Role.ADMIN))["key"]
    last = (await gql.data(SET_ACTIVE, {"id": admin_id, "a": False}, key))["setUserActive"]
    assert last["user"] is None and "at least one active admin" in last["errors"][0]["message"]
    assert (await gql.data(ME, token=fresh.token(Role.ADMIN)))["me"]["role"] == "ADMIN"


# ------------------------------------------------------------------------------------------------ API keys


async def create_key(gql: GraphQLClient, admin_token: str, role: Role, name: str | None = None) -> dict[str, Any]:
    data = await gql.data(CREATE_KEY, {"n": name or f"key-{secrets.token_hex(4)}", "r": role.value}, admin_token)
    payload: dict[str, Any] = data["createApiKey"]
    assert payload["errors"] == [], payload
    return payload


def tampered(key: str, index: int) -> str:
    """``key`` with the character at ``index`` replaced by a different one of the same alphabet."""
    old = key[index]
    new = next(c for c in "AbC0xyz9-" if c != old)
    return key[:index] + new + key[index + 1 :]


async def test_api_key_is_shown_once_and_never_listed(gql: GraphQLClient, settings: Settings, t: TenantFixture) -> None:
    admin = t.token(Role.ADMIN)
    name = f"ci-{secrets.token_hex(4)}"
    payload = await create_key(gql, admin, Role.EDITOR, name)
    key = payload["key"]
    assert key.startswith("wst_")
    assert payload["apiKey"]["name"] == name
    assert payload["apiKey"]["role"] == "EDITOR"
    assert payload["apiKey"]["revoked"] is False
    secret = key.split("_", 2)[2]
    assert len(secret) >= 32

    # Ask for every field the ApiKey type has: none of them may carry the secret.
    api_key_type = build_schema(settings)._schema.type_map["ApiKey"]
    fields = sorted(api_key_type.fields)  # type: ignore[attr-defined]
    assert not {f for f in fields if "secret" in f.lower() or "hash" in f.lower() or f == "key"}, fields
    selection = " ".join("createdBy { id email }" if f == "createdBy" else f for f in fields)
    listed = await gql.raw(f"{{ apiKeys {{ {selection} }} }}", token=admin)
    assert not listed.get("errors"), listed
    assert payload["apiKey"]["id"] in [k["id"] for k in listed["data"]["apiKeys"]]
    text = json.dumps(listed)
    assert key not in text
    assert secret not in text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_api_key_authenticates_as_its_role(gql: GraphQLClient, t: TenantFixture, role: Role) -> None:
    key = (await create_key(gql, t.token(Role.ADMIN), role))["key"]
    me = (await gql.data(ME_FULL, token=key))["me"]
    assert me["role"] == role.value
    assert me["user"] is None
    assert me["tenant"]["id"] == str(t.id)
    variables = {"n": f"by-key-{secrets.token_hex(4)}", "d": MINIMAL_DEFINITION}
    body = await gql.raw(CREATE_WORKFLOW, variables, key)
    if role is Role.VIEWER:
        assert codes(body) == ["FORBIDDEN"], body
        assert body["data"] is None
        # A key cannot mint itself a better key either.
        escalate = await gql.raw(CREATE_KEY, {"n": "escalate", "r": "ADMIN"}, key)
        assert codes(escalate) == ["FORBIDDEN"], escalate
    else:
        assert not body.get("errors"), body
        assert body["data"]["createWorkflow"]["errors"] == []


async def test_revoked_api_key_is_unauthenticated(
    gql: GraphQLClient, http: httpx.AsyncClient, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    payload = await create_key(gql, admin, Role.EDITOR)
    key = payload["key"]
    assert (await gql.data(ME, token=key))["me"]["role"] == "EDITOR"
    revoked = (await gql.data(REVOKE_KEY, {"id": payload["apiKey"]["id"]}, admin))["revokeApiKey"]
    assert revoked == {"key": None, "apiKey": {"id": payload["apiKey"]["id"], "revoked": True}, "errors": []}
    await assert_rejected_everywhere(http, gql, admin, f"Bearer {key}", key)


CREATE_EXPIRING_KEY = """mutation($n: String!, $x: DateTime) {
  createApiKey(name: $n, role: VIEWER, expiresAt: $x) { key apiKey { id expiresAt } errors { path message code } } }"""


async def test_an_expired_api_key_is_refused_like_an_unknown_one(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    expiry = datetime.now(UTC) + timedelta(days=30)
    made = (await gql.data(CREATE_EXPIRING_KEY, {"n": "expiring", "x": expiry.isoformat()}, admin))["createApiKey"]
    assert made["errors"] == [], made
    assert datetime.fromisoformat(made["apiKey"]["expiresAt"]) == expiry
    key = made["key"]
    assert (await gql.data(ME, token=key))["me"]["role"] == "VIEWER"
    listed = (await gql.data("{ apiKeys { id expiresAt lastUsedAt } }", token=admin))["apiKeys"]
    row = next(k for k in listed if k["id"] == made["apiKey"]["id"])
    assert datetime.fromisoformat(row["expiresAt"]) == expiry and row["lastUsedAt"] is not None

    async with state.sessions.begin() as s:  # time passes
        await s.execute(
            sa.update(models.ApiKey)
            .where(models.ApiKey.id == uuid.UUID(made["apiKey"]["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await assert_rejected_everywhere(http, gql, admin, f"Bearer {key}", key)
    unknown = "wst_" + uuid.uuid4().hex + "_" + secrets.token_urlsafe(32)
    expired_answer = await post(http, ME, {}, f"Bearer {key}")
    unknown_answer = await post(http, ME, {}, f"Bearer {unknown}")
    assert expired_answer == unknown_answer, "an expired key reads exactly like an unknown one"


@pytest.mark.parametrize(
    ("expiry", "message"),
    [
        (lambda: datetime.now(UTC) - timedelta(minutes=1), "must lie in the future"),
        (lambda: datetime.now(UTC) + timedelta(days=366), "at most 365 days"),
        (lambda: datetime.now() + timedelta(days=1), "time zone"),
    ],
    ids=["past", "beyond-the-maximum", "no-time-zone"],
)
async def test_an_api_key_expiry_must_be_in_the_future_and_within_the_maximum(
    gql: GraphQLClient, t: TenantFixture, expiry: Callable[[], datetime], message: str
) -> None:
    admin = t.token(Role.ADMIN)
    before = len((await gql.data("{ apiKeys { id } }", token=admin))["apiKeys"])
    name = f"refused-{secrets.token_hex(4)}"
    answer = (await gql.data(CREATE_EXPIRING_KEY, {"n": name, "x": expiry().isoformat()}, admin))["createApiKey"]
    assert answer["key"] is None and answer["apiKey"] is None
    [error] = answer["errors"]
    assert error["path"] == ["expiresAt"] and message in error["message"], error
    assert len((await gql.data("{ apiKeys { id } }", token=admin))["apiKeys"]) == before, "nothing half-written"


async def test_tampered_api_key_is_unauthenticated(
    gql: GraphQLClient, http: httpx.AsyncClient, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    key = (await create_key(gql, admin, Role.ADMIN))["key"]
    assert (await gql.data(ME, token=key))["me"]["role"] == "ADMIN"
    secret_start = key.index("_", len("wst_")) + 1
    variants = [
        tampered(key, len(key) - 1),  # last character of the secret
        tampered(key, secret_start + 5),  # inside the secret
        tampered(key, len("wst_") + 3),  # inside the key id: another (unknown) key
        key[:-1],  # one character short
        key + "A",  # one character long
        key[:secret_start],  # the id without its secret
    ]
    for variant in variants:
        assert variant != key
        await assert_rejected_everywhere(http, gql, admin, f"Bearer {variant}", variant)


async def test_another_tenants_key_cannot_be_revoked(
    gql: GraphQLClient, t: TenantFixture, other: TenantFixture
) -> None:
    theirs = await create_key(gql, other.token(Role.ADMIN), Role.VIEWER)
    key_id = theirs["apiKey"]["id"]
    attempt = (await gql.data(REVOKE_KEY, {"id": key_id}, t.token(Role.ADMIN)))["revokeApiKey"]
    assert attempt["apiKey"] is None
    assert [e["code"] for e in attempt["errors"]] == ["NOT_FOUND"]
    # Exactly what a key id that never existed gets.
    unknown = str(uuid.uuid4())
    never = (await gql.data(REVOKE_KEY, {"id": unknown}, t.token(Role.ADMIN)))["revokeApiKey"]
    assert json.dumps(attempt).replace(key_id, "<id>") == json.dumps(never).replace(unknown, "<id>")
    # ... and their key still works.
    assert (await gql.data(ME, token=theirs["key"]))["me"]["role"] == "VIEWER"
    listed = (await gql.data("{ apiKeys { id revoked } }", token=other.token(Role.ADMIN)))["apiKeys"]
    assert {"id": key_id, "revoked": False} in listed


# ------------------------------------------------------------------- API keys follow the user they act for


async def user_token(state: AppState, tenant: TenantFixture, role: Role) -> tuple[uuid.UUID, str]:
    """A fresh user of ``tenant`` and an access token of theirs."""
    user_id, _ = await new_user(state, tenant, role)
    return user_id, encode_access_token(state.settings, subject=user_id, tenant_id=tenant.id, role=role)


async def test_an_admins_key_stops_when_she_is_demoted_and_disabled(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, t: TenantFixture
) -> None:
    """The attack: an ADMIN makes an ADMIN key, is demoted to VIEWER and disabled; with the key she would still
    be ADMIN, create an ADMIN user and re-enable and re-promote herself."""
    admin = t.token(Role.ADMIN)
    her_id, her_token = await user_token(state, t, Role.ADMIN)
    key = (await create_key(gql, her_token, Role.ADMIN))["key"]
    assert (await gql.data(ME, token=key))["me"]["role"] == "ADMIN"

    assert (await gql.data(SET_ROLE, {"id": str(her_id), "r": "VIEWER"}, admin))["setUserRole"]["errors"] == []
    assert (await gql.data(SET_ACTIVE, {"id": str(her_id), "a": False}, admin))["setUserActive"]["errors"] == []
    assert_unauthenticated(await post(http, ME, {}, f"Bearer {her_token}"), her_token)

    await assert_rejected_everywhere(http, gql, admin, f"Bearer {key}", key)
    accomplice = f"accomplice-{secrets.token_hex(4)}@{t.slug}.example"
    made = await post(http, CREATE_USER, {"e": accomplice, "p": PASSWORD, "r": "ADMIN"}, f"Bearer {key}")
    assert_unauthenticated(made, key)
    assert_unauthenticated(await post(http, SET_ACTIVE, {"id": str(her_id), "a": True}, f"Bearer {key}"), key)
    assert_unauthenticated(await post(http, SET_ROLE, {"id": str(her_id), "r": "ADMIN"}, f"Bearer {key}"), key)
    async with state.sessions() as s:
        her = await s.get(models.User, her_id)
        assert her is not None and (her.role, her.active) == (Role.VIEWER, False)
        assert await s.scalar(sa.select(models.User.id).where(models.User.email == accomplice)) is None

    # Enabled again, as a VIEWER: the key works again, as a VIEWER.
    assert (await gql.data(SET_ACTIVE, {"id": str(her_id), "a": True}, admin))["setUserActive"]["errors"] == []
    assert (await gql.data(ME, token=key))["me"]["role"] == "VIEWER"


async def test_a_key_acts_with_the_lesser_of_its_role_and_its_creators(
    gql: GraphQLClient, state: AppState, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    creator_id, creator_token = await user_token(state, t, Role.ADMIN)
    admin_key = (await create_key(gql, creator_token, Role.ADMIN))["key"]
    viewer_key = (await create_key(gql, creator_token, Role.VIEWER))["key"]

    await gql.data(SET_ROLE, {"id": str(creator_id), "r": "OPERATOR"}, admin)
    me = (await gql.data("{ me { role permissions } }", token=admin_key))["me"]
    assert me["role"] == "OPERATOR"
    assert "run:start" in me["permissions"] and "user:manage" not in me["permissions"]
    escalate = await gql.raw(
        CREATE_USER, {"e": f"x-{secrets.token_hex(4)}@{t.slug}.example", "p": PASSWORD, "r": "ADMIN"}, admin_key
    )
    assert codes(escalate) == ["FORBIDDEN"], escalate
    # A key's own lower role stays its limit.
    assert (await gql.data(ME, token=viewer_key))["me"]["role"] == "VIEWER"

    # Promoted again: the key is back to its own role, never above it.
    await gql.data(SET_ROLE, {"id": str(creator_id), "r": "ADMIN"}, admin)
    assert (await gql.data(ME, token=admin_key))["me"]["role"] == "ADMIN"
    assert (await gql.data(ME, token=viewer_key))["me"]["role"] == "VIEWER"


async def test_a_key_made_with_a_key_acts_for_the_same_user(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, t: TenantFixture
) -> None:
    admin = t.token(Role.ADMIN)
    creator_id, creator_token = await user_token(state, t, Role.ADMIN)
    first = await create_key(gql, creator_token, Role.ADMIN)
    second = await create_key(gql, first["key"], Role.EDITOR)
    listed = (await gql.data("{ apiKeys { id createdBy { id } } }", token=admin))["apiKeys"]
    made_by = {k["id"]: (k["createdBy"] or {}).get("id") for k in listed}
    assert made_by[first["apiKey"]["id"]] == made_by[second["apiKey"]["id"]] == str(creator_id)

    await gql.data(SET_ROLE, {"id": str(creator_id), "r": "VIEWER"}, admin)
    assert (await gql.data(ME, token=second["key"]))["me"]["role"] == "VIEWER"
    await gql.data(SET_ACTIVE, {"id": str(creator_id), "a": False}, admin)
    await assert_rejected_everywhere(http, gql, admin, f"Bearer {second['key']}", second["key"])


async def test_admins_see_who_made_each_key_and_when_it_was_last_used(
    gql: GraphQLClient, state: AppState, t: TenantFixture
) -> None:
    creator_id, creator_token = await user_token(state, t, Role.ADMIN)
    made = await create_key(gql, creator_token, Role.VIEWER)
    query = "{ apiKeys { id lastUsedAt createdBy { id email role active } } }"

    def row(listed: list[dict[str, Any]]) -> dict[str, Any]:
        return next(k for k in listed if k["id"] == made["apiKey"]["id"])

    before = row((await gql.data(query, token=t.token(Role.ADMIN)))["apiKeys"])
    assert before["lastUsedAt"] is None
    assert before["createdBy"]["id"] == str(creator_id) and before["createdBy"]["role"] == "ADMIN"
    await gql.data(ME, token=made["key"])
    after = row((await gql.data(query, token=t.token(Role.ADMIN)))["apiKeys"])
    assert after["lastUsedAt"] is not None


def test_a_token_has_one_accepted_spelling() -> None:
    """The same signature in standard base64 (``+/``, padding) is another token: refused, not decoded leniently."""
    settings = Settings(env=Env.TEST, jwt_secret="k" * 40, secret_key="s" * 40)
    for _ in range(50):  # until a signature holds a '-' or '_' (its standard spelling then differs)
        token = encode_access_token(settings, subject=uuid.uuid4(), tenant_id=uuid.uuid4(), role=Role.VIEWER)
        head, body, signature = token.split(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        standard = base64.b64encode(raw).decode()
        if standard != signature:
            break
    assert decode_access_token(settings, token).role is Role.VIEWER
    with pytest.raises(Unauthenticated):
        decode_access_token(settings, f"{head}.{body}.{standard}")
    with pytest.raises(Unauthenticated):
        decode_access_token(settings, f"{token}==")


# ------------------------------------------------------------------- the websocket credential re-check


class _Users:
    """Stands in for ``authenticate``: counts database reads and answers as told."""

    def __init__(self, answer: Principal | Exception) -> None:
        self.answer = answer
        self.reads = 0

    async def __call__(self, state: AppState, authorization: object) -> Principal:
        self.reads += 1
        await asyncio.sleep(0.01)  # a database round trip: concurrent checks overlap it
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_rechecks_of_one_credential_share_a_read_per_ttl(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = Principal(tenant_id=tenant.id, role=Role.VIEWER, user_id=tenant.users[Role.VIEWER])
    users = _Users(principal)
    monkeypatch.setattr(studio_gql.auth, "authenticate", users)
    rechecks = Rechecks(ttl_s=0.2)
    bearer = f"Bearer {tenant.token(Role.VIEWER)}"
    assert await asyncio.gather(*(rechecks.check(state, bearer) for _ in range(50))) == [principal] * 50
    assert users.reads == 1, "fifty sockets of one user read it once"
    await asyncio.sleep(0.25)
    await rechecks.check(state, bearer)
    assert users.reads == 2, "after the ttl the user is read again: a change is noticed"
    other = f"Bearer {tenant.token(Role.ADMIN)}"
    await rechecks.check(state, other)
    assert users.reads == 3, "another credential has its own read"


async def test_a_recheck_refuses_an_expired_token_whatever_is_cached(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = Principal(tenant_id=tenant.id, role=Role.VIEWER, user_id=tenant.users[Role.VIEWER])
    monkeypatch.setattr(studio_gql.auth, "authenticate", _Users(principal))
    rechecks = Rechecks(ttl_s=60)
    token = encode_access_token(
        state.settings, subject=tenant.users[Role.VIEWER], tenant_id=tenant.id, role=Role.VIEWER, ttl_s=1
    )
    assert await rechecks.check(state, f"Bearer {token}") == principal
    expired_at = jwt.decode(token, options={"verify_signature": False})["exp"]

    class Later(datetime):  # PyJWT's clock, a minute past the token's expiry and leeway
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Later:
            return cls.fromtimestamp(expired_at + 60, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    with pytest.raises(Unauthenticated, match="expired"):
        await rechecks.check(state, f"Bearer {token}")


async def test_a_recheck_remembers_a_refusal_but_not_a_database_error(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bearer = f"Bearer {tenant.token(Role.VIEWER)}"
    refused = _Users(Unauthenticated("this account no longer exists or was disabled"))
    monkeypatch.setattr(studio_gql.auth, "authenticate", refused)
    rechecks = Rechecks(ttl_s=60)
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="disabled"):
            await rechecks.check(state, bearer)
    assert refused.reads == 1

    broken = _Users(ConnectionError("the database went away"))
    monkeypatch.setattr(studio_gql.auth, "authenticate", broken)
    rechecks = Rechecks(ttl_s=60)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await rechecks.check(state, bearer)
    assert broken.reads == 2, "an error is not an answer: the next check reads again"
