"""Run.definition (what the run monitor draws) and the first test run of a demo workflow, input omitted."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.examples import HELLO_TRANSFORM, example
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import wait_for

pytestmark = pytest.mark.usefixtures("workers")

CREATE = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { code } } }"""
UPDATE = """mutation($id: ID!, $d: JSON!) {
  updateWorkflow(id: $id, input: {definition: $d}) { workflow { id } errors { code } } }"""
PUBLISH = "mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { code } } }"
START = "mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { code } } }"
TEST_RUN = "mutation($id: ID!) { testRun(workflowId: $id) { run { id test input } errors { code message } } }"
RUN = "query($id: ID!) { run(id: $id) { test version definition steps { stepId status output } } }"


async def test_a_test_run_shows_the_draft_it_ran_and_a_live_run_its_version(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    editor = tenant.token(Role.EDITOR)
    published: dict[str, Any] = example(HELLO_TRANSFORM)["definition"]
    made = (await gql.data(CREATE, {"n": "hello", "d": published}, editor))["createWorkflow"]
    workflow_id = made["workflow"]["id"]
    assert (await gql.data(PUBLISH, {"id": workflow_id}, editor))["publishWorkflow"]["errors"] == []
    draft = copy.deepcopy(published)
    draft["nodes"][1]["config"]["value"] = {"greeting": "Hi, {{ input.name }}!"}
    assert (await gql.data(UPDATE, {"id": workflow_id, "d": draft}, editor))["updateWorkflow"]["errors"] == []

    # The first test of the demo draft, nothing typed: the trigger's defaults are its input, and it succeeds.
    tested = (await gql.data(TEST_RUN, {"id": workflow_id}, editor))["testRun"]
    assert tested["errors"] == [] and tested["run"]["test"] is True
    assert tested["run"]["input"] == {"name": "world"}
    test_id = tested["run"]["id"]
    assert (await wait_for(state, tenant.id, uuid.UUID(test_id))).run.status == RunStatus.SUCCEEDED
    live_id = (await gql.data(START, {"id": workflow_id}, editor))["startRun"]["run"]["id"]
    await wait_for(state, tenant.id, uuid.UUID(live_id))

    test_run = (await gql.data(RUN, {"id": test_id}, tenant.token(Role.VIEWER)))["run"]
    assert (test_run["test"], test_run["version"]) == (True, 0)
    assert test_run["definition"] == draft
    assert test_run["steps"][1]["output"] == {"greeting": "Hi, world!"}
    live_run = (await gql.data(RUN, {"id": live_id}, tenant.token(Role.VIEWER)))["run"]
    assert (live_run["test"], live_run["version"], live_run["definition"]) == (False, 1, published)
    assert live_run["steps"][1]["output"] == {"greeting": "Hello, world!"}

    # Another tenant sees neither run, nor so their definitions.
    assert (await gql.data(RUN, {"id": test_id}, other_tenant.token(Role.ADMIN)))["run"] is None
