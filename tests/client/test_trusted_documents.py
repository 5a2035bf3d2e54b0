"""studio_client sends trusted documents by id: ``documentId`` instead of the text by default, the text once a server
answers PERSISTED_QUERY_NOT_FOUND (and for that document from then on), never the text when strict; and against a real
``studio serve``, a key that may send trusted documents only runs, waits for and lists runs with the client."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest
from studio_client import AsyncStudioClient, GraphQLError, RunStatus, StudioClient
from studio_client.documents import document_id

from tests.client.conftest import Server, graphql, publish
from tests.client.test_client import QUICK

RUN_ID = "00000000-0000-0000-0000-000000000001"
NOT_FOUND = {"errors": [{"message": "no trusted document", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


class Recorder:
    """A fake server: records each request body; answers PERSISTED_QUERY_NOT_FOUND to an id when ``knows_ids`` is
    false, else ``{"run": null}``."""

    def __init__(self, knows_ids: bool) -> None:
        self.knows_ids = knows_ids
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if "documentId" in body and not self.knows_ids:
            return httpx.Response(200, json=NOT_FOUND)
        return httpx.Response(200, json={"data": {"run": None}})


def _client(recorder: Recorder, **options: Any) -> AsyncStudioClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return AsyncStudioClient("http://studio.test", "wsk_test", http_client=http, **options)


async def test_the_client_sends_the_documents_id_not_its_text() -> None:
    recorder = Recorder(knows_ids=True)
    async with _client(recorder) as studio:
        assert await studio.get_run(RUN_ID) is None
    [body] = recorder.bodies
    assert "query" not in body and body["documentId"].startswith("sha256:")
    assert body["variables"] == {"id": RUN_ID} and body["operationName"] == "GetRun"


async def test_a_server_without_the_document_gets_its_text_from_then_on() -> None:
    recorder = Recorder(knows_ids=False)
    async with _client(recorder) as studio:
        assert await studio.get_run(RUN_ID) is None
        assert await studio.get_run(RUN_ID) is None
    first, fallback, second = recorder.bodies
    assert "documentId" in first and "query" not in first
    assert document_id(fallback["query"]) == first["documentId"] and "documentId" not in fallback
    assert "query" in second and "documentId" not in second  # remembered: no second round trip


async def test_a_strict_client_never_sends_the_text() -> None:
    recorder = Recorder(knows_ids=False)
    async with _client(recorder, documents="id") as studio:
        with pytest.raises(GraphQLError) as refused:
            await studio.get_run(RUN_ID)
    assert refused.value.code == "PERSISTED_QUERY_NOT_FOUND"
    assert len(recorder.bodies) == 1 and "query" not in recorder.bodies[0]


async def test_documents_text_sends_the_text() -> None:
    recorder = Recorder(knows_ids=True)
    async with _client(recorder, documents="text") as studio:
        await studio.get_run(RUN_ID)
    assert "query" in recorder.bodies[0] and "documentId" not in recorder.bodies[0]


def test_an_unknown_documents_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="id-or-text, id, text"):
        AsyncStudioClient("http://studio.test", "wsk_test", documents="hash")  # type: ignore[arg-type]


def test_the_sync_client_sends_ids_and_falls_back() -> None:
    recorder = Recorder(knows_ids=False)
    with StudioClient("http://studio.test", "wsk_test") as studio:
        studio.gql.http_client = httpx.Client(transport=httpx.MockTransport(recorder))
        assert studio.get_run(RUN_ID) is None
    first, fallback = recorder.bodies
    assert "documentId" in first and document_id(fallback["query"]) == first["documentId"]


CREATE_KEY = """mutation($n: String!) {
  createApiKey(name: $n, role: OPERATOR, trustedDocumentsOnly: true) { key errors { code } } }"""


async def test_a_key_restricted_to_trusted_documents_works_with_the_client(studio_server: Server) -> None:
    admin = studio_server.token(f"trusted-{secrets.token_hex(4)}")
    workflow_id = await publish(studio_server, admin, QUICK)
    key = (await graphql(studio_server, admin, CREATE_KEY, {"n": "client"}))["createApiKey"]["key"]
    async with AsyncStudioClient(studio_server.url, key, documents="id") as studio:
        run = await studio.start_run(workflow_id, input={"n": 2}, wait=True, timeout=60)  # waits over the websocket
        assert run.status is RunStatus.SUCCEEDED
        assert [r.id for r in await studio.list_runs(workflow_id=workflow_id)] == [run.id]
        assert [event.seq async for event in studio.run_events(run.id)]  # the subscription, by id
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(
            f"{studio_server.url}/graphql",
            json={"query": "{ me { role } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert refused.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENTS_ONLY"
