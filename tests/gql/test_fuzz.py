"""Fuzzing with hypothesis: workflow definitions near and far from valid, and GraphQL documents generated from
``schema.graphql`` (hypothesis-graphql, valid and invalid ones). Whatever arrives: never a 5xx, never a masked
internal error; a rejected definition is a list of problems, each with a path, a code and a message.

Examples are drawn by hypothesis (seeded, so a failure repeats) and sent through the real API.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from studio_gql.state import AppState
from tests.conftest import REPO, TenantFixture

VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path message code } }"
CREATE = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { path message code } } }"""
INTERNAL = "Internal error"


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, derandomized (the same every run)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def definitions(types: list[str]) -> st.SearchStrategy[Any]:
    ids = st.sampled_from(["start", "a", "b", "c", "", "A-1", "x" * 70, "1a", "a b", "ü"]) | st.text(max_size=8)
    node = st.fixed_dictionaries(
        {"id": ids, "type": st.sampled_from([*types, "nope", "", "http.request "]) | st.text(max_size=6)},
        optional={
            "config": json_values,
            "retry": json_values | st.fixed_dictionaries({"max_attempts": st.integers(-5, 50)}),
            "timeout_s": st.integers(-10, 10**7)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=3),
            "on_error": st.sampled_from(["fail", "continue", "branch", "??"]),
            "position": json_values,
        },
    )
    edge = st.fixed_dictionaries(
        {"source": ids, "target": ids},
        optional={"branch": st.text(max_size=6) | st.none(), "extra": json_values},
    )
    shaped = st.fixed_dictionaries(
        {"nodes": st.lists(node | json_values, max_size=6), "edges": st.lists(edge | json_values, max_size=6)},
        optional={"extra": json_values},
    )
    return (shaped | json_values).filter(lambda d: d is not None)  # null is refused by JSON! itself


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


SCALARS = {
    "JSON": st.builds(lambda v: nodes.String(json.dumps(v)), json_values) | st.just(nodes.Int(1)),
    "DateTime": st.sampled_from(["2026-11-26T09:00:00Z", "yesterday", ""]).map(nodes.String),
}


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE])
async def test_generated_graphql_documents_never_get_a_5xx(
    http: httpx.AsyncClient, tenant: TenantFixture, mode: Mode
) -> None:
    sdl = (REPO / "schema.graphql").read_text()
    documents = examples(from_schema(sdl, custom_scalars=SCALARS, mode=mode), 120)
    token = {"authorization": f"Bearer {tenant.token()}"}
    for document in documents:
        response = await http.post("/graphql", json={"query": document}, headers=token)
        assert response.status_code < 500, (document, response.text)
        assert INTERNAL not in response.text, (document, response.text)
        if response.status_code == 200:
            for error in response.json().get("errors") or []:
                assert error["message"], (document, error)
