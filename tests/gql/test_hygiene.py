"""Hostile or oversized GraphQL documents are rejected before any resolver runs; internals stay masked."""

from __future__ import annotations

import json

import httpx
import pytest

from studio_gql.schema import build_schema
from studio_gql.schema import workflows as workflow_schema
from studio_shared.settings import Settings
from tests.conftest import GraphQLClient, TenantFixture


def _messages(body: dict) -> str:
    return " ".join(e["message"] for e in body.get("errors", []))


async def test_depth_limit() -> None:
    schema = build_schema(Settings(graphql_max_depth=5))
    deep = "{ workflows { edges { node { versions { edges { node { id } } } } } } }"
    result = await schema.execute(deep)
    assert result.data is None
    assert "exceeds maximum operation depth of 5" in " ".join(e.message for e in result.errors or [])
    shallow = await schema.execute("{ workflows { edges { node { id } } } }")
    assert "depth" not in " ".join(e.message for e in shallow.errors or [])


async def test_alias_flood_is_rejected(gql: GraphQLClient, tenant: TenantFixture) -> None:
    flood = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(31)) + " }"
    body = await gql.raw(flood, token=tenant.token())
    assert body.get("data") is None and "aliases found" in _messages(body)
    ok = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(5)) + " }"
    assert (await gql.data(ok, token=tenant.token()))["a4"]["role"] == "ADMIN"


async def test_aliases_reached_through_fragments_count(gql: GraphQLClient, tenant: TenantFixture) -> None:
    fragment = "fragment F on Query { " + " ".join(f"f{i}: me {{ role }}" for i in range(10)) + " }"
    document = (
        "query { ...F ... on Query { ...F } x: me { ...G } } fragment G on Viewer { ...H } fragment H on Viewer { a: role b: role } "
        + fragment
    )
    document = document.replace("x: me { ...G }", "x: me { ...G } y: me { ...G } ...F")
    body = await gql.raw(document, token=tenant.token())
    assert body.get("data") is None and "aliases found" in _messages(body)


async def test_token_limit(gql: GraphQLClient, tenant: TenantFixture) -> None:
    huge = "{ me { " + " ".join(["role"] * 5000) + " } }"
    body = await gql.raw(huge, token=tenant.token())
    assert body.get("data") is None and "token" in _messages(body).lower()


async def test_batched_requests_are_refused(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await http.post(
        "/graphql",
        json=[{"query": "{ me { role } }"}, {"query": "{ me { role } }"}],
        headers={"Authorization": f"Bearer {tenant.token()}"},
    )
    assert response.status_code == 400


async def test_oversized_body_is_413_with_a_json_reason(http: httpx.AsyncClient) -> None:
    body = json.dumps({"query": "{ me { role } }", "variables": {"pad": "x" * 1_100_000}})
    response = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


async def test_streamed_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    async def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(12):
            yield b" " * 100_000

    response = await http.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("payload", [b"{not json", b'{"query": "{ me { role } }"\xff\xfe}', b'"just a string"', b"[]"])
async def test_malformed_bodies_are_client_errors(http: httpx.AsyncClient, payload: bytes) -> None:
    response = await http.post("/graphql", content=payload, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500


async def test_unexpected_errors_are_masked(
    gql: GraphQLClient, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("canary-internal-detail postgresql://user:pw@db")

    monkeypatch.setattr(workflow_schema.store, "list_workflows", boom)
    body = await gql.raw("{ workflows { edges { node { id } } } }", token=tenant.token())
    assert body["errors"][0]["message"] == "Internal error; it has been logged."
    assert "canary" not in json.dumps(body) and "postgresql" not in json.dumps(body)


async def test_syntax_errors_are_explained_not_masked(gql: GraphQLClient, tenant: TenantFixture) -> None:
    body = await gql.raw("{ me { role ", token=tenant.token())
    assert "Syntax Error" in _messages(body)
    body = await gql.raw("{ me { nope } }", token=tenant.token())
    assert "Cannot query field 'nope'" in _messages(body)


async def test_mutations_are_not_accepted_over_get(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/graphql", params={"query": 'mutation { login(email: "a@b.c", password: "x") { token } }'}
    )
    assert response.status_code in {400, 404, 405}
