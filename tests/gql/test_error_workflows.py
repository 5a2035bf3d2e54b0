"""Error workflows through GraphQL: the settings (setErrorWorkflow, setDefaultErrorWorkflow), their tenancy and roles,
and the run monitor's links (Run.errorRun, Run.failedRun); a test run's failure starts none."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, wait_for

pytestmark = pytest.mark.usefixtures("workers")

CREATE = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { code message } } }"""
PUBLISH = "mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { code message } } }"
SET = """mutation($w: ID!, $e: ID) { setErrorWorkflow(workflowId: $w, errorWorkflowId: $e) {
  workflow { id errorWorkflow { id name } } errors { path code message } } }"""
SET_DEFAULT = """mutation($e: ID) { setDefaultErrorWorkflow(errorWorkflowId: $e) {
  tenant { id defaultErrorWorkflow { id name } } errors { path code message } } }"""
ME = "{ me { tenant { defaultErrorWorkflow { id } } } }"
WORKFLOW = "query($id: ID!) { workflow(id: $id) { errorWorkflow { id name } } }"
START = "mutation($id: ID!, $i: JSON) { startRun(workflowId: $id, input: $i) { run { id } errors { code } } }"
TEST_RUN = "mutation($id: ID!, $i: JSON) { testRun(workflowId: $id, input: $i) { run { id test } errors { code } } }"
RUN = """query($id: ID!) { run(id: $id) { id status trigger
  errorRun { id trigger failedRun { id } } failedRun { id errorRun { id } }
  events { kind data } } }"""
RUNS = """query { runs(first: 20, filter: {trigger: ["error"]}) { edges { node { id trigger
  failedRun { id status } } } } }"""

FAILING = chain({"id": "boom", "type": "fail", "config": {"message": "broken"}})
HANDLER = chain({"id": "note", "type": "transform", "config": {"value": "{{ input.failed_run.id }}"}})


async def create(gql: GraphQLClient, tenant: TenantFixture, name: str, definition: Any, publish: bool = True) -> str:
    data = await gql.data(CREATE, {"n": name, "d": definition}, tenant.token(Role.ADMIN))
    assert data["createWorkflow"]["errors"] == []
    workflow_id: str = data["createWorkflow"]["workflow"]["id"]
    if publish:
        published = await gql.data(PUBLISH, {"id": workflow_id}, tenant.token(Role.ADMIN))
        assert published["publishWorkflow"]["errors"] == []
    return workflow_id


async def test_set_read_and_clear_an_error_workflow(gql: GraphQLClient, tenant: TenantFixture) -> None:
    failing = await create(gql, tenant, "orders", FAILING)
    handler = await create(gql, tenant, "on-error", HANDLER)
    editor = tenant.token(Role.EDITOR)
    data = await gql.data(SET, {"w": failing, "e": handler}, editor)
    assert data["setErrorWorkflow"] == {
        "workflow": {"id": failing, "errorWorkflow": {"id": handler, "name": "on-error"}},
        "errors": [],
    }
    assert (await gql.data(WORKFLOW, {"id": failing}, tenant.token(Role.VIEWER)))["workflow"]["errorWorkflow"] == {
        "id": handler,
        "name": "on-error",
    }
    # A workflow may name itself: its error runs never start an error workflow.
    data = await gql.data(SET, {"w": handler, "e": handler}, editor)
    assert data["setErrorWorkflow"]["errors"] == []
    # null clears.
    data = await gql.data(SET, {"w": failing, "e": None}, editor)
    assert data["setErrorWorkflow"]["workflow"]["errorWorkflow"] is None
    assert (await gql.data(WORKFLOW, {"id": failing}, editor))["workflow"]["errorWorkflow"] is None


async def test_unknown_foreign_and_archived_error_workflows_are_refused(
    gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    failing = await create(gql, tenant, "orders", FAILING)
    foreign = await create(gql, other_tenant, "theirs", HANDLER)
    editor = tenant.token(Role.EDITOR)
    for bad in (foreign, "00000000-0000-0000-0000-000000000000", "not-an-id"):
        data = await gql.data(SET, {"w": failing, "e": bad}, editor)
        assert data["setErrorWorkflow"]["workflow"] is None
        [error] = data["setErrorWorkflow"]["errors"]
        assert (error["code"], error["path"]) == ("NOT_FOUND", ["errorWorkflowId"]), error
        data = await gql.data(SET_DEFAULT, {"e": bad}, tenant.token(Role.ADMIN))
        assert [e["code"] for e in data["setDefaultErrorWorkflow"]["errors"]] == ["NOT_FOUND"]
    # Another tenant's workflow can't be given a setting either: it reads as unknown.
    data = await gql.data(SET, {"w": foreign, "e": failing}, editor)
    assert [(e["code"], e["path"]) for e in data["setErrorWorkflow"]["errors"]] == [("NOT_FOUND", ["id"])]
    assert (await gql.data(WORKFLOW, {"id": failing}, editor))["workflow"]["errorWorkflow"] is None

    archived = await create(gql, tenant, "old", HANDLER)
    await gql.data("mutation($id: ID!) { archiveWorkflow(id: $id) { errors { code } } }", {"id": archived}, editor)
    data = await gql.data(SET, {"w": failing, "e": archived}, editor)
    assert [(e["code"], e["path"]) for e in data["setErrorWorkflow"]["errors"]] == [("CONFLICT", ["errorWorkflowId"])]


async def test_only_admins_set_the_default_and_editors_the_workflow_setting(
    gql: GraphQLClient, tenant: TenantFixture
) -> None:
    failing = await create(gql, tenant, "orders", FAILING)
    handler = await create(gql, tenant, "on-error", HANDLER)
    for role in (Role.VIEWER, Role.OPERATOR, Role.EDITOR):
        codes = await gql.error_codes(SET_DEFAULT, {"e": handler}, tenant.token(role))
        assert codes == ["FORBIDDEN"], role
    for role in (Role.VIEWER, Role.APPROVER, Role.OPERATOR):
        assert await gql.error_codes(SET, {"w": failing, "e": handler}, tenant.token(role)) == ["FORBIDDEN"], role
    assert (await gql.data(ME, token=tenant.token(Role.VIEWER)))["me"]["tenant"]["defaultErrorWorkflow"] is None

    data = await gql.data(SET_DEFAULT, {"e": handler}, tenant.token(Role.ADMIN))
    assert data["setDefaultErrorWorkflow"]["tenant"]["defaultErrorWorkflow"] == {"id": handler, "name": "on-error"}
    assert (await gql.data(ME, token=tenant.token(Role.VIEWER)))["me"]["tenant"]["defaultErrorWorkflow"] == {
        "id": handler
    }
    data = await gql.data(SET_DEFAULT, {"e": None}, tenant.token(Role.ADMIN))
    assert data["setDefaultErrorWorkflow"]["tenant"]["defaultErrorWorkflow"] is None


async def test_the_run_monitor_links_a_failed_run_and_its_error_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    failing = await create(gql, tenant, "orders", FAILING)
    handler = await create(gql, tenant, "on-error", HANDLER)
    await gql.data(SET, {"w": failing, "e": handler}, tenant.token(Role.EDITOR))
    started = await gql.data(START, {"id": failing, "i": {"n": 1}}, tenant.token(Role.OPERATOR))
    run_id = started["startRun"]["run"]["id"]
    failed = await wait_for(state, tenant.id, uuid.UUID(run_id))
    assert failed.run.status is RunStatus.FAILED and failed.run.error_run_id is not None
    await wait_for(state, tenant.id, failed.run.error_run_id)

    viewer = tenant.token(Role.VIEWER)
    run = (await gql.data(RUN, {"id": run_id}, viewer))["run"]
    error_run_id = str(failed.run.error_run_id)
    assert run["errorRun"] == {"id": error_run_id, "trigger": "error", "failedRun": {"id": run_id}}
    assert run["failedRun"] is None
    [event] = [e for e in run["events"] if e["kind"] == "RUN_ERROR_WORKFLOW"]
    assert event["data"]["started"] is True and event["data"]["error_run_id"] == error_run_id
    assert [e["kind"] for e in run["events"]][-2:] == ["RUN_ERROR_WORKFLOW", "RUN_FAILED"]

    back = (await gql.data(RUN, {"id": error_run_id}, viewer))["run"]
    assert back["trigger"] == "error" and back["failedRun"] == {"id": run_id, "errorRun": {"id": error_run_id}}
    assert back["errorRun"] is None
    listed = (await gql.data(RUNS, token=viewer))["runs"]["edges"]
    assert [e["node"] for e in listed] == [
        {"id": error_run_id, "trigger": "error", "failedRun": {"id": run_id, "status": "FAILED"}}
    ], "the Runs page's trigger filter finds error runs"
    # Another tenant reads neither.
    assert (await gql.data(RUN, {"id": error_run_id}, other_tenant.token(Role.ADMIN)))["run"] is None


async def test_a_failed_test_run_starts_no_error_run(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    failing = await create(gql, tenant, "orders", FAILING)
    handler = await create(gql, tenant, "on-error", HANDLER)
    await gql.data(SET, {"w": failing, "e": handler}, tenant.token(Role.EDITOR))
    await gql.data(SET_DEFAULT, {"e": handler}, tenant.token(Role.ADMIN))
    data = await gql.data(TEST_RUN, {"id": failing, "i": {}}, tenant.token(Role.EDITOR))
    assert data["testRun"]["run"]["test"] is True
    failed = await wait_for(state, tenant.id, uuid.UUID(data["testRun"]["run"]["id"]))
    assert failed.run.status is RunStatus.FAILED
    assert failed.run.error_run_id is None
    assert [e.kind for e in failed.events if e.kind == "run.error_workflow"] == []
    assert (await gql.data(RUNS, token=tenant.token(Role.VIEWER)))["runs"]["edges"] == []
