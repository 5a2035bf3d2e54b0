"""Trusted documents (persisted queries by hash): a request names a shipped document by ``documentId`` or Apollo's
``extensions.persistedQuery.sha256Hash`` over POST, GET and the websocket; API keys flagged ``trustedDocumentsOnly``
(and, under ``STUDIO_TRUSTED_DOCUMENTS=require``, every caller but an ADMIN user) send trusted documents only."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_gql.trusted_documents import MANIFEST_DIR, TrustedDocumentStore, document_hash
from studio_gql.trusted_manifest import WEB_MANIFEST, python_client_documents, render, web_documents
from studio_shared.rbac import Role
from studio_shared.settings import Settings, TrustedDocuments
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.wsclient import WsClient

PYTHON_CLIENT: dict[str, str] = json.loads((MANIFEST_DIR / "python-client.json").read_text(encoding="utf-8"))


def _shipped(operation: str) -> tuple[str, str]:
    """(hex hash, text) of the Python client's document for ``operation`` (e.g. "query GetRun")."""
    return next((key, text) for key, text in PYTHON_CLIENT.items() if text.strip().startswith(operation))


GET_RUN_HASH, GET_RUN = _shipped("query GetRun")
START_RUN_HASH, START_RUN = _shipped("mutation StartRun")
RUN_EVENTS_HASH, RUN_EVENTS = _shipped("subscription RunEvents")
ARBITRARY = "query Arbitrary { me { role } }"
ARBITRARY_MUTATION = """mutation($id: ID!) { cancelRun(runId: $id) { errors { code } } }"""
CREATE_KEY = """mutation($n: String!, $r: Role!, $t: Boolean!) {
  createApiKey(name: $n, role: $r, trustedDocumentsOnly: $t) {
    key apiKey { id trustedDocumentsOnly } errors { path message code } } }"""
MISSING = uuid.UUID(int=1)


async def _key(gql: GraphQLClient, token: str, *, flagged: bool, role: Role = Role.OPERATOR) -> str:
    data = await gql.data(CREATE_KEY, {"n": f"key-{flagged}", "r": role.value, "t": flagged}, token)
    payload = data["createApiKey"]
    assert payload["errors"] == [] and payload["apiKey"]["trustedDocumentsOnly"] is flagged
    key: str = payload["key"]
    return key


