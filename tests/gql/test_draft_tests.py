"""Testing the draft before publishing it: test runs, test steps, replays against the draft, pinned outputs.

Through GraphQL, on the same engine as every run (embedded in the SQLite pass, worker processes and Redis in the
PostgreSQL pass). A test run executes a test snapshot of the draft, is marked ``test`` on the run, its events and
the runs filter, and never touches published versions; pins stand in for nodes in test runs only.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, wait_for

pytestmark = pytest.mark.usefixtures("workers")

CREATE = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id revision } errors { code message } } }"""
UPDATE = """mutation($id: ID!, $d: JSON!) {
  updateWorkflow(id: $id, input: {definition: $d}) { workflow { id revision } errors { code message } } }"""
PUBLISH = "mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { code message } } }"
START = "mutation($id: ID!, $i: JSON) { startRun(workflowId: $id, input: $i) { run { id test } errors { code } } }"
TEST_RUN = """mutation($id: ID!, $i: JSON, $pins: Boolean! = true, $key: String) {
  testRun(workflowId: $id, input: $i, usePins: $pins, idempotencyKey: $key) {
    created run { id test version status draftRevision } errors { path message code } } }"""
TEST_STEP = """mutation($id: ID!, $node: String!, $i: JSON, $from: ID, $up: JSON, $pins: Boolean! = true) {
  testStep(workflowId: $id, nodeId: $node, input: $i, fromRunId: $from, upstream: $up, usePins: $pins) {
    run { id test triggerDetails { testStep upstreamRun } } errors { path message code } } }"""
TEST_REPLAY = """mutation($id: ID!) { testReplay(runId: $id) {
  run { id test input triggerDetails { replayOf } } errors { code message } } }"""
PIN = """mutation($id: ID!, $node: String!, $from: ID, $out: JSON, $br: [String!]) {
  pinNodeOutput(workflowId: $id, nodeId: $node, fromRunId: $from, output: $out, branches: $br) {
    pin { nodeId output branches source sourceRunId pinnedBy { email } } workflow { pins { nodeId } }
    errors { path message code } } }"""
UNPIN = """mutation($id: ID!, $node: String!) { unpinNodeOutput(workflowId: $id, nodeId: $node) {
  pin { nodeId } workflow { pins { nodeId } } errors { code } } }"""
CANCEL = "mutation($id: ID!) { cancelRun(id: $id) { run { status } errors { code } } }"
ARCHIVE = "mutation($id: ID!) { archiveWorkflow(id: $id) { workflow { archived } errors { code } } }"
RUN = """query($id: ID!) { run(id: $id) { id test version status output
  steps { stepId status output pinned logs durationMs input error }
  events { kind data } } }"""
WORKFLOW = """query($id: ID!) { workflow(id: $id) { latestVersion { version } versions(first: 10) { edges { node {
  version } } } pins { nodeId output } } }"""
RUNS = """query($w: ID!, $test: Boolean) { runs(first: 50, filter: {workflowId: $w, test: $test}) {
  edges { node { id test } } } }"""

GREETING = chain(
    {"id": "hello", "type": "transform", "config": {"value": {"greeting": "hi {{ input.name }}"}}},
    {"id": "shout", "type": "transform", "config": {"value": "{{ steps.hello.output.greeting | upper }}"}},
)
# A node that always fails, after a transform: pinning it is the only way the run can succeed.
FAILING = chain(
    {"id": "a", "type": "transform", "config": {"value": {"n": "{{ input.n }}"}}},
    {"id": "boom", "type": "fail", "config": {"message": "boom {{ steps.a.output.n }}"}},
    {"id": "after", "type": "transform", "config": {"value": "{{ steps.boom.output.x }}"}},
)


async def create(gql: GraphQLClient, tenant: TenantFixture, definition: dict[str, Any], name: str = "draft") -> str:
    data = await gql.data(CREATE, {"n": name, "d": definition}, tenant.token(Role.EDITOR))
    assert data["createWorkflow"]["errors"] == [], data
    workflow_id: str = data["createWorkflow"]["workflow"]["id"]
    return workflow_id


async def start_test(gql: GraphQLClient, tenant: TenantFixture, workflow_id: str, **variables: Any) -> dict[str, Any]:
    data = await gql.data(TEST_RUN, {"id": workflow_id, **variables}, tenant.token(Role.EDITOR))
    payload: dict[str, Any] = data["testRun"]
    return payload


