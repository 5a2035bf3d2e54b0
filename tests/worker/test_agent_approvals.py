"""Approval of an agent's tool calls: the step parks on a human task (holding no worker); approve runs the tool,
reject or expiry tells the model "rejected: …" and the tool never runs. Decisions go through the real control
API, so quorum, roles and the inbox are the human-task machinery's own (tests/worker/test_approvals.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import credentials, human_tasks
from studio_shared.types import Decision, HumanTaskStatus, RunStatus
from tests.conftest import TenantFixture
from tests.mcp_servers import McpServer
from tests.servers import FakeModel
from tests.worker.engine_harness import chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")


@pytest.fixture(autouse=True)
async def fresh(state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer) -> None:
    model.script.clear()
    model.requests.clear()
    mcp.calls.clear()
    actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])
    async with state.sessions.begin() as s:
        await credentials.create(
            s, state.box, tenant.id, actor, "llm", "openai", {"api_key": "sk-x", "base_url": f"{model.url}/v1"}, None
        )


def agent_flow(mcp: McpServer, approval: dict[str, Any] | None = None, **tool: Any) -> dict[str, Any]:
    calc = {"kind": "mcp", "server": "calc", "url": f"{mcp.url}/mcp", "allow": ["add"], **tool}
    config: dict[str, Any] = {"model": "m", "credential": "llm", "instructions": "Add for the user.", "tools": [calc]}
    if approval is not None:
        config["approval"] = approval
    return chain({"id": "agent", "type": "agent", "config": config})


async def start(state: AppState, tenant: TenantFixture, definition: dict[str, Any]) -> uuid.UUID:
    workflow_id = await publish(state, tenant, definition, name="agent-approvals")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={})
    return run.id


async def the_task(state: AppState, tenant: TenantFixture, run_id: uuid.UUID) -> models.HumanTask:
    for _ in range(1500):
        async with state.sessions() as s:
            found = (await human_tasks.of_runs(s, tenant.id, [run_id]))[run_id]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} opened no task")


async def decide(
    state: AppState, tenant: TenantFixture, task: models.HumanTask, decision: Decision, comment: str | None = None
) -> None:
    approver = Principal(tenant_id=tenant.id, role=Role.APPROVER, user_id=tenant.users[Role.APPROVER])
    await state.control.decide_human_task(tenant.id, approver, task.id, decision, comment)


def tool_replies(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_an_approved_call_runs_after_the_decision(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [{"content": None, "tool_calls": [("calc__add", {"a": 2, "b": 3})]}, {"content": "5"}]
    run_id = await start(state, tenant, agent_flow(mcp, requires_approval=True))
    task = await the_task(state, tenant, run_id)
    assert task.title == "Approve the agent's call to calc__add"
    assert task.message is not None
    assert "Tool: calc__add" in task.message and '"a": 2' in task.message
    assert "Add for the user." in task.message, "the task shows the conversation so far"
    assert task.assignee_role is Role.APPROVER
    assert mcp.calls == [], "nothing runs before the approval"
    assert len(model.requests) == 1
    await decide(state, tenant, task, Decision.APPROVE)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.steps["agent"].error
    assert mcp.calls == [("add", {"a": 2, "b": 3})]
    assert [json.loads(r) for r in tool_replies(model.requests[1])] == [{"content": {"result": "5"}}]
    assert [e.kind for e in done.events].count("step.task_opened") == 1


async def test_a_rejected_call_tells_the_model_the_approvers_comment(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [{"tool_calls": [("calc__add", {"a": 2, "b": 3})]}, {"content": "not allowed"}]
    run_id = await start(state, tenant, agent_flow(mcp, requires_approval=True))
    task = await the_task(state, tenant, run_id)
    await decide(state, tenant, task, Decision.REJECT, "not today")
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.steps["agent"].error
    assert mcp.calls == []
    assert tool_replies(model.requests[1]) == ["rejected: not today"]
    assert done.steps["agent"].output["answer"] == "not allowed"


async def test_an_expired_approval_counts_as_a_rejection(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [{"tool_calls": [("calc__add", {"a": 2, "b": 3})]}, {"content": "gave up"}]
    run_id = await start(state, tenant, agent_flow(mcp, {"timeout_s": 0.5}, requires_approval=True))
    task = await the_task(state, tenant, run_id)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.steps["agent"].error
    assert mcp.calls == []
    assert tool_replies(model.requests[1]) == ["rejected: nobody approved the call in time"]
    async with state.sessions() as s:
        expired = await human_tasks.get(s, tenant.id, task.id)
    assert expired is not None and expired.status is HumanTaskStatus.EXPIRED


async def test_an_approval_rule_on_the_arguments_decides_which_calls_wait(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [
        {"tool_calls": [("calc__add", {"a": 1, "b": 1}), ("calc__add", {"a": 500, "b": 1})]},
        {"content": "2 and 501"},
    ]
    run_id = await start(state, tenant, agent_flow(mcp, approval_rule="{{ args.a > 100 }}"))
    task = await the_task(state, tenant, run_id)
    assert '"a": 500' in (task.message or "")
    assert mcp.calls == [("add", {"a": 1, "b": 1})], "the small call ran without asking"
    await decide(state, tenant, task, Decision.APPROVE)
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.SUCCEEDED, done.steps["agent"].error
    assert mcp.calls == [("add", {"a": 1, "b": 1}), ("add", {"a": 500, "b": 1})]
    assert sorted(json.loads(r)["content"]["result"] for r in tool_replies(model.requests[1])) == ["2", "501"]