async def _post(http: httpx.AsyncClient, body: dict[str, Any], token: str, accept: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept"] = accept
    return await http.post("/graphql", json=body, headers=headers)


def _codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code", "") for e in body.get("errors") or []]


@pytest.fixture(scope="module")
async def t(make_tenant: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


@pytest.fixture(scope="module")
async def flagged(gql: GraphQLClient, t: TenantFixture) -> str:
    return await _key(gql, t.token(), flagged=True)


@pytest.fixture(scope="module")
async def unflagged(gql: GraphQLClient, t: TenantFixture) -> str:
    return await _key(gql, t.token(), flagged=False)


# --- naming a document ---------------------------------------------------------------------------------------------


async def test_a_post_by_document_id_runs_the_shipped_document(http: httpx.AsyncClient, t: TenantFixture) -> None:
    body = {"documentId": f"sha256:{GET_RUN_HASH}", "variables": {"id": str(MISSING)}}
    response = await _post(http, body, t.token(Role.VIEWER))
    assert response.status_code == 200
    assert response.json() == {"data": {"run": None}}


async def test_apollos_persisted_query_extension_names_a_document(http: httpx.AsyncClient, t: TenantFixture) -> None:
    body = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": GET_RUN_HASH}},
        "variables": {"id": str(MISSING)},
    }
    response = await _post(http, body, t.token(Role.VIEWER))
    assert response.json() == {"data": {"run": None}}


async def test_a_get_by_document_id_runs_a_query(http: httpx.AsyncClient, t: TenantFixture) -> None:
    params = {"documentId": f"sha256:{GET_RUN_HASH}", "variables": json.dumps({"id": str(MISSING)})}
    response = await http.get("/graphql", params=params, headers={"Authorization": f"Bearer {t.token()}"})
    assert response.status_code == 200
    assert response.json() == {"data": {"run": None}}


async def test_a_mutation_by_id_over_get_is_still_refused(http: httpx.AsyncClient, t: TenantFixture) -> None:
    params = {"documentId": f"sha256:{START_RUN_HASH}", "variables": json.dumps({"workflowId": str(MISSING)})}
    response = await http.get("/graphql", params=params, headers={"Authorization": f"Bearer {t.token()}"})
    assert response.status_code == 405


async def test_an_unknown_id_is_persisted_query_not_found(http: httpx.AsyncClient, t: TenantFixture) -> None:
    unknown = {"documentId": f"sha256:{document_hash('query { me { role } }')}"}
    response = await _post(http, unknown, t.token())
    assert response.status_code == 200  # a request error, answered in application/json
    assert _codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"] and "data" not in response.json()
    assert "send the document's text" in response.json()["errors"][0]["message"]
    strict = await _post(http, unknown, t.token(), accept="application/graphql-response+json")
    assert strict.status_code == 400 and _codes(strict.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "body",
    [
        {"documentId": "md5:abc"},
        {"documentId": "sha256:XYZ"},
        {"documentId": 7},
        {"extensions": {"persistedQuery": {"version": 1}}},
    ],
)
async def test_a_malformed_id_says_what_an_id_is(http: httpx.AsyncClient, t: TenantFixture, body: Any) -> None:
    response = await _post(http, body, t.token())
    assert _codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_text_beside_an_id_must_be_that_documents(http: httpx.AsyncClient, t: TenantFixture) -> None:
    mismatched = await _post(http, {"documentId": f"sha256:{GET_RUN_HASH}", "query": ARBITRARY}, t.token())
    assert _codes(mismatched.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    matching = {"documentId": f"sha256:{GET_RUN_HASH}", "query": GET_RUN, "variables": {"id": str(MISSING)}}
    assert (await _post(http, matching, t.token())).json() == {"data": {"run": None}}


# --- enforcement (the session's settings: flagged-keys) ------------------------------------------------------------


async def test_a_flagged_key_is_refused_an_arbitrary_query_and_mutation(http: httpx.AsyncClient, flagged: str) -> None:
    for body in ({"query": ARBITRARY}, {"query": ARBITRARY_MUTATION, "variables": {"id": str(MISSING)}}):
        response = await _post(http, body, flagged)
        assert _codes(response.json()) == ["TRUSTED_DOCUMENTS_ONLY"], response.json()
        assert "documentId" in response.json()["errors"][0]["message"] and "data" not in response.json()


async def test_a_flagged_key_runs_trusted_documents_by_id_or_exact_text(http: httpx.AsyncClient, flagged: str) -> None:
    by_id = await _post(http, {"documentId": f"sha256:{GET_RUN_HASH}", "variables": {"id": str(MISSING)}}, flagged)
    assert by_id.json() == {"data": {"run": None}}
    by_text = await _post(http, {"query": GET_RUN, "variables": {"id": str(MISSING)}}, flagged)
    assert by_text.json() == {"data": {"run": None}}
    mutation = {"documentId": f"sha256:{START_RUN_HASH}", "variables": {"workflowId": str(MISSING)}}
    payload = (await _post(http, mutation, flagged)).json()["data"]["startRun"]
    assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]  # it ran: the workflow is missing


async def test_a_refusal_is_not_remembered_for_other_callers(
    http: httpx.AsyncClient, flagged: str, unflagged: str, t: TenantFixture
) -> None:
    """The validation cache keys on the text: a flagged key's refusal must not become everyone's verdict."""
    fresh = f"query Fresh{uuid.uuid4().hex} {{ me {{ role }} }}"
    assert _codes((await _post(http, {"query": fresh}, flagged)).json()) == ["TRUSTED_DOCUMENTS_ONLY"]
    assert (await _post(http, {"query": fresh}, unflagged)).json() == {"data": {"me": {"role": "OPERATOR"}}}
    assert (await _post(http, {"query": fresh}, t.token())).json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_a_key_made_by_a_flagged_key_is_flagged(gql: GraphQLClient, t: TenantFixture) -> None:
    maker = await _key(gql, t.token(), flagged=True, role=Role.ADMIN)
    # The maker sends the web app's own createApiKey document (trusted), asking for an unflagged key.
    store = TrustedDocumentStore.shipped()
    web_create = next(
        (text for text in json.loads((MANIFEST_DIR / "web.json").read_text()).values() if "createApiKey(" in text),
        None,
    )
    if web_create is None:
        pytest.skip("the web app's manifest has no createApiKey document")
    assert store.entry(web_create) is not None
    body = {"documentId": f"sha256:{document_hash(web_create)}", "variables": {"name": "child", "role": "VIEWER"}}
    response = await _post(gql.http, body, maker)
    payload = response.json()["data"]["createApiKey"]
    assert payload["errors"] == []
    child = payload["key"]
    assert _codes((await _post(gql.http, {"query": ARBITRARY}, child)).json()) == ["TRUSTED_DOCUMENTS_ONLY"]


# --- the websocket -------------------------------------------------------------------------------------------------


async def test_a_websocket_subscribe_by_id_runs_the_document(live_url: str, flagged: str) -> None:
    async with WsClient(live_url, flagged) as ws:
        sent = await ws.subscribe_with({"documentId": f"sha256:{GET_RUN_HASH}", "variables": {"id": str(MISSING)}})
        assert (await ws.receive(sent))["payload"] == {"data": {"run": None}}


async def test_a_subscription_by_id_runs_and_by_arbitrary_text_is_refused(live_url: str, flagged: str) -> None:
    async with WsClient(live_url, flagged) as ws:
        sent = await ws.subscribe_with(
            {
                "query": "",  # what the web app's graphql-ws sends beside a hash
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": RUN_EVENTS_HASH}},
                "variables": {"runId": str(MISSING)},
            }
        )
        ran = await ws.receive(sent)
        assert [e["extensions"]["code"] for e in ran["payload"]["errors"]] == ["NOT_FOUND"], ran  # it ran
        arbitrary = await ws.subscribe("subscription($r: ID!) { runEvents(runId: $r) { seq } }", {"r": str(MISSING)})
        refused = await ws.receive(arbitrary)
        assert refused["type"] in {"next", "error"}, refused
        errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["TRUSTED_DOCUMENTS_ONLY"]


async def test_a_websocket_unknown_id_is_an_error_for_that_operation(live_url: str, t: TenantFixture) -> None:
    async with WsClient(live_url, t.token()) as ws:
        sent = await ws.subscribe_with({"documentId": f"sha256:{'0' * 64}"})
        message = await ws.receive(sent)
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["PERSISTED_QUERY_NOT_FOUND"]
        later = await ws.subscribe(ARBITRARY)  # the connection stays usable
        assert (await ws.receive(later))["payload"] == {"data": {"me": {"role": "ADMIN"}}}


# --- the other settings ----------------------------------------------------------------------------------------------


async def _app_with(settings: Settings, state: AppState, mode: TrustedDocuments) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings.model_copy(update={"trusted_documents": mode}))
    app.state.studio = state  # the session's resources: no second lifespan on the same database
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio.test") as client:
        yield client