async def finished(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, run_id: str, statuses: set[RunStatus] | None = None
) -> dict[str, Any]:
    await wait_for(state, tenant.id, uuid.UUID(run_id), statuses)
    run: dict[str, Any] = (await gql.data(RUN, {"id": run_id}, tenant.token(Role.VIEWER)))["run"]
    return run


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["stepId"]: step for step in run["steps"]}


async def test_a_test_run_runs_the_unpublished_draft_and_is_marked_test_everywhere(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    # Not published: a real start is refused, a test run of the draft is not.
    refused = await gql.data(START, {"id": workflow_id, "i": {"name": "ada"}}, tenant.token(Role.OPERATOR))
    assert [e["code"] for e in refused["startRun"]["errors"]] == ["NOT_PUBLISHED"]
    started = await start_test(gql, tenant, workflow_id, i={"name": "ada"})
    assert started["errors"] == [] and started["created"] is True
    assert started["run"]["test"] is True and started["run"]["version"] == 0
    assert started["run"]["draftRevision"] == 1
    run = await finished(gql, state, tenant, started["run"]["id"])
    assert run["status"] == "SUCCEEDED", run
    assert run["output"] == {"shout": "HI ADA"}
    run_events = [e for e in run["events"] if e["kind"].startswith("RUN_")]
    assert [e["kind"] for e in run_events] == ["RUN_QUEUED", "RUN_STARTED", "RUN_SUCCEEDED"]
    assert all(e["data"]["test"] is True for e in run_events), run_events
    assert not any(step["pinned"] for step in run["steps"])
    # The test touched no published version: none exists, none is listed, nothing is the latest.
    workflow = (await gql.data(WORKFLOW, {"id": workflow_id}, tenant.token(Role.VIEWER)))["workflow"]
    assert workflow["latestVersion"] is None and workflow["versions"]["edges"] == []
    # Publish: version 1 (test snapshots take no version number); a live run is not a test run.
    published = await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR))
    assert published["publishWorkflow"] == {"version": {"version": 1}, "errors": []}
    live = await gql.data(START, {"id": workflow_id, "i": {"name": "bo"}}, tenant.token(Role.OPERATOR))
    live_id = live["startRun"]["run"]["id"]
    live_run = await finished(gql, state, tenant, live_id)
    assert live_run["test"] is False and live_run["version"] == 1
    assert all("test" not in (e["data"] or {}) for e in live_run["events"] if e["kind"].startswith("RUN_"))
    # The runs filter: test only, live only, both.
    for test, expected in ((True, {started["run"]["id"]}), (False, {live_id}), (None, {started["run"]["id"], live_id})):
        listed = await gql.data(RUNS, {"w": workflow_id, "test": test}, tenant.token(Role.VIEWER))
        assert {edge["node"]["id"] for edge in listed["runs"]["edges"]} == expected, test


async def test_a_test_run_of_an_invalid_draft_is_refused_with_its_problems(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """A draft saved before a stricter check (written straight to the table here) is refused as publish refuses it,
    with the problems as payload errors, and nothing is stored: no run, no snapshot."""
    workflow_id = await create(gql, tenant, GREETING)
    broken = {
        "nodes": [*GREETING["nodes"], {"id": "x", "type": "no.such.type", "config": {}}],
        "edges": GREETING["edges"],
    }
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Workflow).where(models.Workflow.id == uuid.UUID(workflow_id)).values(draft=broken)
        )
    refused = await start_test(gql, tenant, workflow_id)
    assert refused["run"] is None
    assert refused["errors"] and refused["errors"][0]["path"][:2] == ["nodes", "3"], refused
    assert "no.such.type" in refused["errors"][0]["message"]
    async with state.sessions() as s:
        runs = await s.scalar(sa.select(sa.func.count()).where(models.Run.workflow_id == uuid.UUID(workflow_id)))
        snapshots = await s.scalar(
            sa.select(sa.func.count()).where(models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id))
        )
    assert (runs, snapshots) == (0, 0)
    step = await gql.data(TEST_STEP, {"id": workflow_id, "node": "hello"}, tenant.token(Role.EDITOR))
    assert step["testStep"]["run"] is None and step["testStep"]["errors"], step


