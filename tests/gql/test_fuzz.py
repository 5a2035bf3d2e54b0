"""Fuzzing with hypothesis: workflow definitions near and far from valid, and GraphQL documents generated from
``schema.graphql`` (hypothesis-graphql, valid and invalid ones). Whatever arrives: never a 5xx, never a masked
internal error; a rejected definition is a list of problems, each with a path, a code and a message.

Examples are drawn by hypothesis (seeded, so a failure repeats) and sent through the real API; the strategies
live in ``reliability.fuzz``, whose ``hostile-fuzz`` scenario sends more of them to the real services.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis_graphql import Mode

from reliability.fuzz import CREATE, INTERNAL, VALIDATE, definitions, examples, graphql_documents
from studio_gql.state import AppState
from tests.conftest import TenantFixture


async def test_fuzzed_definitions_are_problems_with_paths_never_errors(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture
) -> None:
    types = state.registry.types()
    token = {"authorization": f"Bearer {tenant.token()}"}
    for index, definition in enumerate(examples(definitions(types), 150)):
        for query, variables in (
            (VALIDATE, {"d": definition}),
            (CREATE, {"n": f"fuzz-{index}", "d": definition}),
        ):
            response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=token)
            if response.status_code == 400:  # text PostgreSQL cannot store (NUL, lone surrogates): refused up front
                assert response.text.strip(), definition
                continue
            assert response.status_code == 200, (definition, response.text)
            body = response.json()
            assert not body.get("errors"), (definition, body)
            data = body["data"]
            problems = data["validateDefinition"] if "validateDefinition" in data else data["createWorkflow"]["errors"]
            for problem in problems:
                assert isinstance(problem["path"], list) and problem["message"] and problem["code"], (
                    definition,
                    problem,
                )


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE])
async def test_generated_graphql_documents_never_get_a_5xx(
    http: httpx.AsyncClient, tenant: TenantFixture, mode: Mode
) -> None:
    documents = graphql_documents(mode, 120)
    token = {"authorization": f"Bearer {tenant.token()}"}
    for document in documents:
        response = await http.post("/graphql", json={"query": document}, headers=token)
        assert response.status_code < 500, (document, response.text)
        assert INTERNAL not in response.text, (document, response.text)
        if response.status_code == 200:
            for error in response.json().get("errors") or []:
                assert error["message"], (document, error)