@pytest.fixture
async def requiring(settings: Settings, state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _app_with(settings, state, TrustedDocuments.REQUIRE):
        yield client


@pytest.fixture
async def allowing(settings: Settings, state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _app_with(settings, state, TrustedDocuments.ALLOW):
        yield client


async def test_require_refuses_arbitrary_documents_but_from_an_admin_session(
    requiring: httpx.AsyncClient, t: TenantFixture, unflagged: str
) -> None:
    for token in (t.token(Role.EDITOR), unflagged):
        assert _codes((await _post(requiring, {"query": ARBITRARY}, token)).json()) == ["TRUSTED_DOCUMENTS_ONLY"]
        by_id = {"documentId": f"sha256:{GET_RUN_HASH}", "variables": {"id": str(MISSING)}}
        assert (await _post(requiring, by_id, token)).json() == {"data": {"run": None}}
    assert (await _post(requiring, {"query": ARBITRARY}, t.token())).json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_require_refuses_an_anonymous_arbitrary_document(requiring: httpx.AsyncClient) -> None:
    login = 'mutation { login(email: "a@b.example", password: "wrong") { __typename } }'
    response = await requiring.post("/graphql", json={"query": login})
    assert _codes(response.json()) == ["TRUSTED_DOCUMENTS_ONLY"]


async def test_allow_lets_a_flagged_key_send_any_document(allowing: httpx.AsyncClient, flagged: str) -> None:
    assert (await _post(allowing, {"query": ARBITRARY}, flagged)).json() == {"data": {"me": {"role": "OPERATOR"}}}


# --- the manifests ---------------------------------------------------------------------------------------------------


def test_the_python_client_manifest_is_fresh() -> None:
    """Every document the generated client sends is shipped: regenerate with ``make trusted-documents``."""
    assert (MANIFEST_DIR / "python-client.json").read_text(encoding="utf-8") == render(python_client_documents())


def test_the_web_manifest_is_fresh() -> None:
    if not WEB_MANIFEST.exists():
        pytest.skip("the web app's codegen has not run (npm run codegen); make trusted-documents-check covers it")
    assert (MANIFEST_DIR / "web.json").read_text(encoding="utf-8") == render(web_documents())


def test_a_manifest_whose_key_is_not_its_texts_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="not the sha256 of its text"):
        TrustedDocumentStore({"0" * 64: ARBITRARY})