async def test_pins_stand_in_for_their_nodes_in_test_runs_and_never_in_published_runs(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, FAILING)
    pinned = await gql.data(PIN, {"id": workflow_id, "node": "boom", "out": {"x": 42}}, tenant.token(Role.EDITOR))
    pin = pinned["pinNodeOutput"]
    assert pin["errors"] == [] and pin["pin"]["source"] == "manual" and pin["pin"]["output"] == {"x": 42}
    assert pin["pin"]["pinnedBy"] == {"email": tenant.emails[Role.EDITOR]}
    assert pin["workflow"]["pins"] == [{"nodeId": "boom"}]

    test = await finished(gql, state, tenant, (await start_test(gql, tenant, workflow_id, i={"n": 1}))["run"]["id"])
    assert test["status"] == "SUCCEEDED", test
    steps = steps_of(test)
    assert steps["boom"]["pinned"] is True and steps["boom"]["output"] == {"x": 42}
    assert steps["after"]["output"] == 42 and steps["a"]["pinned"] is False
    succeeded = [e for e in test["events"] if e["kind"] == "STEP_SUCCEEDED" and e["data"].get("pinned")]
    assert len(succeeded) == 1

    # usePins: false runs every node: the fail node fails.
    unpinned = await start_test(gql, tenant, workflow_id, i={"n": 1}, pins=False)
    assert (await finished(gql, state, tenant, unpinned["run"]["id"]))["status"] == "FAILED"

    # Published with the pin still on the draft: the published run executes the node, whatever the pins.
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    live = await gql.data(START, {"id": workflow_id, "i": {"n": 1}}, tenant.token(Role.OPERATOR))
    live_run = await finished(gql, state, tenant, live["startRun"]["run"]["id"])
    assert live_run["status"] == "FAILED", live_run
    assert steps_of(live_run)["boom"]["pinned"] is False
    assert steps_of(live_run)["boom"]["error"]["message"] == "boom 1"
    async with state.sessions() as s:
        version = await s.scalar(
            sa.select(models.WorkflowVersion).where(
                models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id), models.WorkflowVersion.version == 1
            )
        )
    assert version is not None and version.pins is None and not version.test  # pins never reach a version

    # Unpin: the next test run executes the node again.
    unpinned_payload = (await gql.data(UNPIN, {"id": workflow_id, "node": "boom"}, tenant.token(Role.EDITOR)))[
        "unpinNodeOutput"
    ]
    assert unpinned_payload["errors"] == [] and unpinned_payload["workflow"]["pins"] == []
    again = await start_test(gql, tenant, workflow_id, i={"n": 2})
    assert (await finished(gql, state, tenant, again["run"]["id"]))["status"] == "FAILED"
    twice = await gql.data(UNPIN, {"id": workflow_id, "node": "boom"}, tenant.token(Role.EDITOR))
    assert twice["unpinNodeOutput"]["errors"] == [] and twice["unpinNodeOutput"]["pin"] is None


