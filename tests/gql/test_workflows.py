"""Workflows over GraphQL: drafts, immutable versions, validation as UserErrors, pagination, search, DataLoaders."""

from __future__ import annotations

import contextvars
import copy
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from studio_shared.db import models
from studio_shared.examples import APPROVE_LARGE_ORDERS, example
from studio_shared.rbac import Role
from studio_shared.store.pagination import MAX_PAGE

# The demo's example workflow: contract §3's definition with a position on every node.
EXAMPLE: dict[str, Any] = example(APPROVE_LARGE_ORDERS)["definition"]
MINIMAL: dict[str, Any] = {"nodes": [{"id": "start", "type": "trigger.manual", "config": {}}], "edges": []}

WORKFLOW_FIELDS = "id name description draft revision archived createdAt updatedAt latestVersion { version }"
CREATE = f"""mutation($input: CreateWorkflowInput!) {{ createWorkflow(input: $input) {{
    workflow {{ {WORKFLOW_FIELDS} }} errors {{ path message code }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateWorkflowInput!) {{ updateWorkflow(id: $id, input: $input) {{
    workflow {{ {WORKFLOW_FIELDS} }} errors {{ path message code }} }} }}"""
PUBLISH = """mutation($id: ID!, $note: String) { publishWorkflow(id: $id, note: $note) {
    version { id version definition note publishedAt } errors { path message code } } }"""
ARCHIVE = f"""mutation($id: ID!) {{ archiveWorkflow(id: $id) {{
    workflow {{ {WORKFLOW_FIELDS} }} errors {{ path message code }} }} }}"""
GET = """query($id: ID!) { workflow(id: $id) { id name description draft revision archived
    latestVersion { version definition note } } }"""
LIST = """query($first: Int, $after: String, $search: String, $all: Boolean! = false) {
    workflows(first: $first, after: $after, search: $search, includeArchived: $all) {
      edges { cursor node { id name archived } } pageInfo { hasNextPage endCursor } } }"""


