"""Hostile or oversized GraphQL documents are rejected before any resolver runs; internals stay masked."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from studio_gql.hygiene.limits import DepthRule
from studio_gql.hygiene.validation import VALIDATION_CACHE_SIZE
from studio_gql.schema import build_schema
from studio_gql.schema import workflows as workflow_schema
from studio_gql.state import AppState
from studio_shared.settings import Env, Settings
from tests.conftest import GraphQLClient, TenantFixture
from tests.timing import HANG_S


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


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """From now on, records each validation of any document: the depth rule class it was built from."""
    walks: list[type] = []
    real = DepthRule.__init__

    def counting(self: DepthRule, context: Any) -> None:
        walks.append(type(self))
        real(self, context)

    monkeypatch.setattr(DepthRule, "__init__", counting)
    return walks


@pytest.mark.parametrize("env", [Env.DEVELOPMENT, Env.PRODUCTION])
async def test_a_document_is_validated_once_and_refused_every_time(monkeypatch: pytest.MonkeyPatch, env: Env) -> None:
    """Validation is cached per document: a refused document stays refused, a valid one keeps working, and the rules
    run once per document (the subscriber fleet sends the same few documents thousands of times), with rule classes
    built once for the schema, not per operation (Strawberry's own cache, keyed on them, would miss every time)."""
    walks = _count_validations(monkeypatch)
    schema = build_schema(Settings(env=env, jwt_secret="j" * 32, secret_key="k" * 32, graphql_max_depth=5))
    deep = "{ workflows { edges { node { versions { edges { node { id } } } } } } }"
    for _ in range(3):
        refused = await schema.execute(deep)
        assert refused.data is None
        assert "exceeds maximum operation depth of 5" in " ".join(e.message for e in refused.errors or [])
    for _ in range(3):
        ok = await schema.execute("{ nodeTypes { type } }")
        assert not [e for e in ok.errors or [] if "depth" in e.message or "Cannot query" in e.message]
    assert len(walks) == 2, "each document is validated once"
    assert walks[0] is walks[1], "both documents were validated with the same rule classes"


async def test_the_validation_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client sending ever new documents cannot grow the cache: once as many others came after it, a document is
    validated again."""
    walks = _count_validations(monkeypatch)
    schema = build_schema(Settings())
    first = "{ firstUnknownField }"
    for _ in range(2):
        assert (await schema.execute(first)).errors
    assert len(walks) == 1
    for i in range(VALIDATION_CACHE_SIZE):
        assert (await schema.execute(f"{{ unknownField{i} }}")).errors
    assert len(walks) == 1 + VALIDATION_CACHE_SIZE
    assert (await schema.execute(first)).errors
    assert len(walks) == 2 + VALIDATION_CACHE_SIZE, "the first document was dropped and validated again"


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


# --- regressions found by `python -m reliability hostile-graphql` ------------------------------------------------


def _fan_out(levels: int, leaf: str, on: str = "Query") -> str:
    """Fragments that each spread the next one twice: 2^levels spreads in a document of a few KB."""
    spreads = " ".join(f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"{spreads} fragment F{levels} on {on} {{ {leaf} }}"


async def test_a_fragment_fan_out_is_counted_once_per_fragment() -> None:
    """Strawberry's limiters walked a fragment again at every spread: 2^22 spreads took them ~20 s of blocked event
    loop, 2^24 over a minute (22 levels here, so a regression fails on the clock rather than hanging)."""
    schema = build_schema(Settings())
    deep_leaf = "webhooks { workflow { " * 5 + "id" + " } }" * 5
    started = time.perf_counter()
    aliases = await schema.execute("query { ...F0 } " + _fan_out(22, "a: me { role }"))
    deep = await schema.execute("{ workflows { edges { node { ...F0 } } } } " + _fan_out(22, deep_leaf, "Workflow"))
    assert time.perf_counter() - started < HANG_S  # the regression: ~20 s for each of the two
    assert f"{2**22} aliases found. Allowed: 30" in " ".join(e.message for e in aliases.errors or [])
    assert "exceeds maximum operation depth of 12" in " ".join(e.message for e in deep.errors or [])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"query": "{ me { role } }", "variables": {"d": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "nested"),
        (b'{"query": "{ me { role } }", "variables": {"d": ' + b"[" * 200 + b"]" * 200 + b"}}", "nested"),
        (b'{"query": "{ me { role } }", "variables": {"n": ' + b"9" * 5000 + b"}}", "digits"),
        (b'{"query": "{ me { role } }", "variables": {"n": NaN}}', "NaN"),
        (b'{"query": "{ me { role } }", "variables": {"n": 1e400}}', "out of range"),
        (b'{"query": "{ me { role } }", "variables": {"n": "a\\u0000b"}}', "U+0000"),
        (b'{"query": "{ me { role } }", "variables": {"a\\u0000": 1}}', "U+0000"),
        (b'{"query": "{ me { role } }", "variables": {"n": "\\ud800"}}', "surrogate"),
    ],
    ids=["deep-5000", "deep-200", "huge-integer", "nan", "infinity", "nul", "nul-key", "surrogate"],
)
async def test_json_that_nothing_could_store_is_a_400(
    http: httpx.AsyncClient, tenant: TenantFixture, body: bytes, fragment: str
) -> None:
    """These were 500s (recursion, the int digit limit) or masked errors from PostgreSQL (NUL, surrogates, NaN)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tenant.token()}"}
    response = await http.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert fragment in response.text