async def test_a_pin_from_a_run_step_copies_its_output_and_a_foreign_run_reads_as_missing(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    source = await start_test(gql, tenant, workflow_id, i={"name": "ada"})
    await finished(gql, state, tenant, source["run"]["id"])
    pinned = await gql.data(
        PIN, {"id": workflow_id, "node": "hello", "from": source["run"]["id"]}, tenant.token(Role.EDITOR)
    )
    pin = pinned["pinNodeOutput"]
    assert pin["errors"] == [] and pin["pin"]["source"] == "run"
    assert pin["pin"]["output"] == {"greeting": "hi ada"} and pin["pin"]["sourceRunId"] == source["run"]["id"]

    # Another tenant's run, and a run of another workflow of the same tenant: both "not found", nothing pinned.
    foreign_workflow = await create(gql, other_tenant, GREETING)
    foreign = await start_test(gql, other_tenant, foreign_workflow, i={"name": "eve"})
    await finished(gql, state, other_tenant, foreign["run"]["id"])
    sibling_workflow = await create(gql, tenant, GREETING, name="sibling")
    sibling = await start_test(gql, tenant, sibling_workflow, i={"name": "cy"})
    await finished(gql, state, tenant, sibling["run"]["id"])
    for run_id in (foreign["run"]["id"], sibling["run"]["id"], str(uuid.uuid4())):
        refused = await gql.data(PIN, {"id": workflow_id, "node": "shout", "from": run_id}, tenant.token(Role.EDITOR))
        assert refused["pinNodeOutput"]["pin"] is None
        assert [e["code"] for e in refused["pinNodeOutput"]["errors"]] == ["NOT_FOUND"], refused
        assert run_id in refused["pinNodeOutput"]["errors"][0]["message"]
    # Another tenant's workflow reads as missing too.
    refused = await gql.data(PIN, {"id": foreign_workflow, "node": "hello", "out": 1}, tenant.token(Role.EDITOR))
    assert [e["code"] for e in refused["pinNodeOutput"]["errors"]] == ["NOT_FOUND"]
    # Bad input: a node the draft lacks, no output at all, a branching node without its branch.
    for variables, path in (
        ({"node": "nope", "out": 1}, ["nodeId"]),
        ({"node": "hello"}, ["output"]),
    ):
        refused = await gql.data(PIN, {"id": workflow_id, **variables}, tenant.token(Role.EDITOR))
        assert refused["pinNodeOutput"]["errors"][0]["path"] == path, refused
    workflow = (await gql.data(WORKFLOW, {"id": workflow_id}, tenant.token(Role.VIEWER)))["workflow"]
    assert workflow["pins"] == [{"nodeId": "hello", "output": {"greeting": "hi ada"}}]


async def test_a_pinned_branching_node_takes_the_branch_its_output_implies(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    definition = chain(
        {"id": "check", "type": "condition", "config": {"expression": "{{ input.amount > 100 }}"}},
        {"id": "big", "type": "transform", "config": {"value": "big"}},
        {"id": "small", "type": "transform", "config": {"value": "small"}},
        edges=[("start", "check"), ("check", "big", "true"), ("check", "small", "false")],
    )
    workflow_id = await create(gql, tenant, definition)
    pinned = await gql.data(
        PIN, {"id": workflow_id, "node": "check", "out": {"result": True}}, tenant.token(Role.EDITOR)
    )
    assert pinned["pinNodeOutput"]["pin"]["branches"] == ["true"]
    run = await finished(gql, state, tenant, (await start_test(gql, tenant, workflow_id, i={"amount": 1}))["run"]["id"])
    assert {k: v["status"] for k, v in steps_of(run).items()} == {
        "start": "SUCCEEDED",
        "check": "SUCCEEDED",
        "big": "SUCCEEDED",
        "small": "SKIPPED",
    }
    # An output that implies no branch: the caller must name them.
    refused = await gql.data(PIN, {"id": workflow_id, "node": "check", "out": {"x": 1}}, tenant.token(Role.EDITOR))
    assert refused["pinNodeOutput"]["errors"][0]["path"] == ["branches"], refused


async def test_a_test_step_runs_one_node_with_upstream_data_from_pins_a_run_or_json(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    editor = tenant.token(Role.EDITOR)

    # Typed by hand: the upstream step's output; the trigger's output is the input.
    typed = await gql.data(
        TEST_STEP, {"id": workflow_id, "node": "shout", "up": {"hello": {"greeting": "typed"}}}, editor
    )
    assert typed["testStep"]["errors"] == [] and typed["testStep"]["run"]["test"] is True
    assert typed["testStep"]["run"]["triggerDetails"] == {"testStep": "shout", "upstreamRun": None}
    run = await finished(gql, state, tenant, typed["testStep"]["run"]["id"])
    assert run["status"] == "SUCCEEDED", run
    steps = steps_of(run)
    assert steps["shout"]["output"] == "TYPED" and steps["shout"]["durationMs"] is not None
    assert steps["shout"]["input"] == {"value": "TYPED"}  # the rendered config
    assert steps["hello"]["status"] == "SUCCEEDED" and steps["hello"]["logs"] == [
        "not run by this test step: output typed by hand"
    ]
    assert [e["kind"] for e in run["events"] if e["kind"].startswith("STEP_")] == ["STEP_STARTED", "STEP_SUCCEEDED"]

    # From an earlier run's steps.
    earlier = await start_test(gql, tenant, workflow_id, i={"name": "ada"})
    await finished(gql, state, tenant, earlier["run"]["id"])
    from_run = await gql.data(TEST_STEP, {"id": workflow_id, "node": "shout", "from": earlier["run"]["id"]}, editor)
    assert from_run["testStep"]["run"]["triggerDetails"]["upstreamRun"] == earlier["run"]["id"]
    run = await finished(gql, state, tenant, from_run["testStep"]["run"]["id"])
    assert steps_of(run)["shout"]["output"] == "HI ADA"

    # From a pin (the tested node runs even when pinned itself).
    await gql.data(PIN, {"id": workflow_id, "node": "hello", "out": {"greeting": "pinned"}}, editor)
    await gql.data(PIN, {"id": workflow_id, "node": "shout", "out": "never used"}, editor)
    from_pin = await gql.data(TEST_STEP, {"id": workflow_id, "node": "shout"}, editor)
    run = await finished(gql, state, tenant, from_pin["testStep"]["run"]["id"])
    steps = steps_of(run)
    assert steps["shout"]["output"] == "PINNED" and steps["shout"]["pinned"] is False
    assert steps["hello"]["pinned"] is True

    # The first node after the trigger needs nothing but the input; waitSeconds answers with the finished run.
    waited = await gql.data(
        """mutation($id: ID!, $i: JSON) { testStep(workflowId: $id, nodeId: "hello", input: $i, waitSeconds: 10) {
             run { id status step(stepId: "hello") { status output durationMs } } errors { code } } }""",
        {"id": workflow_id, "i": {"name": "cy"}},
        editor,
    )
    assert waited["testStep"]["run"]["status"] == "SUCCEEDED", waited
    assert waited["testStep"]["run"]["step"]["output"] == {"greeting": "hi cy"}
    run = await finished(gql, state, tenant, waited["testStep"]["run"]["id"])
    assert steps_of(run)["shout"]["status"] == "SKIPPED"  # downstream of the tested node: not run
    too_long = await gql.data(
        'mutation($id: ID!) { testStep(workflowId: $id, nodeId: "hello", waitSeconds: 11) { errors { path } } }',
        {"id": workflow_id},
        editor,
    )
    assert too_long["testStep"]["errors"] == [{"path": ["waitSeconds"]}]


async def test_a_test_step_refuses_an_unknown_node_missing_upstream_data_and_a_foreign_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    editor = tenant.token(Role.EDITOR)

    async def refused(**variables: Any) -> list[dict[str, Any]]:
        data = await gql.data(TEST_STEP, {"id": workflow_id, **variables}, editor)
        assert data["testStep"]["run"] is None, data
        errors: list[dict[str, Any]] = data["testStep"]["errors"]
        return errors

    unknown = await refused(node="nope")
    assert unknown[0]["code"] == "NOT_FOUND" and unknown[0]["path"] == ["nodeId"], unknown
    missing = await refused(node="shout")
    assert missing[0]["code"] == "MISSING_UPSTREAM" and "'hello'" in missing[0]["message"], missing
    bad_key = await refused(node="shout", up={"ghost": 1})
    assert bad_key[0]["path"] == ["upstream", "ghost"], bad_key
    not_object = await refused(node="shout", up=[1, 2])
    assert not_object[0]["path"] == ["upstream"], not_object
    foreign_workflow = await create(gql, other_tenant, GREETING)
    foreign = await start_test(gql, other_tenant, foreign_workflow, i={"name": "eve"})
    await finished(gql, state, other_tenant, foreign["run"]["id"])
    foreign_run = await refused(node="shout", **{"from": foreign["run"]["id"]})
    assert foreign_run[0]["code"] == "NOT_FOUND", foreign_run
    async with state.sessions() as s:
        count = await s.scalar(sa.select(sa.func.count()).where(models.Run.workflow_id == uuid.UUID(workflow_id)))
        snapshots = await s.scalar(
            sa.select(sa.func.count()).where(models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id))
        )
    assert (count, snapshots) == (0, 0), "a refused test step stores nothing"


async def test_replaying_an_earlier_runs_trigger_payload_against_the_draft(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    live = await gql.data(START, {"id": workflow_id, "i": {"name": "ada"}}, tenant.token(Role.OPERATOR))
    await finished(gql, state, tenant, live["startRun"]["run"]["id"])
    # The draft changes after the run: the replay runs the new draft, with the old payload.
    changed = chain(
        {"id": "hello", "type": "transform", "config": {"value": {"greeting": "hello {{ input.name }}"}}},
        {"id": "shout", "type": "transform", "config": {"value": "{{ steps.hello.output.greeting | upper }}"}},
    )
    assert (await gql.data(UPDATE, {"id": workflow_id, "d": changed}, tenant.token(Role.EDITOR)))["updateWorkflow"][
        "errors"
    ] == []
    replay = (await gql.data(TEST_REPLAY, {"id": live["startRun"]["run"]["id"]}, tenant.token(Role.EDITOR)))[
        "testReplay"
    ]
    assert replay["errors"] == [] and replay["run"]["test"] is True and replay["run"]["input"] == {"name": "ada"}
    assert replay["run"]["triggerDetails"]["replayOf"] == live["startRun"]["run"]["id"]
    run = await finished(gql, state, tenant, replay["run"]["id"])
    assert run["output"] == {"shout": "HELLO ADA"} and run["version"] == 0
    unknown = await gql.data(TEST_REPLAY, {"id": str(uuid.uuid4())}, tenant.token(Role.EDITOR))
    assert [e["code"] for e in unknown["testReplay"]["errors"]] == ["NOT_FOUND"]


SLOW = chain(
    {"id": "a", "type": "transform", "config": {"value": 1}},
    {"id": "nap", "type": "test.sleep", "config": {"seconds": 30}},
    {"id": "b", "type": "transform", "config": {"value": 2}},
)


async def until_running(state: AppState, tenant: TenantFixture, run_id: str) -> None:
    found = await wait_for(state, tenant.id, uuid.UUID(run_id), {RunStatus.RUNNING})
    for _ in range(500):
        if found.steps["nap"].status.value == "RUNNING":
            return
        await asyncio.sleep(0.02)
        found = await wait_for(state, tenant.id, uuid.UUID(run_id), {RunStatus.RUNNING})
    raise AssertionError("the nap step never started")


async def test_a_test_run_cancelled_midway(gql: GraphQLClient, state: AppState, tenant: TenantFixture) -> None:
    workflow_id = await create(gql, tenant, SLOW)
    started = await start_test(gql, tenant, workflow_id)
    await until_running(state, tenant, started["run"]["id"])
    cancelled = await gql.data(CANCEL, {"id": started["run"]["id"]}, tenant.token(Role.OPERATOR))
    assert cancelled["cancelRun"]["errors"] == []
    run = await finished(gql, state, tenant, started["run"]["id"])
    assert run["status"] == "CANCELLED"
    steps = steps_of(run)
    assert (steps["a"]["status"], steps["nap"]["status"], steps["b"]["status"]) == (
        "SUCCEEDED",
        "CANCELLED",
        "CANCELLED",
    )
    assert [e["data"].get("test") for e in run["events"] if e["kind"] == "RUN_CANCELLED"] == [True]


async def test_concurrent_test_runs_of_one_draft_share_one_snapshot(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    started = await asyncio.gather(*(start_test(gql, tenant, workflow_id, i={"name": f"n{i}"}) for i in range(6)))
    assert all(p["errors"] == [] for p in started), started
    runs = [await finished(gql, state, tenant, p["run"]["id"]) for p in started]
    assert sorted(r["output"]["shout"] for r in runs) == [f"HI N{i}" for i in range(6)]
    async with state.sessions() as s:
        snapshots = list(
            await s.scalars(
                sa.select(models.WorkflowVersion).where(models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id))
            )
        )
    assert len(snapshots) == 1 and snapshots[0].test and snapshots[0].version < 0
    # A new revision (or other pins) takes a new snapshot; publishing numbers from 1 regardless.
    await gql.data(UPDATE, {"id": workflow_id, "d": GREETING}, tenant.token(Role.EDITOR))
    second = await start_test(gql, tenant, workflow_id, i={"name": "x"})
    assert second["run"]["draftRevision"] == 2
    published = await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR))
    assert published["publishWorkflow"]["version"] == {"version": 1}


async def test_an_idempotency_key_starts_one_test_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    first = await start_test(gql, tenant, workflow_id, i={"name": "a"}, key="k1")
    again = await start_test(gql, tenant, workflow_id, i={"name": "a"}, key="k1")
    assert first["created"] is True and again["created"] is False
    assert again["run"]["id"] == first["run"]["id"]
    # Live runs and test runs never answer each other's keys.
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    live = await gql.data(
        """mutation($id: ID!) { startRun(workflowId: $id, input: {name: "b"}, idempotencyKey: "k1") {
             created run { id test idempotencyKey } } }""",
        {"id": workflow_id},
        tenant.token(Role.OPERATOR),
    )
    assert live["startRun"]["created"] is True and live["startRun"]["run"]["test"] is False
    assert live["startRun"]["run"]["id"] != first["run"]["id"]
    keyed = await gql.data(
        "query($id: ID!) { run(id: $id) { idempotencyKey } }", {"id": first["run"]["id"]}, tenant.token()
    )
    assert keyed["run"]["idempotencyKey"] == "k1"


async def test_archiving_cancels_unfinished_test_runs_and_publishing_lets_them_finish(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await create(gql, tenant, SLOW)
    started = await start_test(gql, tenant, workflow_id)
    await until_running(state, tenant, started["run"]["id"])
    archived = await gql.data(ARCHIVE, {"id": workflow_id}, tenant.token(Role.EDITOR))
    assert archived["archiveWorkflow"]["errors"] == []
    run = await finished(gql, state, tenant, started["run"]["id"])
    assert run["status"] == "CANCELLED"
    refused = await start_test(gql, tenant, workflow_id)
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"]

    # Publishing the draft while its test runs: the test run finishes on its own snapshot.
    quick = chain(
        {"id": "a", "type": "transform", "config": {"value": 1}},
        {"id": "nap", "type": "test.sleep", "config": {"seconds": 0.5}},
        {"id": "b", "type": "transform", "config": {"value": "{{ steps.a.output + 1 }}"}},
    )
    other = await create(gql, tenant, quick, name="published meanwhile")
    started = await start_test(gql, tenant, other)
    await until_running(state, tenant, started["run"]["id"])
    assert (await gql.data(PUBLISH, {"id": other}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    run = await finished(gql, state, tenant, started["run"]["id"])
    assert run["status"] == "SUCCEEDED" and run["output"] == {"b": 2} and run["test"] is True


async def test_test_runs_are_kept_per_workflow_up_to_the_retention(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state.settings, "test_runs_kept_per_workflow", 2)
    workflow_id = await create(gql, tenant, GREETING)
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    live = await gql.data(START, {"id": workflow_id, "i": {"name": "live"}}, tenant.token(Role.OPERATOR))
    await finished(gql, state, tenant, live["startRun"]["run"]["id"])
    ids = []
    for i in range(4):
        # A new revision each time: the old snapshots go with their runs.
        await gql.data(UPDATE, {"id": workflow_id, "d": GREETING}, tenant.token(Role.EDITOR))
        started = await start_test(gql, tenant, workflow_id, i={"name": str(i)})
        ids.append(started["run"]["id"])
        await finished(gql, state, tenant, started["run"]["id"])
    listed = await gql.data(RUNS, {"w": workflow_id, "test": True}, tenant.token(Role.VIEWER))
    assert {e["node"]["id"] for e in listed["runs"]["edges"]} == set(ids[-2:])
    live_left = await gql.data(RUNS, {"w": workflow_id, "test": False}, tenant.token(Role.VIEWER))
    assert [e["node"]["id"] for e in live_left["runs"]["edges"]] == [live["startRun"]["run"]["id"]]
    async with state.sessions() as s:
        kept = await s.scalar(
            sa.select(sa.func.count()).where(
                models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id), models.WorkflowVersion.test.is_(True)
            )
        )
        events = await s.scalar(sa.select(sa.func.count()).where(models.RunEvent.run_id == uuid.UUID(ids[0])))
    assert kept == 2 and events == 0


async def test_an_operator_starts_real_runs_but_may_not_test_or_pin(gql: GraphQLClient, tenant: TenantFixture) -> None:
    workflow_id = await create(gql, tenant, GREETING)
    operator = tenant.token(Role.OPERATOR)
    assert await gql.error_codes(TEST_RUN, {"id": workflow_id}, operator) == ["FORBIDDEN"]
    assert await gql.error_codes(TEST_STEP, {"id": workflow_id, "node": "hello"}, operator) == ["FORBIDDEN"]
    assert await gql.error_codes(PIN, {"id": workflow_id, "node": "hello", "out": 1}, operator) == ["FORBIDDEN"]


async def test_a_published_run_never_reads_a_pin_even_one_its_version_row_carried(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """Belt and braces: pins never reach a published version (see above); and were a version row to carry some, a
    live run would still run every node, because the engine reads pins for test runs only."""
    workflow_id = await create(gql, tenant, FAILING)
    await gql.data(PIN, {"id": workflow_id, "node": "boom", "out": {"x": 1}}, tenant.token(Role.EDITOR))
    assert (await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.WorkflowVersion)
            .where(models.WorkflowVersion.workflow_id == uuid.UUID(workflow_id))
            .values(pins={"boom": {"output": {"x": 1}, "branches": None}})
        )
    live = await gql.data(START, {"id": workflow_id, "i": {"n": 3}}, tenant.token(Role.OPERATOR))
    run = await finished(gql, state, tenant, live["startRun"]["run"]["id"])
    assert run["status"] == "FAILED" and steps_of(run)["boom"]["error"]["message"] == "boom 3", run
    assert not any(step["pinned"] for step in run["steps"])


async def test_a_pinned_trigger_output_is_the_test_input_and_child_runs_of_a_test_are_tests(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    child_id = await create(
        gql, tenant, chain({"id": "echo", "type": "transform", "config": {"value": "{{ input.n }}"}})
    )
    assert (await gql.data(PUBLISH, {"id": child_id}, tenant.token(Role.EDITOR)))["publishWorkflow"]["errors"] == []
    parent = chain(
        {"id": "call", "type": "subworkflow", "config": {"workflow": child_id, "input": {"n": "{{ input.n }}"}}},
    )
    workflow_id = await create(gql, tenant, parent, name="parent")
    await gql.data(PIN, {"id": workflow_id, "node": "start", "out": {"n": 7}}, tenant.token(Role.EDITOR))
    started = await start_test(gql, tenant, workflow_id)
    run = await finished(gql, state, tenant, started["run"]["id"])
    assert run["status"] == "SUCCEEDED", run
    assert steps_of(run)["call"]["output"] == {"echo": 7}
    async with state.sessions() as s:
        children = list(
            await s.scalars(sa.select(models.Run).where(models.Run.parent_run_id == uuid.UUID(started["run"]["id"])))
        )
        queued = await s.scalar(
            sa.select(models.RunEvent).where(models.RunEvent.run_id == children[0].id, models.RunEvent.seq == 1)
        )
    assert [(c.test, c.version) for c in children] == [(True, 1)]  # part of the test; runs the published child
    assert queued is not None and queued.data is not None and queued.data["test"] is True


async def test_test_runs_pass_the_same_admission_as_every_start(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """The tenant's cap on live runs counts test runs and refuses a test beyond it, as it refuses a real start."""
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_live_runs=1))
    workflow_id = await create(gql, tenant, SLOW)
    started = await start_test(gql, tenant, workflow_id)
    await until_running(state, tenant, started["run"]["id"])
    for document, variables in ((TEST_RUN, {"id": workflow_id}), (TEST_STEP, {"id": workflow_id, "node": "a"})):
        answer = await gql.raw(document, variables, tenant.token(Role.EDITOR))
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "TOO_MANY_LIVE_RUNS", error
    async with state.sessions() as s:
        count = await s.scalar(sa.select(sa.func.count()).where(models.Run.tenant_id == tenant.id))
    assert count == 1
    await gql.data(CANCEL, {"id": started["run"]["id"]}, tenant.token(Role.OPERATOR))
    await finished(gql, state, tenant, started["run"]["id"])
    assert (await start_test(gql, tenant, workflow_id))["errors"] == [], "room again once the first one ended"


async def test_test_snapshots_are_never_triggers_webhooks_or_schedules_targets(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: Any
) -> None:
    """A tested, never published workflow listening on a channel, with a webhook: a message starts nothing, a delivery
    is refused as unpublished, and the test snapshot is no version to start or list."""
    from tests.gql.test_messaging import SEND, listener

    channel = f"tests-{uuid.uuid4().hex[:8]}"
    workflow_id = await create(gql, tenant, listener(channel))
    tested = await start_test(gql, tenant, workflow_id, i={"channel": channel, "text": "hi"})
    assert (await finished(gql, state, tenant, tested["run"]["id"]))["status"] == "SUCCEEDED"
    sent = await gql.data(SEND, {"c": channel, "t": "hello"}, tenant.token(Role.OPERATOR))
    assert sent["sendMessage"]["errors"] == [] and sent["sendMessage"]["runs"] == []
    hook = await gql.data(
        "mutation($w: ID!) { createWebhook(workflowId: $w, input: {auth: NONE}) { webhook { id } errors { code } } }",
        {"w": workflow_id},
        tenant.token(Role.EDITOR),
    )
    delivered = await http.post(f"/hooks/{hook['createWebhook']['webhook']['id']}", json={"x": 1})
    assert delivered.status_code != 202, delivered.text
    for version in (None, -1, 0):
        refused = await gql.data(
            "mutation($id: ID!, $v: Int) { startRun(workflowId: $id, version: $v) { run { id } errors { code } } }",
            {"id": workflow_id, "v": version},
            tenant.token(Role.OPERATOR),
        )
        assert refused["startRun"]["run"] is None and refused["startRun"]["errors"], (version, refused)
    async with state.sessions() as s:
        runs = await s.scalar(sa.select(sa.func.count()).where(models.Run.workflow_id == uuid.UUID(workflow_id)))
    assert runs == 1
