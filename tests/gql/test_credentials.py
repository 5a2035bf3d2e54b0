"""Credentials: write-only values encrypted at rest (rotatable keys), metadata-only reads, clear errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from studio_gql.state import AppState
from studio_shared.credentials import ResolvedCredential
from studio_shared.crypto import DecryptionFailed, SecretBox, configured_secrets
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from tests.conftest import GraphQLClient, TenantFixture

CREATE = """mutation($input: CredentialInput!) {
  createCredential(input: $input) { credential { id name kind allowedHosts } errors { path message code } } }"""
CANARY = "canary-token-7f3a9c1e5b"


async def create(gql: GraphQLClient, t: TenantFixture, **input: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(CREATE, {"input": input}, t.token(Role.ADMIN)))["createCredential"]
    return payload


async def test_value_is_write_only_and_encrypted_at_rest(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    made = await create(
        gql, tenant, name="github", kind="bearer", value={"token": CANARY}, allowedHosts=["API.github.com", "*.x.io"]
    )
    assert made["errors"] == []
    assert made["credential"] == {
        "id": made["credential"]["id"],
        "name": "github",
        "kind": "bearer",
        "allowedHosts": ["*.x.io", "api.github.com"],
    }
    listed = await gql.raw("{ credentials { id name kind allowedHosts createdAt } }", token=tenant.token())
    assert CANARY not in str(listed) and listed["data"]["credentials"][0]["name"] == "github"
    async with state.sessions() as s:
        stored = await s.scalar(
            sa.select(models.Credential.value_encrypted).where(models.Credential.tenant_id == tenant.id)
        )
    assert stored is not None and CANARY not in stored
    assert state.box.open(stored) == {"token": CANARY}


@pytest.mark.parametrize(
    ("input", "path", "fragment"),
    [
        ({"name": "x", "kind": "nope", "value": {"token": CANARY}}, ["kind"], "use one of: bearer, basic"),
        ({"name": "x", "kind": "bearer", "value": {"tok": CANARY}}, ["value"], "need token"),
        ({"name": "x", "kind": "basic", "value": {"username": "u"}}, ["value"], "need username, password"),
        ({"name": "x", "kind": "bearer", "value": CANARY}, ["value"], "not valid"),
        (
            {"name": "x", "kind": "header", "value": {"name": "bad header", "value": CANARY}},
            ["value", "name"],
            "not valid",
        ),
        (
            {"name": "x", "kind": "openai", "value": {"api_key": CANARY, "base_url": "ftp://x"}},
            ["value", "base_url"],
            "",
        ),
        (
            {
                "name": "x",
                "kind": "smtp",
                "value": {"host": "smtp.example.org", "from": "a@example.org", "password": CANARY},
            },
            ["value"],
            "a username and a password together, or neither",
        ),
        (
            {"name": "x", "kind": "smtp", "value": {"host": f"{CANARY} x", "from": "a@example.org"}},
            ["value", "host"],
            "host must be a host name or IP address",
        ),
        (
            {"name": "x", "kind": "postgres", "value": {"host": "db", "database": "d", "password": CANARY}},
            ["value"],
            "postgres credentials need host, database, user",
        ),
        (
            {"name": "x", "kind": "postgres", "value": {"host": "db", "database": "d", "user": "u", "dsn": CANARY}},
            ["value"],
            "postgres credentials take only: host, port, database, user, password, sslmode",
        ),
        ({"name": "../etc", "kind": "bearer", "value": {"token": CANARY}}, ["name"], "letters, digits"),
        (
            {"name": "x", "kind": "bearer", "value": {"token": CANARY}, "allowedHosts": ["http://a"]},
            ["allowedHosts", "0"],
            "host name",
        ),
    ],
)
async def test_bad_input_says_what_to_fix_without_echoing_the_value(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, input: dict[str, Any], path: list[str], fragment: str
) -> None:
    made = await create(gql, tenant, **input)
    assert made["credential"] is None
    assert {tuple(e["path"]) for e in made["errors"]} == {tuple(path)}
    assert any(fragment in e["message"] for e in made["errors"])
    assert CANARY not in str(made)
    async with state.sessions() as s:
        assert (
            await s.scalar(
                sa.select(sa.func.count())
                .select_from(models.Credential)
                .where(models.Credential.tenant_id == tenant.id)
            )
            == 0
        )


async def test_duplicate_name_conflicts_and_delete_frees_it(gql: GraphQLClient, tenant: TenantFixture) -> None:
    first = await create(gql, tenant, name="dup", kind="bearer", value={"token": "one-token"})
    again = await create(gql, tenant, name="dup", kind="bearer", value={"token": "two-token"})
    assert [e["code"] for e in again["errors"]] == ["CONFLICT"]
    deleted = await gql.data(
        "mutation($id: ID!) { deleteCredential(id: $id) { deletedId errors { code } } }",
        {"id": first["credential"]["id"]},
        tenant.token(),
    )
    assert deleted["deleteCredential"] == {"deletedId": first["credential"]["id"], "errors": []}
    assert (await create(gql, tenant, name="dup", kind="bearer", value={"token": "two-token"}))["errors"] == []


async def test_only_admins_manage_credentials(gql: GraphQLClient, tenant: TenantFixture) -> None:
    for role in (Role.EDITOR, Role.OPERATOR, Role.VIEWER):
        codes = await gql.error_codes("{ credentials { id } }", token=tenant.token(role))
        assert codes == ["FORBIDDEN"]


def box(*keys: str) -> SecretBox:
    return SecretBox(configured_secrets(Settings(secret_key=SecretStr(",".join(keys)))))


def test_key_rotation_keeps_old_values_readable_until_rotated() -> None:
    old, new = "o" * 40, "n" * 40
    sealed = box(old).seal({"token": CANARY})
    rotating = box(new, old)
    assert rotating.open(sealed) == {"token": CANARY}
    rotated = rotating.rotate(sealed)
    assert box(new).open(rotated) == {"token": CANARY}
    with pytest.raises(DecryptionFailed):
        box(new).open(sealed)
    with pytest.raises(DecryptionFailed):
        box(old).open(rotated)


def test_signed_links_expire_and_bind_their_subject() -> None:
    keys = box("k" * 40)
    expires = int(time.time()) + 3600  # verified against the real clock below: an hour, not a minute, load cannot eat
    signature = keys.sign("artifact:t:1", expires)
    assert keys.verify("artifact:t:1", expires, signature)
    assert not keys.verify("artifact:t:2", expires, signature)
    assert not keys.verify("artifact:t:1", expires + 1, signature)
    assert not keys.verify("artifact:t:1", expires, signature, now=expires + 1)
    assert not box("z" * 40).verify("artifact:t:1", expires, signature)
    assert box("z" * 40, "k" * 40).verify("artifact:t:1", expires, signature)  # an old key still verifies


@pytest.mark.parametrize(
    ("kind", "value", "allowed", "host", "ok"),
    [
        ("bearer", {"token": "t" * 8}, None, "anything.example", True),
        ("bearer", {"token": "t" * 8}, ("api.example.org",), "api.example.org", True),
        ("bearer", {"token": "t" * 8}, ("api.example.org",), "evil.example.org", False),
        ("bearer", {"token": "t" * 8}, ("api.example.org",), "api.example.org.evil.io", False),
        ("bearer", {"token": "t" * 8}, ("*.example.org",), "a.b.example.org", True),
        ("bearer", {"token": "t" * 8}, ("*.example.org",), "example.org", False),
        ("bearer", {"token": "t" * 8}, ("*.example.org",), "badexample.org", False),
        ("openai", {"api_key": "k" * 8, "base_url": "http://127.0.0.1:9/v1"}, None, "127.0.0.1", True),
        ("openai", {"api_key": "k" * 8}, None, "api.openai.com", True),
        ("openai", {"api_key": "k" * 8}, None, "attacker.example", False),
    ],
)
def test_host_allowlist(kind: str, value: dict[str, Any], allowed: tuple[str, ...] | None, host: str, ok: bool) -> None:
    assert ResolvedCredential("c", kind, value, allowed).host_allowed(host) is ok


def test_secrets_cover_encoded_forms() -> None:
    basic = ResolvedCredential("c", "basic", {"username": "me", "password": "pa55word"}, None)
    assert "pa55word" in basic.secrets()
    assert basic.headers()["Authorization"] in basic.secrets()  # the base64 form would leak the password too