async def test_nul_in_a_string_literal_is_refused_before_any_resolver(
    gql: GraphQLClient, tenant: TenantFixture
) -> None:
    body = await gql.raw('{ workflows(search: "a\\u0000b") { edges { node { id } } } }', token=tenant.token())
    assert body.get("data") is None and "U+0000" in _messages(body)


async def test_a_variable_of_the_wrong_type_is_explained_not_masked(gql: GraphQLClient, tenant: TenantFixture) -> None:
    query = "query($f: Int) { workflows(first: $f) { edges { node { id } } } }"
    body = await gql.raw(query, {"f": "abc"}, token=tenant.token())
    assert "Variable '$f'" in _messages(body) and "Internal error" not in _messages(body)


async def test_several_operations_need_an_operation_name(gql: GraphQLClient, tenant: TenantFixture) -> None:
    """Strawberry ran the first operation of a document when no operationName was given."""
    create = 'createWorkflow(input: {{name: "{}", definition: {{nodes: [{{id: "start", type: "trigger.manual", config: {{}}}}], edges: []}}}}) {{ errors {{ code }} }}'
    document = f"mutation A {{ {create.format('two-ops-a')} }} mutation B {{ {create.format('two-ops-b')} }}"
    body = await gql.raw(document, token=tenant.token())
    assert body.get("data") is None and "operationName" in _messages(body)
    found = await gql.data('{ workflows(search: "two-ops") { edges { node { id } } } }', token=tenant.token())
    assert found["workflows"]["edges"] == []


async def test_a_subscription_over_http_is_refused_with_a_reason(gql: GraphQLClient, tenant: TenantFixture) -> None:
    body = await gql.raw("subscription { runUpdates { id } }", token=tenant.token())
    assert "websocket" in _messages(body) and "Internal error" not in _messages(body)


@pytest.mark.parametrize(
    "message",
    [
        '{"id": "1", "type": "subscribe", "payload": "{ me { role } }"}',
        '{"id": "1", "type": "subscribe", "payload": {"query": 5}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ me { role } }", "variables": [1]}}',
        "[1, 2]",
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ me { role } }", "variables": {"d": '
        + "[" * 5000
        + "]" * 5000
        + "}}}",
    ],
    ids=["payload-string", "query-number", "variables-list", "array", "deep"],
)
async def test_a_malformed_websocket_message_closes_with_4400(
    live_url: str, tenant: TenantFixture, message: str
) -> None:
    """These crashed Strawberry's handler: no close frame, a traceback in the log."""
    async with connect(live_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {tenant.token()}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


def test_http_routes_read_bodies_only_through_the_streaming_limit() -> None:
    """The class guard for unbounded reads (issue 17, /messages read 300 MB before checking): no route reads a
    request body but through ``limits.read_body``, which stops at the limit."""
    from pathlib import Path

    import studio_gql.routes

    unbounded = re.compile(r"\brequest\.(body|json|form|stream)\(")
    offenders = [
        f"{path.name}:{n}"
        for path in Path(studio_gql.routes.__file__).parent.glob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if unbounded.search(line)
    ]
    assert offenders == [], f"read bodies with studio_gql.limits.read_body: {offenders}"


# ------------------------------------------------------------------------ what production tells strangers (issue 17)

INTROSPECT = "{ __schema { queryType { name } types { name } } }"
TYPO = "{ workflowz { edges { node { id } } } }"
BAD_ENUM = 'mutation($r: Role!) { createApiKey(name: "k", role: $r) { key } }'


async def _ask(state: AppState, settings: Settings, query: str, variables: dict | None = None) -> dict:
    """An unauthenticated request to a GraphQL endpoint built with ``settings`` (on this session's database)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from studio_gql.graphql_app import StudioGraphQL

    endpoint = StudioGraphQL(settings)
    app = Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])
    app.state.studio = state
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio.test") as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


@pytest.mark.parametrize(
    ("env", "introspection", "open_"),
    [("production", None, False), ("production", True, True), ("test", None, True), ("development", False, False)],
)
async def test_introspection_and_suggestions_are_off_in_production_unless_a_setting_opens_them(
    state: AppState, settings: Settings, env: str, introspection: bool | None, open_: bool
) -> None:
    """Found with STUDIO_ENV=production: an unauthenticated client could read the whole schema (``__schema``) and
    have the rest spelled out by "Did you mean …?" (field names in validation, enum values in variables)."""
    chosen = settings.model_copy(update={"env": Env(env), "graphql_introspection": introspection})
    schema = await _ask(state, chosen, INTROSPECT)
    typo = _messages(await _ask(state, chosen, TYPO))
    enum = _messages(await _ask(state, chosen, BAD_ENUM, {"r": "ADMINN"}))
    assert "Cannot query field 'workflowz'" in typo and "ADMINN" in enum  # still told what is wrong
    if open_:
        assert schema["data"]["__schema"]["queryType"] == {"name": "Query"}
        assert "Did you mean 'workflow' or 'workflows'?" in typo and "Did you mean the enum value 'ADMIN'?" in enum
    else:
        assert schema.get("data") is None and "introspection" in _messages(schema).lower()
        assert "Did you mean" not in typo + enum and "'workflows'" not in typo and "'ADMIN'" not in enum


def test_export_schema_works_without_introspection(settings: Settings) -> None:
    """`studio export-schema` prints the SDL from the schema itself, not by asking the API."""
    quiet = build_schema(settings.model_copy(update={"env": Env.PRODUCTION}))
    assert "type Query" in quiet.as_str() and "scalar JSON" in quiet.as_str()