def edited(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A deep copy of EXAMPLE after ``change`` mutated it."""
    definition = copy.deepcopy(EXAMPLE)
    change(definition)
    return definition


async def create(gql: Any, token: str, name: str = "Approve big orders", definition: Any = None, **extra: Any) -> Any:
    body = await gql.data(CREATE, {"input": {"name": name, "definition": definition or EXAMPLE, **extra}}, token)
    return body["createWorkflow"]


async def create_ok(gql: Any, token: str, name: str = "Approve big orders", definition: Any = None) -> dict[str, Any]:
    result = await create(gql, token, name, definition)
    assert result["errors"] == []
    workflow: dict[str, Any] = result["workflow"]
    return workflow


async def publish(gql: Any, token: str, workflow_id: str, note: str | None = None) -> Any:
    return (await gql.data(PUBLISH, {"id": workflow_id, "note": note}, token))["publishWorkflow"]


async def update(gql: Any, token: str, workflow_id: str, **changes: Any) -> Any:
    return (await gql.data(UPDATE, {"id": workflow_id, "input": changes}, token))["updateWorkflow"]


async def count_rows(state: Any, model: Any, tenant_id: uuid.UUID) -> int:
    async with state.sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model).where(model.tenant_id == tenant_id)))


@pytest.fixture(scope="module")
async def shared_tenant(make_tenant: Any) -> Any:
    """One tenant for the table-driven tests (each tenant costs five password hashes)."""
    return await make_tenant()


# ------------------------------------------------------------------------------------ draft and versions


async def test_create_publish_edit_publish_keeps_versions_immutable(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    workflow = await create_ok(gql, token, definition=EXAMPLE)
    assert workflow["revision"] == 1
    assert workflow["draft"] == EXAMPLE
    assert workflow["latestVersion"] is None
    assert workflow["archived"] is False
    wid = workflow["id"]

    v1 = await publish(gql, token, wid, "first cut")
    assert v1["errors"] == []
    assert v1["version"]["version"] == 1
    assert v1["version"]["note"] == "first cut"
    assert v1["version"]["publishedAt"]
    assert v1["version"]["definition"] == EXAMPLE

    changed = edited(lambda d: d["nodes"][1]["config"].update(expression="{{ input.amount > 500 }}"))
    edit = await update(gql, token, wid, definition=changed)
    assert edit["errors"] == []
    assert edit["workflow"]["revision"] == 2
    assert edit["workflow"]["draft"] == changed

    v2 = await publish(gql, token, wid)
    assert v2["errors"] == []
    assert v2["version"]["version"] == 2
    assert v2["version"]["note"] is None

    # The draft moves on after version 2; both versions keep what they were published with.
    newer = edited(lambda d: d["nodes"][2]["config"].update(title="Changed after v2"))
    assert (await update(gql, token, wid, definition=newer, name="Renamed"))["errors"] == []

    body = await gql.data(
        """query($id: ID!) { workflow(id: $id) {
             draft latestVersion { version }
             versions { edges { cursor node { version note definition } } pageInfo { hasNextPage } }
             v1: version(version: 1) { version note definition }
             v2: version(version: 2) { definition }
             v9: version(version: 9) { version } } }""",
        {"id": wid},
        token,
    )
    got = body["workflow"]
    assert got["draft"] == newer
    assert got["latestVersion"] == {"version": 2}
    assert [e["node"]["version"] for e in got["versions"]["edges"]] == [2, 1]
    assert got["versions"]["pageInfo"]["hasNextPage"] is False
    assert got["v1"] == {"version": 1, "note": "first cut", "definition": EXAMPLE}
    assert got["v2"] == {"definition": changed}
    assert got["v9"] is None

    # Versions page like any other list.
    first = await gql.data(
        "query($id: ID!) { workflow(id: $id) { versions(first: 1) { edges { cursor node { version } }"
        " pageInfo { hasNextPage endCursor } } } }",
        {"id": wid},
        token,
    )
    page = first["workflow"]["versions"]
    assert [e["node"]["version"] for e in page["edges"]] == [2]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql.data(
        "query($id: ID!, $after: String) { workflow(id: $id) { versions(first: 5, after: $after) {"
        " edges { node { version } } pageInfo { hasNextPage } } } }",
        {"id": wid, "after": page["pageInfo"]["endCursor"]},
        token,
    )
    assert [e["node"]["version"] for e in rest["workflow"]["versions"]["edges"]] == [1]
    assert rest["workflow"]["versions"]["pageInfo"]["hasNextPage"] is False


async def test_no_mutation_changes_a_published_version(gql: Any, tenant: Any, state: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    wid = (await create_ok(gql, token))["id"]
    v1 = (await publish(gql, token, wid, "v1"))["version"]

    # The API offers no operation that edits a version: only publishWorkflow makes one; startRun and replayRun
    # merely pick the version to run.
    schema = await gql.data("{ __schema { mutationType { fields { name args { name } } } } }", token=token)
    for mutation in schema["__schema"]["mutationType"]["fields"]:
        assert "version" not in mutation["name"].lower() or mutation["name"] == "publishWorkflow", mutation
        if mutation["name"] not in {"startRun", "replayRun"}:
            assert all("version" not in arg["name"].lower() for arg in mutation["args"]), mutation

    # Everything a workflow mutation can do leaves version 1 exactly as published.
    other = edited(lambda d: d["nodes"][3]["config"].update(value={"other": True}))
    assert (await update(gql, token, wid, definition=other, name="New", description="d"))["errors"] == []
    assert (await publish(gql, token, wid, "v2"))["errors"] == []
    assert (await gql.data(ARCHIVE, {"id": wid}, token))["archiveWorkflow"]["errors"] == []
    assert (await update(gql, token, wid, definition=EXAMPLE))["errors"][0]["code"] == "CONFLICT"
    assert (await publish(gql, token, wid))["errors"][0]["code"] == "CONFLICT"

    body = await gql.data(
        "query($id: ID!) { workflow(id: $id) { version(version: 1) { id version note definition publishedAt } } }",
        {"id": wid},
        token,
    )
    assert body["workflow"]["version"] == v1
    async with state.sessions() as s:
        rows = (
            await s.scalars(
                sa.select(models.WorkflowVersion)
                .where(models.WorkflowVersion.tenant_id == tenant.id)
                .order_by(models.WorkflowVersion.version)
            )
        ).all()
    assert [(r.version, r.note, r.definition) for r in rows] == [(1, "v1", EXAMPLE), (2, "v2", other)]


async def test_roles_gate_workflow_writes(gql: Any, tenant: Any) -> None:
    wid = (await create_ok(gql, tenant.tokens[Role.EDITOR]))["id"]
    for role in (Role.VIEWER, Role.APPROVER, Role.OPERATOR):
        token = tenant.tokens[role]
        codes = await gql.error_codes(CREATE, {"input": {"name": "x", "definition": MINIMAL}}, token)
        assert codes == ["FORBIDDEN"], role
        assert await gql.error_codes(PUBLISH, {"id": wid}, token) == ["FORBIDDEN"], role
        assert await gql.error_codes(UPDATE, {"id": wid, "input": {"name": "x"}}, token) == ["FORBIDDEN"], role
        # …but every role reads.
        assert (await gql.data(GET, {"id": wid}, token))["workflow"]["id"] == wid
    assert await gql.error_codes(GET, {"id": wid}) == ["UNAUTHENTICATED"]
    admin = await create(gql, tenant.tokens[Role.ADMIN], "by admin", MINIMAL)
    assert admin["errors"] == []


async def test_another_tenants_workflow_is_not_found(gql: Any, tenant: Any, other_tenant: Any) -> None:
    wid = (await create_ok(gql, tenant.tokens[Role.EDITOR]))["id"]
    token = other_tenant.tokens[Role.EDITOR]
    assert (await gql.data(GET, {"id": wid}, token))["workflow"] is None
    for result in (
        await update(gql, token, wid, name="stolen"),
        await publish(gql, token, wid),
        (await gql.data(ARCHIVE, {"id": wid}, token))["archiveWorkflow"],
    ):
        assert [(e["code"], e["path"]) for e in result["errors"]] == [("NOT_FOUND", ["id"])]
    assert (await gql.data(GET, {"id": "not-a-uuid"}, token))["workflow"] is None
    assert (await update(gql, token, "not-a-uuid", name="x"))["errors"][0]["code"] == "NOT_FOUND"
    assert await gql.data(LIST, {}, token) == {
        "workflows": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    }


# ------------------------------------------------------------------------------------ validation on save


def _drop_trigger(d: dict[str, Any]) -> None:
    del d["nodes"][0]
    del d["edges"][0]


INVALID: list[Any] = [
    pytest.param(
        edited(lambda d: d["nodes"][2].update(type="nope.type")),
        [("UNKNOWN_NODE_TYPE", ["nodes", "2", "type"])],
        id="unknown-node-type",
    ),
    pytest.param(
        edited(lambda d: d["nodes"][3]["config"].update(url=42)),
        [("INVALID_CONFIG", ["nodes", "3", "config", "url"])],
        id="config-field-of-wrong-type",
    ),
    pytest.param(
        edited(lambda d: d["nodes"][3]["config"].update(method="FETCH")),
        [("INVALID_CONFIG", ["nodes", "3", "config", "method"])],
        id="config-field-not-in-enum",
    ),
    pytest.param(
        edited(lambda d: d["nodes"][1]["config"].update(bogus=1)),
        [("INVALID_CONFIG", ["nodes", "1", "config", "bogus"])],
        id="unknown-config-field",
    ),
    pytest.param(
        edited(lambda d: d["nodes"][1].update(config={})),
        [("INVALID_CONFIG", ["nodes", "1", "config"])],
        id="missing-required-config",
    ),
    pytest.param(
        edited(lambda d: d["nodes"].append({"id": "notify", "type": "transform", "config": {"value": 1}})),
        [("DUPLICATE_ID", ["nodes", "4", "id"])],
        id="duplicate-node-id",
    ),
    pytest.param(
        edited(lambda d: d["edges"][3].update(target="ghost")),
        [("UNKNOWN_NODE", ["edges", "3", "target"])],
        id="dangling-edge-target",
    ),
    pytest.param(
        edited(lambda d: d["edges"][0].update(source="ghost")),
        [("UNKNOWN_NODE", ["edges", "0", "source"])],
        id="dangling-edge-source",
    ),
    pytest.param(edited(_drop_trigger), [("TRIGGER_COUNT", ["nodes"])], id="no-trigger"),
    pytest.param(
        edited(lambda d: d["nodes"].append({"id": "hook", "type": "trigger.webhook", "config": {}})),
        [("TRIGGER_COUNT", ["nodes"])],
        id="two-triggers",
    ),
    pytest.param(
        edited(lambda d: d["edges"].append({"source": "notify", "target": "check"})),
        [("CYCLE", ["edges", "1"])],
        id="cycle",
    ),
    pytest.param(
        edited(lambda d: d["edges"].append({"source": "notify", "target": "notify"})),
        [("SELF_LOOP", ["edges", "4"])],
        id="self-loop",
    ),
    pytest.param(
        edited(lambda d: d["edges"][1].update(branch="maybe")),
        [("UNKNOWN_BRANCH", ["edges", "1", "branch"])],
        id="undeclared-branch",
    ),
    pytest.param(
        edited(lambda d: d["edges"][0].update(branch="yes")),
        [("BRANCH_ON_PLAIN_NODE", ["edges", "0", "branch"])],
        id="branch-on-plain-node",
    ),
    pytest.param(
        edited(lambda d: d["edges"][1].pop("branch")),
        [("MISSING_BRANCH", ["edges", "1"])],
        id="missing-branch",
    ),
    pytest.param(["not", "an", "object"], [("INVALID_SCHEMA", [])], id="definition-is-a-list"),
    pytest.param("nodes", [("INVALID_SCHEMA", [])], id="definition-is-a-string"),
    pytest.param({"edges": []}, [("INVALID_SCHEMA", [])], id="no-nodes"),
    pytest.param(
        edited(lambda d: (d["nodes"][3]["config"].update(url=42), d["edges"][3].update(target="ghost"))),
        [("UNKNOWN_NODE", ["edges", "3", "target"]), ("INVALID_CONFIG", ["nodes", "3", "config", "url"])],
        id="several-problems-together",
    ),
]


@pytest.mark.parametrize(("definition", "expected"), INVALID)
async def test_create_rejects_invalid_definitions_and_writes_nothing(
    gql: Any, shared_tenant: Any, state: Any, definition: Any, expected: list[tuple[str, list[str]]]
) -> None:
    tenant = shared_tenant
    before = await count_rows(state, models.Workflow, tenant.id)
    audited = await count_rows(state, models.AuditEntry, tenant.id)
    result = await create(gql, tenant.tokens[Role.EDITOR], "broken", definition)
    assert result["workflow"] is None
    assert sorted((e["code"], e["path"]) for e in result["errors"]) == sorted(expected), result["errors"]
    assert all(e["message"] for e in result["errors"])
    assert await count_rows(state, models.Workflow, tenant.id) == before
    assert await count_rows(state, models.AuditEntry, tenant.id) == audited


async def test_create_rejects_bad_names_and_reports_them_with_definition_problems(
    gql: Any, tenant: Any, state: Any
) -> None:
    token = tenant.tokens[Role.EDITOR]
    for name in ("", "   ", "x" * 201):
        result = await create(gql, token, name, MINIMAL)
        assert [(e["code"], e["path"]) for e in result["errors"]] == [("INVALID_LENGTH", ["name"])], name
    assert (await create(gql, token, "x" * 200, MINIMAL))["errors"] == []
    assert await count_rows(state, models.Workflow, tenant.id) == 1


# ------------------------------------------------------------------------------------ updates


async def test_update_is_partial_and_bumps_the_revision(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    workflow = await create_ok(gql, token)
    wid = workflow["id"]
    first = await update(gql, token, wid, description="Orders over 100 need a human")
    assert first["errors"] == []
    got = first["workflow"]
    assert (got["name"], got["description"], got["draft"], got["revision"]) == (
        "Approve big orders",
        "Orders over 100 need a human",
        EXAMPLE,
        2,
    )
    assert got["createdAt"] == workflow["createdAt"]
    assert got["updatedAt"] >= workflow["updatedAt"]

    second = await update(gql, token, wid, name="Big orders", expectedRevision=2)
    assert second["errors"] == []
    got = second["workflow"]
    assert (got["name"], got["description"], got["draft"], got["revision"]) == (
        "Big orders",
        "Orders over 100 need a human",
        EXAMPLE,
        3,
    )
    stored = (await gql.data(GET, {"id": wid}, token))["workflow"]
    assert (stored["name"], stored["description"], stored["draft"], stored["revision"]) == (
        "Big orders",
        "Orders over 100 need a human",
        EXAMPLE,
        3,
    )


async def test_stale_expected_revision_is_a_conflict_and_changes_nothing(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    wid = (await create_ok(gql, token))["id"]
    assert (await update(gql, token, wid, name="Second", expectedRevision=1))["errors"] == []  # now revision 2
    changed = edited(lambda d: d["nodes"][2]["config"].update(title="Lost edit"))
    stale = await update(gql, token, wid, definition=changed, name="Lost", expectedRevision=1)
    assert stale["workflow"] is None
    assert [(e["code"], e["path"]) for e in stale["errors"]] == [("CONFLICT", ["expectedRevision"])]
    assert "revision 2" in stale["errors"][0]["message"]
    stored = (await gql.data(GET, {"id": wid}, token))["workflow"]
    assert (stored["name"], stored["draft"], stored["revision"]) == ("Second", EXAMPLE, 2)


async def test_update_with_invalid_input_changes_nothing(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    wid = (await create_ok(gql, token))["id"]
    broken = edited(lambda d: d["edges"].append({"source": "notify", "target": "start"}))
    result = await update(gql, token, wid, definition=broken, name="Should not stick")
    assert result["workflow"] is None
    assert [(e["code"], e["path"]) for e in result["errors"]] == [("EDGE_INTO_TRIGGER", ["edges", "4", "target"])]
    for name in ("", "y" * 201):
        result = await update(gql, token, wid, name=name)
        assert [(e["code"], e["path"]) for e in result["errors"]] == [("INVALID_LENGTH", ["name"])], name
    stored = (await gql.data(GET, {"id": wid}, token))["workflow"]
    assert (stored["name"], stored["draft"], stored["revision"]) == ("Approve big orders", EXAMPLE, 1)


# ------------------------------------------------------------------------------------ archive


async def test_archived_workflows_leave_the_list_and_refuse_edits(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    keep = (await create_ok(gql, token, "keep"))["id"]
    gone = (await create_ok(gql, token, "gone"))["id"]
    archived = (await gql.data(ARCHIVE, {"id": gone}, token))["archiveWorkflow"]
    assert archived["errors"] == []
    assert archived["workflow"]["archived"] is True
    again = (await gql.data(ARCHIVE, {"id": gone}, token))["archiveWorkflow"]  # idempotent
    assert again["errors"] == []
    assert again["workflow"]["archived"] is True

    listed = await gql.data(LIST, {}, token)
    assert [e["node"]["id"] for e in listed["workflows"]["edges"]] == [keep]
    everything = await gql.data(LIST, {"all": True}, token)
    assert [(e["node"]["id"], e["node"]["archived"]) for e in everything["workflows"]["edges"]] == [
        (gone, True),
        (keep, False),
    ]
    assert (await gql.data(GET, {"id": gone}, token))["workflow"]["archived"] is True

    edit = await update(gql, token, gone, name="revived")
    assert [e["code"] for e in edit["errors"]] == ["CONFLICT"]
    assert "archived" in edit["errors"][0]["message"]
    published = await publish(gql, token, gone)
    assert published["version"] is None
    assert [e["code"] for e in published["errors"]] == ["CONFLICT"]
    assert "archived" in published["errors"][0]["message"]
    stored = (await gql.data(GET, {"id": gone}, token))["workflow"]
    assert (stored["name"], stored["revision"], stored["latestVersion"]) == ("gone", 1, None)


# ------------------------------------------------------------------------------------ publish validates


async def test_publish_validates_the_draft_and_writes_no_version_when_invalid(
    gql: Any, tenant: Any, state: Any
) -> None:
    token = tenant.tokens[Role.EDITOR]
    wid = (await create_ok(gql, token))["id"]
    assert (await publish(gql, token, wid, "good"))["errors"] == []

    # A draft that no longer validates (e.g. saved before a registry change), written behind the API's back.
    broken = edited(lambda d: (d["nodes"][3]["config"].pop("value"), d["nodes"][2].update(type="gone.type")))
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Workflow).where(models.Workflow.id == uuid.UUID(wid)).values(draft=broken))

    result = await publish(gql, token, wid, "bad")
    assert result["version"] is None
    assert sorted((e["code"], e["path"]) for e in result["errors"]) == [
        ("INVALID_CONFIG", ["nodes", "3", "config"]),
        ("UNKNOWN_NODE_TYPE", ["nodes", "2", "type"]),
    ]
    assert await count_rows(state, models.WorkflowVersion, tenant.id) == 1
    latest = (await gql.data(GET, {"id": wid}, token))["workflow"]["latestVersion"]
    assert latest == {"version": 1, "definition": EXAMPLE, "note": "good"}

    # Fixing the draft through the API makes publishing possible again.
    assert (await update(gql, token, wid, definition=EXAMPLE))["errors"] == []
    assert (await publish(gql, token, wid, "fixed"))["version"]["version"] == 2

    long_note = await publish(gql, token, wid, "n" * 2001)
    assert [e["path"] for e in long_note["errors"]] == [["note"]]
    assert await count_rows(state, models.WorkflowVersion, tenant.id) == 2


# ------------------------------------------------------------------------------------ list, pages, search


async def test_workflows_page_newest_first_without_duplicates(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.VIEWER]
    editor = tenant.tokens[Role.EDITOR]
    created = [(await create_ok(gql, editor, f"wf {i:02d}", MINIMAL))["id"] for i in range(25)]

    seen: list[str] = []
    flags: list[bool] = []
    after: str | None = None
    for _ in range(4):
        body = await gql.data(LIST, {"first": 10, "after": after}, token)
        page = body["workflows"]
        seen.extend(e["node"]["id"] for e in page["edges"])
        flags.append(page["pageInfo"]["hasNextPage"])
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert flags == [True, True, False]
    assert len(seen) == len(set(seen)) == 25
    assert seen == created[::-1]

    default = await gql.data(LIST, {}, token)
    assert len(default["workflows"]["edges"]) == 20
    assert default["workflows"]["pageInfo"]["hasNextPage"] is True
    biggest = await gql.data(LIST, {"first": MAX_PAGE}, token)
    assert len(biggest["workflows"]["edges"]) == 25
    # Relay allows first: 0 (an empty page that still says whether there is more).
    empty = await gql.data(LIST, {"first": 0}, token)
    assert empty["workflows"] == {"edges": [], "pageInfo": {"hasNextPage": True, "endCursor": None}}


@pytest.mark.parametrize(
    ("variables", "path", "words"),
    [
        pytest.param({"first": -1}, ["first"], "between 0 and 100", id="negative-first"),
        pytest.param({"first": MAX_PAGE + 1}, ["first"], "between 0 and 100", id="first-over-the-maximum"),
        pytest.param({"after": "garbage!"}, ["after"], "invalid cursor", id="garbage-cursor"),
        pytest.param({"after": "WyJub3QtYS1kYXRlIiwieCJd"}, ["after"], "invalid cursor", id="cursor-of-garbage-json"),
    ],
)
async def test_bad_page_arguments_are_clear_errors(
    gql: Any, shared_tenant: Any, variables: dict[str, Any], path: list[str], words: str
) -> None:
    await create_ok(gql, shared_tenant.tokens[Role.EDITOR], "one", MINIMAL)
    body = await gql.raw(LIST, variables, shared_tenant.tokens[Role.VIEWER])
    assert body["data"] is None
    [error] = body["errors"]
    assert words in error["message"], error
    assert "Internal error" not in error["message"]
    assert error["path"] == ["workflows"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert [p["path"] for p in error["extensions"]["problems"]] == [path]


async def test_search_is_a_case_insensitive_literal_substring(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    names = ["Invoice_Approval", "invoice approval", "INVOICEXAPPROVAL", "100% refunds", "100 refunds", "a\\b"]
    ids = {name: (await create_ok(gql, token, name, MINIMAL))["id"] for name in names}

    async def search(text: str) -> list[str]:
        body = await gql.data(LIST, {"search": text, "first": 50}, token)
        by_id = {v: k for k, v in ids.items()}
        return sorted(by_id[e["node"]["id"]] for e in body["workflows"]["edges"])

    assert await search("invoice") == sorted(names[:3])
    assert await search("InVoIcE") == sorted(names[:3])
    assert await search("_") == ["Invoice_Approval"]
    assert await search("e_a") == ["Invoice_Approval"]
    assert await search("%") == ["100% refunds"]
    assert await search("100%") == ["100% refunds"]
    assert await search("\\") == ["a\\b"]
    assert await search("  refunds  ") == sorted(names[3:5])
    assert await search("nothing like it") == []
    assert len(await search("")) == len(names)


# ------------------------------------------------------------------------------------ statements per request


_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("counting", default=None)


@contextmanager
def statements(state: Any) -> Iterator[list[str]]:
    """Collect the SQL this task (and the tasks it spawns) sends while the block runs."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sink = _counting.get()
        # Transaction control and the tenant declaration of row-level security (one per transaction, PostgreSQL)
        # are not queries of the request.
        if sink is not None and not statement.startswith(("BEGIN", "SELECT set_config('studio.tenant_id'")):
            sink.append(statement)

    token = _counting.set(seen)
    event.listen(state.db_engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(state.db_engine.sync_engine, "before_cursor_execute", before)
        _counting.reset(token)


LIST_WITH_VERSIONS = "{ workflows(first: 50) { edges { node { id name latestVersion { version definition } } } } }"


async def test_latest_version_is_batched_whatever_the_page_size(gql: Any, make_tenant: Any, state: Any) -> None:
    counts: dict[int, int] = {}
    for size in (5, 50):
        tenant = await make_tenant()
        token = tenant.tokens[Role.EDITOR]
        expected: dict[str, int | None] = {}
        for i in range(size):
            wid = (await create_ok(gql, token, f"w{i}"))["id"]
            versions = i % 3  # never published, once, twice
            for _ in range(versions):
                assert (await publish(gql, token, wid))["errors"] == []
            expected[wid] = versions or None
        with statements(state) as seen:
            body = await gql.data(LIST_WITH_VERSIONS, token=token)
        edges = body["workflows"]["edges"]
        assert len(edges) == size
        got = {e["node"]["id"]: (e["node"]["latestVersion"] or {}).get("version") for e in edges}
        assert got == expected
        assert all(
            e["node"]["latestVersion"] is None or e["node"]["latestVersion"]["definition"] == EXAMPLE for e in edges
        )
        counts[size] = len(seen)
    assert counts[5] == counts[50], f"statements per request grew with the page: {counts}"
    assert 2 <= counts[50] <= 4, f"statements per request: {counts}"


# ------------------------------------------------------------------------------------ the registry


CONTRACT_TYPES = {
    "trigger.manual",
    "trigger.webhook",
    "trigger.schedule",
    "trigger.message",
    "transform",
    "condition",
    "switch",
    "delay",
    "fail",
    "http.request",
    "llm.chat",
    "agent",
    "human.approval",
    "artifact.write",
    "message.reply",
    "email.send",
    "sql.query",
    "foreach",
    "subworkflow",
    "loop",
    "wait.event",
    "code",
}


async def test_node_types_serve_every_contract_type(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.VIEWER]
    body = await gql.data(
        "{ nodeTypes { type title category description configSchema outputSchema branches } }", token=token
    )
    by_type = {n["type"]: n for n in body["nodeTypes"]}
    assert set(by_type) >= CONTRACT_TYPES
    for node in by_type.values():
        assert isinstance(node["configSchema"], dict), node["type"]
        assert node["configSchema"].get("type") == "object", node["type"]
        assert node["title"], node["type"]
        assert node["category"], node["type"]
        assert node["description"], node["type"]
    assert by_type["condition"]["branches"] == ["true", "false"]
    assert by_type["human.approval"]["branches"] == ["approved", "rejected"]
    assert by_type["transform"]["branches"] == []
    assert "url" in by_type["http.request"]["configSchema"]["properties"]

    one = await gql.data(
        'query($t: String!) { nodeType(type: $t) { type configSchema } nope: nodeType(type: "nope") { type } }',
        {"t": "http.request"},
        token,
    )
    assert one["nodeType"]["type"] == "http.request"
    assert one["nodeType"]["configSchema"] == by_type["http.request"]["configSchema"]
    assert one["nope"] is None


async def test_validate_definition_reports_problems_without_saving(gql: Any, tenant: Any, state: Any) -> None:
    token = tenant.tokens[Role.VIEWER]
    query = "query($d: JSON!) { validateDefinition(definition: $d) { path message code } }"
    assert (await gql.data(query, {"d": EXAMPLE}, token))["validateDefinition"] == []
    broken = edited(lambda d: (d["nodes"][3]["config"].update(url=42), d["edges"][1].update(branch="maybe")))
    problems = (await gql.data(query, {"d": broken}, token))["validateDefinition"]
    assert sorted((p["code"], p["path"]) for p in problems) == [
        ("INVALID_CONFIG", ["nodes", "3", "config", "url"]),
        ("UNKNOWN_BRANCH", ["edges", "1", "branch"]),
    ]
    assert all(p["message"] for p in problems)
    assert await count_rows(state, models.Workflow, tenant.id) == 0
