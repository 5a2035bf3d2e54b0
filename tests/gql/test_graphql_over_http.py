"""/graphql over HTTP as the GraphQL-over-HTTP specification says: media types, statuses, GET for queries only.

(The graphql-http audit suite runs against a real ``studio serve`` in ``tests/gql/test_graphql_http_audit.py``.)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc

from studio_gql.graphql_http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, negotiate
from studio_gql.hygiene import operations
from studio_shared.db.errors import RETRY_AFTER_S
from tests.conftest import GraphQLClient, TenantFixture

GRJ = GRAPHQL_RESPONSE_JSON
URQL_ACCEPT = (
    "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"
)
CREATE = 'mutation {{ createWorkflow(input: {{name: "{}", definition: {{nodes: [{{id: "start", type: "trigger.manual", config: {{}}}}], edges: []}}}}) {{ errors {{ code }} }} }}'


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        ("application/json", APPLICATION_JSON),
        ("application/json; charset=utf-8", APPLICATION_JSON),
        (GRJ, GRJ),
        ("Application/GraphQL-Response+JSON", GRJ),
        (f"{GRJ}; charset=utf-8", GRJ),
        (URQL_ACCEPT, GRJ),
        (f"{GRJ}, application/json;q=0.9", GRJ),
        (f"{GRJ};q=0.5, application/json", APPLICATION_JSON),
        (f"{GRJ}, */*", GRJ),
        (f"{GRJ};q=0, */*", APPLICATION_JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", APPLICATION_JSON),
        (f"{GRJ};q=abc, application/json", APPLICATION_JSON),
        ("text/plain", None),
        ("application/json;q=0", None),
        (f"{GRJ};q=0, application/json;q=0, text/html", None),
        ("garbage", None),
    ],
)
def test_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


async def post(
    http: httpx.AsyncClient, body: object, accept: str | None, token: str | None = None, raw: bytes | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    request = http.build_request("POST", "/graphql", content=content, headers=headers)
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    return await http.send(request)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def messages(body: dict[str, Any]) -> str:
    return " ".join(error["message"] for error in body.get("errors") or [])


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRJ, GRJ),
        (URQL_ACCEPT, GRJ),
        ("application/json", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        (None, APPLICATION_JSON),
    ],
)
async def test_a_query_is_answered_in_the_media_type_asked_for(
    http: httpx.AsyncClient, tenant: TenantFixture, accept: str | None, expected: str
) -> None:
    response = await post(http, {"query": "{ me { role } }"}, accept, tenant.token())
    assert response.status_code == 200, response.text
    assert media_type(response) == expected
    assert "charset=utf-8" in response.headers["content-type"]
    assert response.headers["vary"] == "Accept"
    assert response.json() == {"data": {"me": {"role": "ADMIN"}}}


REQUEST_ERRORS = [
    pytest.param({"query": "{ me { role "}, "Syntax Error", id="parse"),
    pytest.param({"query": "{ me { nope } }"}, "Cannot query field 'nope'", id="validation"),
    pytest.param(
        {"query": "query($f: Int) { workflows(first: $f) { edges { node { id } } } }", "variables": {"f": "abc"}},
        "Variable '$f'",
        id="variable-coercion",
    ),
    pytest.param(
        {"query": "query($id: ID!) { me { role } }", "variables": {"id": None}},
        "Variable '$id'",
        id="null-for-non-null",
    ),
    pytest.param(
        {"query": "query A { me { role } } query B { me { role } }"}, "operationName", id="no-operation-chosen"
    ),
    pytest.param(
        {"query": "query A { me { role } }", "operationName": "B"},
        'Unknown operation named "B"',
        id="unknown-operation",
    ),
]


@pytest.mark.parametrize(("body", "words"), REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
    http: httpx.AsyncClient, tenant: TenantFixture, body: dict[str, Any], words: str
) -> None:
    response = await post(http, body, GRJ, tenant.token())
    assert response.status_code == 400, response.text
    assert media_type(response) == GRJ
    answer = response.json()
    assert "data" not in answer and words in messages(answer), answer


@pytest.mark.parametrize(("body", "words"), REQUEST_ERRORS)
async def test_a_request_error_is_a_200_without_data_in_application_json(
    http: httpx.AsyncClient, tenant: TenantFixture, body: dict[str, Any], words: str
) -> None:
    response = await post(http, body, "application/json", tenant.token())
    assert response.status_code == 200, response.text
    assert media_type(response) == APPLICATION_JSON
    answer = response.json()
    assert "data" not in answer and words in messages(answer), answer


async def test_a_field_error_keeps_data_and_a_200_in_graphql_response_json(
    http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    """Execution began: ``data`` is there (null where the error is), and the status is 200 in both media types."""
    for accept in (GRJ, "application/json"):
        partial = await post(http, {"query": '{ __typename workflow(id: "x") { id } }'}, accept)
        assert partial.status_code == 200, partial.text
        body = partial.json()
        assert body["data"] == {"__typename": "Query", "workflow": None}
        assert [e["path"] for e in body["errors"]] == [["workflow"]]
        unauthenticated = await post(http, {"query": "{ me { role } }"}, accept)
        assert unauthenticated.status_code == 200, unauthenticated.text
        body = unauthenticated.json()
        assert "data" in body and body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def fail_checks(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """The operation checks (a schema extension, before execution) raise ``exc``."""

    def boom(self: object) -> Iterator[None]:
        raise exc
        yield  # a generator, as the hook is

    monkeypatch.setattr(operations.OperationChecks, "on_execute", boom)


@pytest.fixture
def failing_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    fail_checks(monkeypatch, RuntimeError("canary-internal-detail"))


@pytest.mark.usefixtures("failing_checks")
async def test_an_unexpected_error_before_execution_is_a_500_not_a_400(
    http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    response = await post(http, {"query": "{ me { role } }"}, GRJ, tenant.token())
    assert response.status_code == 500, response.text
    assert "canary" not in response.text and "data" not in response.json()
    legacy = await post(http, {"query": "{ me { role } }"}, "application/json", tenant.token())
    assert legacy.status_code == 200 and "canary" not in legacy.text


async def test_a_database_outage_before_execution_is_a_503_to_retry(
    http: httpx.AsyncClient, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_checks(monkeypatch, sa_exc.TimeoutError("QueuePool limit reached canary-pool-detail"))
    response = await post(http, {"query": "{ me { role } }"}, GRJ, tenant.token())
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    body = response.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert "canary" not in response.text


@pytest.mark.parametrize("accept", [GRJ, "application/json"])
@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(b'{ "not a JSON', "JSON", id="bad-json"),
        pytest.param(b"", "JSON", id="empty-body"),
        pytest.param(b'{"notquery": "{ me { role } }"}', "No GraphQL query", id="no-query"),
        pytest.param(b'{"query": 0}', "`query`", id="query-not-a-string"),
        pytest.param(b'{"query": "{ me { role } }", "variables": "x"}', "`variables`", id="variables-not-an-object"),
        pytest.param(b'{"query": "{ me { role } }", "variables": ["x"]}', "`variables`", id="variables-a-list"),
        pytest.param(b'{"query": "{ me { role } }", "extensions": 0}', "`extensions`", id="extensions-not-an-object"),
        pytest.param(
            b'{"query": "{ me { role } }", "operationName": {"a": 1}}', "`operationName`", id="name-an-object"
        ),
        pytest.param(b'{"query": "{ me { role } }", "operationName": false}', "`operationName`", id="name-false"),
        pytest.param(b'{"query": "{ me { role } }", "operationName": ["A"]}', "`operationName`", id="name-a-list"),
    ],
)
async def test_a_malformed_request_is_a_400_answered_as_graphql_errors(
    http: httpx.AsyncClient, tenant: TenantFixture, accept: str, raw: bytes, words: str
) -> None:
    response = await post(http, None, accept, tenant.token(), raw=raw)
    assert response.status_code == 400, response.text
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body and words in messages(body), body


async def test_null_parameters_are_as_good_as_missing(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for accept in (GRJ, "application/json"):
        for parameter in ("variables", "operationName", "extensions"):
            response = await post(http, {"query": "{ me { role } }", parameter: None}, accept, tenant.token())
            assert response.status_code == 200 and response.json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_a_post_without_a_json_content_type_is_a_400(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for content_type in (None, "text/plain"):
        headers = {"Authorization": f"Bearer {tenant.token()}", "Accept": GRJ}
        if content_type:
            headers["Content-Type"] = content_type
        response = await http.post("/graphql", content=b'{"query": "{ me { role } }"}', headers=headers)
        assert response.status_code == 400, response.text
        assert "content type" in messages(response.json())


@pytest.mark.parametrize("accept", ["text/plain", "application/xml", "application/json;q=0"])
async def test_a_client_that_accepts_neither_media_type_gets_a_406(
    http: httpx.AsyncClient, tenant: TenantFixture, accept: str
) -> None:
    response = await post(http, {"query": "{ me { role } }"}, accept, tenant.token())
    assert response.status_code == 406, response.text
    assert media_type(response) == APPLICATION_JSON
    assert GRJ in messages(response.json())


# --- GET: queries only ------------------------------------------------------------------------------------------------


async def get(http: httpx.AsyncClient, params: dict[str, str], accept: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.get("/graphql", params=params, headers=headers)


@pytest.mark.parametrize("accept", [GRJ, "application/json", "*/*"])
async def test_a_query_over_get(http: httpx.AsyncClient, tenant: TenantFixture, accept: str) -> None:
    plain = await get(http, {"query": "{ me { role } }"}, accept, tenant.token())
    assert plain.status_code == 200, plain.text
    assert plain.json() == {"data": {"me": {"role": "ADMIN"}}}
    assert media_type(plain) == (GRJ if accept == GRJ else APPLICATION_JSON)
    assert plain.headers["cache-control"] == "no-store"
    query = "query Type($name: String!) { __type(name: $name) { name } }"
    typed = await get(http, {"query": query, "variables": json.dumps({"name": "Workflow"})}, accept, tenant.token())
    assert typed.status_code == 200 and typed.json() == {"data": {"__type": {"name": "Workflow"}}}
    named = await get(
        http,
        {"query": "query A { a: me { role } } query B { b: me { role } }", "operationName": "B"},
        accept,
        tenant.token(),
    )
    assert named.status_code == 200 and named.json() == {"data": {"b": {"role": "ADMIN"}}}


async def test_get_parameters_that_are_not_json_objects_are_400s(
    http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    for params, words in (
        ({"query": "{ me { role } }", "variables": "{not json"}, "JSON"),
        ({"query": "{ me { role } }", "variables": "[1]"}, "`variables`"),
        ({"query": "{ me { role } }", "extensions": "1"}, "`extensions`"),
    ):
        response = await get(http, params, GRJ, tenant.token())
        assert response.status_code == 400, response.text
        assert words in messages(response.json())
    invalid = await get(http, {"query": "{ me { nope } }"}, GRJ, tenant.token())
    assert invalid.status_code == 400 and "data" not in invalid.json()


async def _workflows_named(gql: GraphQLClient, tenant: TenantFixture, name: str) -> list[Any]:
    found = await gql.data(f'{{ workflows(search: "{name}") {{ edges {{ node {{ id }} }} }} }}', token=tenant.token())
    edges: list[Any] = found["workflows"]["edges"]
    return edges


@pytest.mark.parametrize("accept", [GRJ, "application/json"])
async def test_a_mutation_over_get_is_a_405_and_does_not_run(
    http: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantFixture, accept: str
) -> None:
    name = f"over-get-{secrets.token_hex(4)}"
    response = await get(http, {"query": CREATE.format(name)}, accept, tenant.token())
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body and "POST" in messages(body)
    # The operation chosen by operationName decides, not the first one in the document.
    document = f"query Q {{ me {{ role }} }} {CREATE.format(name).replace('mutation', 'mutation M', 1)}"
    chosen = await get(http, {"query": document, "operationName": "M"}, accept, tenant.token())
    assert chosen.status_code == 405 and chosen.headers["allow"] == "POST"
    assert await _workflows_named(gql, tenant, name) == []
    query = await get(http, {"query": document, "operationName": "Q"}, accept, tenant.token())
    assert query.status_code == 200 and query.json() == {"data": {"me": {"role": "ADMIN"}}}
    # The same mutation by POST runs.
    posted = await post(http, {"query": CREATE.format(name)}, accept, tenant.token())
    assert posted.status_code == 200 and posted.json() == {"data": {"createWorkflow": {"errors": []}}}
    assert len(await _workflows_named(gql, tenant, name)) == 1


async def test_a_get_without_a_query_is_a_400_unless_it_asks_for_graphiql(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": GRJ})
    assert response.status_code == 400 and "No GraphQL query" in messages(response.json())
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code in (200, 503) and "graphiql" in page.text.lower()


async def test_other_methods_are_405s_naming_the_allowed_ones(http: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await http.request(method, "/graphql", content=b'{"query": "{ me { role } }"}')
        assert response.status_code == 405, (method, response.text)
        assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
