"""Issue 17, items 7 and 9 through the API: no answer holds a bare Infinity or NaN, non-finite numbers are refused
at every way in, and a tenant's stored outputs are bounded, shown per run and freed by deleteRun."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from studio_worker.engine.quotas import REFUSE_FRESH_S
from tests.conftest import SERVICES, GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")
MiB = 1024 * 1024
START = """mutation($w: ID!, $input: JSON) {
  startRun(workflowId: $w, input: $input) { run { id status } errors { path message code } }
}"""
RUN = """query($id: ID!) {
  run(id: $id) {
    status storedBytes input output error
    steps { stepId status input output error envelope }
    events { seq kind data }
  }
}"""
DELETE = "mutation($id: ID!) { deleteRun(id: $id) { deletedId errors { code message } } }"


def _strict(text: str) -> Any:
    """Parse an answer as a strict JSON client does: Infinity and NaN are not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"the answer holds a bare {name}: {text[:300]}")

    return json.loads(text, parse_constant=refuse)


async def _run(http: httpx.AsyncClient, token: str, run_id: str) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": RUN, "variables": {"id": run_id}}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body = _strict(response.text)
    assert not body.get("errors"), body["errors"]
    run: dict[str, Any] = body["data"]["run"]
    return run


async def _start(gql: GraphQLClient, state: AppState, tenant: TenantFixture, workflow_id: uuid.UUID, input: Any) -> str:
    started = (await gql.data(START, {"w": str(workflow_id), "input": input}, tenant.token(Role.OPERATOR)))["startRun"]
    assert not started["errors"], started["errors"]
    run_id: str = started["run"]["id"]
    await wait_for(state, tenant.id, uuid.UUID(run_id), timeout=30)
    return run_id


@pytest.mark.parametrize("amount", ["inf", "nan"])
async def test_the_api_never_answers_a_bare_infinity(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, amount: str
) -> None:
    """On SQLite the run of `{{ input.amount | float * 1.2 }}` answered `"output": {"total": Infinity}` and the
    run monitor failed to parse it; on PostgreSQL the run never left QUEUED."""
    definition = chain({"id": "total", "type": "transform", "config": {"value": "{{ input.amount | float * 1.2 }}"}})
    workflow_id = await publish(state, tenant, definition)
    run_id = await _start(gql, state, tenant, workflow_id, {"amount": amount})
    run = await _run(http, tenant.token(), run_id)
    assert run["status"] == RunStatus.FAILED.value
    [total] = [step for step in run["steps"] if step["stepId"] == "total"]
    assert total["output"] is None
    assert total["error"]["type"] == "TemplateError"
    assert "not a finite number; JSON has no Infinity or NaN" in total["error"]["message"]


@pytest.mark.skipif(SERVICES, reason="only SQLite ever kept such text (PostgreSQL's jsonb refuses it)")
async def test_a_non_finite_number_an_older_version_stored_is_answered_as_null(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture
) -> None:
    workflow_id = await publish(state, tenant, chain({"id": "a", "type": "transform", "config": {"value": 1}}))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await wait_for(state, tenant.id, run.id)
    async with state.db_engine.begin() as conn:  # what json.dumps wrote before the encoder refused it
        await conn.execute(
            sa.text("UPDATE runs SET output = :text WHERE id = :id"),
            {"text": '{"a": Infinity, "b": [NaN, 1.5]}', "id": run.id.hex},
        )
    answered = await _run(http, tenant.token(), str(run.id))
    assert answered["output"] == {"a": None, "b": [None, 1.5]}


async def test_non_finite_numbers_are_refused_at_every_way_in(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, tenant: TenantFixture
) -> None:
    """Request bodies (startRun, schedules, signals, decisions: every JSON argument), webhooks and inbound
    messages share one strict decoder: a NaN or an overflowing number is a 400 that says what to fix."""
    channel = f"orders-{uuid.uuid4().hex[:6]}"
    key = (await gql.data('mutation { createApiKey(name: "in", role: OPERATOR) { key } }', None, tenant.token()))[
        "createApiKey"
    ]["key"]
    workflow_id = await publish(state, tenant, chain({"id": "a", "type": "transform", "config": {"value": 1}}))
    body = '{"query": "%s", "variables": {"w": "%s", "input": {"amount": %s}}}'
    for number in ("NaN", "Infinity", "-Infinity", "1e400"):
        graphql = await http.post(
            "/graphql",
            content=(body % (START.replace("\n", " ").replace('"', '\\"'), workflow_id, number)).encode(),
            headers={"Authorization": f"Bearer {tenant.token()}", "Content-Type": "application/json"},
        )
        assert graphql.status_code == 400, graphql.text
        message = await http.post(
            f"/messages/{channel}",
            content=f'{{"text": "hi", "n": {number}}}'.encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert message.status_code == 400, message.text
        assert message.json()["message"]
    async with state.sessions() as s:
        runs = await s.scalar(sa.select(sa.func.count()).where(models.Run.workflow_id == workflow_id))
    assert runs == 0


async def test_the_tenant_quota_through_the_api_and_delete_run_frees_it(
    gql: GraphQLClient, http: httpx.AsyncClient, state: AppState, tenant: TenantFixture
) -> None:
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_output_bytes=5 * MiB))
    definition = chain({"id": "big", "type": "transform", "config": {"value": "{{ 'a' * 999000 }}"}})
    workflow_id = await publish(state, tenant, definition)
    first = await _start(gql, state, tenant, workflow_id, None)
    first_run = await _run(http, tenant.token(), first)
    assert first_run["status"] == RunStatus.SUCCEEDED.value
    assert 3.7 * MiB < first_run["storedBytes"] < 4 * MiB  # input, output, envelope and the run output's copy
    second = await _run(http, tenant.token(), await _start(gql, state, tenant, workflow_id, None))
    assert second["status"] == RunStatus.FAILED.value
    assert second["error"]["type"] == "OutputQuotaExceeded"
    assert "past the tenant's limit of 5.0 MiB" in second["error"]["message"]
    assert second["storedBytes"] < 1.1 * MiB, "its refused output was not stored"
    deleted = (await gql.data(DELETE, {"id": first}, tenant.token(Role.EDITOR)))["deleteRun"]
    assert deleted == {"deletedId": first, "errors": []}
    await asyncio.sleep(REFUSE_FRESH_S + 0.2)
    third = await _run(http, tenant.token(), await _start(gql, state, tenant, workflow_id, None))
    assert third["status"] == RunStatus.SUCCEEDED.value, third["error"]
