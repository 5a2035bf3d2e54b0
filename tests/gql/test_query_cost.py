"""Query cost (issue 17): a document's page sizes multiply through nesting, and one over the limit is refused
before any resolver runs; what is under it reads each related list of a page in one statement."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
import sqlalchemy as sa
from graphql import OperationDefinitionNode, TypeInfo, ValidationContext, parse

from studio_gql._strawberry_internals import graphql_schema
from studio_gql.hygiene import query_cost
from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from tests.conftest import REPO, GraphQLClient, TenantFixture
from tests.gql.test_workflows import statements
from tests.worker.engine_harness import chain, publish, wait_for
from tests.worker.test_nodes_io import node

pytestmark = pytest.mark.usefixtures("workers")

NESTED = "nodes { children(first: 100) { nodes { steps { output } events { seq } } } }"
# The attack of the issue: two aliases of a run's children's children, with every step and event.
ATTACK = f"""query($id: ID!) {{
  a: run(id: $id) {{ children(first: 100) {{ {NESTED} }} }}
  b: run(id: $id) {{ children(first: 100) {{ {NESTED} }} }} }}"""
# Just under the limit: every child's steps and a page of its events.
UNDER = """query($id: ID!) { run(id: $id) { id children(first: 100) { nodes {
  id status steps { stepId status } events(first: 50) { seq kind } } } } }"""


def cost(document: str) -> int:
    schema = graphql_schema(build_schema())
    parsed = parse(document)
    context = ValidationContext(schema, parsed, TypeInfo(schema), lambda _error: None)
    return max(query_cost(context, d) for d in parsed.definitions if isinstance(d, OperationDefinitionNode))


def test_page_sizes_multiply_through_nesting() -> None:
    assert cost("{ me { role } }") == 2
    assert cost("{ runs(first: 10) { nodes { id } } }") == 1 + 1 + 10 * 1
    assert cost("{ runs { nodes { id } } }") == 2 + 20  # the default page
    assert cost("query($n: Int) { runs(first: $n) { nodes { id } } }") == 2 + 100  # a variable: the largest page
    assert cost("{ runs(first: 10) { nodes { steps { stepId status } } } }") == 2 + 10 * (1 + 50 * 2)
    assert cost('{ run(id: "x") { events { seq } } }') == 2 + 5000
    assert cost('{ run(id: "x") { events(first: 10) { seq } } }') == 2 + 10
    fragment = (
        "fragment F on Run { id status } { runs(first: 5) { nodes { ...F } } x: runs(first: 5) { nodes { ...F } } }"
    )
    assert cost(fragment) == 2 * (2 + 5 * 2)
    assert cost("{ __schema { types { fields { name } } } }") == 0  # introspection: bounded by its own rule
    # Counted as executed: one response name is one field (selections merged), a fragment spread again adds nothing.
    assert cost("{ runs(first: 10) { nodes { id } } runs(first: 10) { nodes { status } } }") == 2 + 10 * 2
    fan_out = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(40))
    assert cost("query { ...F0 } " + fan_out + "fragment F40 on Query { me { role } }") == 2
    assert cost("{ run(id: 1) { " + "parent { " * 150 + "id" + " }" * 150 + " } }") > 0  # deep: no RecursionError
    assert cost(ATTACK) > 100_000_000


def test_every_document_of_the_web_app_is_under_the_default_limit() -> None:
    limit = Settings().graphql_max_cost
    documents = [
        (path.name, match.group(1))
        for path in (REPO / "frontend" / "src").rglob("*.ts*")
        if ".test." not in path.name
        for match in re.finditer(r"graphql\(\s*`(.*?)`", path.read_text(), re.S)
    ]
    # Shared fragments live in their own documents (src/api/fragments.ts): each operation is costed with all of them.
    fragments = " ".join(text for _, text in documents if text.lstrip().startswith("fragment"))
    operations = [(name, text) for name, text in documents if not text.lstrip().startswith("fragment")]
    assert len(operations) > 30
    costs = {f"{name}: {text.split('{')[0].strip()}": cost(f"{text} {fragments}") for name, text in operations}
    assert max(costs.values()) <= limit, sorted(costs.items(), key=lambda kv: -kv[1])[:3]


async def test_the_attack_is_refused_before_any_resolver_runs(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """Found as a VIEWER: this query took 39 s and emptied the database pool, so another tenant got UNAVAILABLE."""
    with statements(state) as seen:
        body = await gql.raw(ATTACK, {"id": str(uuid.uuid4())}, tenant.token(Role.VIEWER))
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == state.settings.graphql_max_cost
    assert re.fullmatch(
        r"query cost [\d,]+ exceeds the limit of 50,000: ask for fewer items \(first:\) or less nesting",
        error["message"],
    ), error["message"]
    assert [st for st in seen if "FROM users" not in st] == []  # the token's check, then refused: no resolver ran


async def _run_with_children(state: AppState, tenant: TenantFixture, count: int) -> uuid.UUID:
    """A finished run and ``count`` copies of it as its child runs (each with its steps and events)."""
    workflow_id = await publish(state, tenant, chain(node("a", "transform", value=1), node("b", "transform", value=2)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await wait_for(state, tenant.id, run.id)
    async with state.sessions.begin() as s:
        parent = await s.get(models.Run, run.id)
        assert parent is not None
        steps = list(await s.scalars(sa.select(models.Step).where(models.Step.run_id == run.id)))
        events = list(await s.scalars(sa.select(models.RunEvent).where(models.RunEvent.run_id == run.id)))
        skip = {"id", "idempotency_key", "parent_run_id", "depth"}
        for _ in range(count):
            child = models.Run(
                **{c.key: getattr(parent, c.key) for c in models.Run.__table__.columns if c.key not in skip},
                id=uuid.uuid4(),
                parent_run_id=parent.id,
                depth=1,
            )
            s.add(child)
            await s.flush()
            for step in steps:
                s.add(
                    models.Step(
                        **{
                            c.key: getattr(step, c.key)
                            for c in models.Step.__table__.columns
                            if c.key not in {"id", "run_id"}
                        },
                        id=uuid.uuid4(),
                        run_id=child.id,
                    )
                )
            for event in events:
                s.add(
                    models.RunEvent(
                        **{
                            c.key: getattr(event, c.key)
                            for c in models.RunEvent.__table__.columns
                            if c.key not in {"id", "run_id"}
                        },
                        run_id=child.id,
                    )
                )
    return run.id


async def test_a_query_under_the_limit_reads_each_list_of_a_page_in_one_statement(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    """100 child runs, each with its steps and events: one statement per field, never one per child (events and
    children used to open a database session per run), and another tenant is answered meanwhile."""
    run_id = await _run_with_children(state, tenant, 100)
    with statements(state) as seen:
        body, other = await asyncio.gather(
            gql.raw(UNDER, {"id": str(run_id)}, tenant.token(Role.VIEWER)),
            gql.raw("{ me { role } runs(first: 5) { nodes { id } } }", None, other_tenant.token(Role.VIEWER)),
        )
    assert "errors" not in body and "errors" not in other, (body, other)
    children = body["data"]["run"]["children"]["nodes"]
    assert len(children) == 100
    assert all(len(c["steps"]) == 3 and [e["seq"] for e in c["events"]][:3] == [1, 2, 3] for c in children)
    assert len(seen) <= 12, "\n".join(seen)


async def test_batched_children_and_events_keep_their_pages_and_cursors(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    run_id = await _run_with_children(state, tenant, 3)
    query = """query($ids: ID!) { a: run(id: $ids) { children(first: 2) { nodes { id events(first: 2, afterSeq: 1) {
      seq } children { nodes { id } } } pageInfo { hasNextPage endCursor } } } }"""
    first = (await gql.data(query, {"ids": str(run_id)}, tenant.token(Role.VIEWER)))["a"]["children"]
    assert len(first["nodes"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    assert all([e["seq"] for e in n["events"]] == [2, 3] and n["children"]["nodes"] == [] for n in first["nodes"])
    rest = await gql.data(
        "query($id: ID!, $after: String) { run(id: $id) { children(first: 2, after: $after) { nodes { id } } } }",
        {"id": str(run_id), "after": first["pageInfo"]["endCursor"]},
        tenant.token(Role.VIEWER),
    )
    assert len(rest["run"]["children"]["nodes"]) == 1
    seen_ids = {n["id"] for n in first["nodes"]} | {n["id"] for n in rest["run"]["children"]["nodes"]}
    assert len(seen_ids) == 3
    bad = await gql.raw(
        "query($id: ID!) { run(id: $id) { events(first: 5001) { seq } } }",
        {"id": str(run_id)},
        tenant.token(Role.VIEWER),
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad
