"""Every example workflow (what `studio demo` creates) succeeds on its first start with no input typed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.examples import APPROVE_LARGE_ORDERS, HELLO_TRANSFORM, SUMMARIZE_ORDERS, example, examples
from studio_shared.rbac import Role
from studio_shared.store import human_tasks
from studio_shared.types import RunStatus
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import Finished, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

START = """mutation($w: ID!, $i: JSON) {
  startRun(workflowId: $w, input: $i) { run { id input } errors { path code message } }
}"""
DECIDE = """mutation($id: ID!) {
  decideHumanTask(id: $id, decision: APPROVE) { task { status } errors { code message } }
}"""


async def start(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, slug: str, **variables: object
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Publish the example, start it as an operator would (``input`` omitted unless given): (run id, payload)."""
    workflow_id = await publish(state, tenant, example(slug)["definition"], name=slug)
    payload = (await gql.data(START, {"w": str(workflow_id), **variables}, tenant.token(Role.OPERATOR)))["startRun"]
    run_id = uuid.UUID(payload["run"]["id"]) if payload["run"] else uuid.UUID(int=0)
    return run_id, payload


async def finish(state: AppState, gql: GraphQLClient, tenant: TenantFixture, run_id: uuid.UUID) -> Finished:
    """Run to the end, approving each human task it opens (as the approval demo's first user does)."""
    for _ in range(10):
        found = await wait_for(state, tenant.id, run_id, {RunStatus.WAITING, *FINAL})
        if found.run.status in FINAL:
            return found
        async with state.sessions() as s:
            tasks = [t for t in (await human_tasks.of_runs(s, tenant.id, [run_id]))[run_id] if t.status.value == "OPEN"]
        for task in tasks:
            decided = (await gql.data(DECIDE, {"id": str(task.id)}, tenant.token(Role.ADMIN)))["decideHumanTask"]
            assert decided["errors"] == [], decided
        if not tasks:
            await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


@pytest.mark.parametrize("slug", [APPROVE_LARGE_ORDERS, HELLO_TRANSFORM, SUMMARIZE_ORDERS])
async def test_each_example_succeeds_on_its_first_start_without_input(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture, slug: str
) -> None:
    run_id, payload = await start(state, gql, tenant, slug)
    assert payload["errors"] == []
    done = await finish(state, gql, tenant, run_id)
    assert done.run.status == RunStatus.SUCCEEDED, {k: (v.status, v.error) for k, v in done.steps.items()}
    assert all(step.status.value in {"SUCCEEDED", "SKIPPED"} for step in done.steps.values())


def test_the_parametrization_covers_every_example() -> None:
    assert sorted(e["name"] for e in examples()) == sorted(
        example(s)["name"] for s in (APPROVE_LARGE_ORDERS, HELLO_TRANSFORM, SUMMARIZE_ORDERS)
    )


async def test_an_omitted_input_is_the_trigger_schemas_defaults(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture
) -> None:
    run_id, payload = await start(state, gql, tenant, HELLO_TRANSFORM)
    assert payload["run"]["input"] == {"name": "world"}
    done = await finish(state, gql, tenant, run_id)
    assert done.steps["greet"].output == {"greeting": "Hello, world!"}

    approval_id, approval = await start(state, gql, tenant, APPROVE_LARGE_ORDERS)
    assert approval["run"]["input"] == {"order_id": "A-1001", "amount": 250}
    approved = await finish(state, gql, tenant, approval_id)
    assert [approved.status(s) for s in ("check", "ok", "notify")] == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    assert approved.steps["notify"].output["order_id"] == "A-1001"


async def test_a_given_input_is_used_as_given_and_checked(
    state: AppState, gql: GraphQLClient, tenant: TenantFixture
) -> None:
    run_id, payload = await start(state, gql, tenant, HELLO_TRANSFORM, i={"name": "Ada"})
    assert payload["run"]["input"] == {"name": "Ada"}
    assert (await finish(state, gql, tenant, run_id)).steps["greet"].output == {"greeting": "Hello, Ada!"}

    # An input given without a required field is not completed from the defaults: it is refused, saying which.
    _, refused = await start(state, gql, tenant, APPROVE_LARGE_ORDERS, i={"order_id": "A-7"})
    assert refused["run"] is None
    assert [(e["path"], e["code"]) for e in refused["errors"]] == [(["input"], "INVALID_INPUT")]
    assert "amount" in refused["errors"][0]["message"]
