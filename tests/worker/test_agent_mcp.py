"""The agent's MCP tools, end to end: a server built with the MCP SDK, served over streamable HTTP in the test (and
over stdio as the command the settings list), an agent step whose model (the fake one) calls its tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.rbac import Role
from studio_shared.store import credentials, tool_calls
from studio_worker.nodes import agent as agent_node
from studio_worker.nodes.base import NodeContext
from studio_worker.nodes.outputs import derived_id
from studio_worker.nodes.services import NodeServices
from tests.conftest import TenantFixture
from tests.mcp_servers import McpServer
from tests.servers import FakeModel
from tests.worker.engine_harness import Finished, chain, run_once

pytestmark = pytest.mark.usefixtures("workers")
TOKEN = "mcp-tok-8e2b6d0c4a1f"  # the MCP server's credential: it must never show up in anything a run records


@pytest.fixture(autouse=True)
async def fresh(state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer) -> None:
    model.script.clear()
    model.requests.clear()
    mcp.calls.clear()
    mcp.headers.clear()
    actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])
    async with state.sessions.begin() as s:
        await credentials.create(
            s, state.box, tenant.id, actor, "llm", "openai", {"api_key": "sk-x", "base_url": f"{model.url}/v1"}, None
        )
        await credentials.create(
            s, state.box, tenant.id, actor, "calc-token", "bearer", {"token": TOKEN}, ["127.0.0.1"]
        )


def agent(*tools: dict[str, Any], **config: Any) -> dict[str, Any]:
    config = {"model": "m", "credential": "llm", "instructions": "Use the calculator.", "tools": list(tools), **config}
    return {"id": "agent", "type": "agent", "config": config}


def declared(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools") or []]


def tool_replies(request: dict[str, Any]) -> list[Any]:
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def tool_events(finished: Finished) -> list[dict[str, Any]]:
    return [e.data for e in finished.events if e.kind == "step.tool_call"]


async def test_the_tools_of_an_http_mcp_server_are_the_agents_tools(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [{"tool_calls": [("calc__add", {"a": 2, "b": 3})]}, {"content": "2 + 3 = 5"}]
    calc = {"kind": "mcp", "server": "calc", "url": f"{mcp.url}/mcp", "credential": "calc-token", "allow": ["add"]}
    finished = await run_once(state, tenant, chain(agent(calc)))
    step = finished.steps["agent"]
    assert finished.run.status.value == "SUCCEEDED", step.error
    assert step.output["answer"] == "2 + 3 = 5"
    assert declared(model.requests[0]) == ["calc__add"], "the allow-list narrows what the server lists"
    [parameters] = [t["function"]["parameters"] for t in model.requests[0]["tools"]]
    assert parameters["required"] == ["a", "b"], "the server's input schema is the tool's parameters"
    assert mcp.calls == [("add", {"a": 2, "b": 3})]
    assert tool_replies(model.requests[1]) == [{"content": {"result": "5"}}]
    assert [e["tool"] for e in tool_events(finished)] == ["calc__add"]
    assert {h.get("authorization") for h in mcp.headers} == {f"Bearer {TOKEN}"}
    recorded = json.dumps([step.output, step.state, [e.data for e in finished.events]], default=str)
    assert TOKEN not in recorded


async def test_the_model_cannot_call_a_tool_the_definition_does_not_list(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    """Prompt injection: whatever a tool result tells the model, only the listed tools run."""
    model.script += [
        {"tool_calls": [("calc__wipe", {}), ("wipe", {}), ("calc__add", {"a": 1, "b": 1})]},
        {"content": "done"},
    ]
    calc = {"kind": "mcp", "server": "calc", "url": f"{mcp.url}/mcp", "allow": ["add"]}
    finished = await run_once(state, tenant, chain(agent(calc)))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["agent"].error
    assert mcp.calls == [("add", {"a": 1, "b": 1})], "the server's unlisted tool was never called"
    refused, also_refused, ran = tool_replies(model.requests[1])
    assert "there is no tool named 'calc__wipe'" in refused["error"]
    assert "there is no tool named 'wipe'" in also_refused["error"]
    assert ran == {"content": {"result": "2"}}
    assert [e.get("error") for e in tool_events(finished)] == ["unknown tool", "unknown tool", None]
    assert declared(model.requests[1]) == ["calc__add"], "the tool list is the same on every model call"


async def test_a_tool_that_fails_tells_the_model(
    state: AppState, tenant: TenantFixture, model: FakeModel, mcp: McpServer
) -> None:
    model.script += [{"tool_calls": [("calc__fail", {})]}, {"content": "the ledger is closed"}]
    calc = {"kind": "mcp", "server": "calc", "url": f"{mcp.url}/mcp"}
    finished = await run_once(state, tenant, chain(agent(calc)))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["agent"].error
    assert declared(model.requests[0]) == ["calc__add", "calc__fail", "calc__wipe"], "no allow-list: every tool"
    [reply] = tool_replies(model.requests[1])
    assert "error" in reply


async def test_an_mcp_server_at_a_private_address_is_refused_by_the_egress_policy(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    calc = {"kind": "mcp", "server": "calc", "url": "http://10.1.2.3/mcp"}
    finished = await run_once(state, tenant, chain(agent(calc)))
    error = finished.steps["agent"].error
    assert error["type"] == "EgressDenied" and "10.1.2.3" in error["message"]
    assert model.requests == [], "no model call before the tool list is known"


async def test_a_stdio_server_the_operator_lists_runs_its_tools(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    model.script += [{"tool_calls": [("calc__add", {"a": 40, "b": 2})]}, {"content": "42"}]
    finished = await run_once(state, tenant, chain(agent({"kind": "mcp", "server": "calc", "allow": ["add"]})))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["agent"].error
    assert tool_replies(model.requests[1]) == [{"content": {"result": "42"}}]


async def test_a_stdio_server_the_operator_does_not_list_is_refused(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    finished = await run_once(state, tenant, chain(agent({"kind": "mcp", "server": "shell"})))
    error = finished.steps["agent"].error
    assert error["type"] == "McpServerUnknown" and "STUDIO_MCP_STDIO_SERVERS" in error["message"]


async def test_a_tool_call_is_recorded_so_a_re_executed_step_does_not_repeat_it(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    """What a step executed again after a kill -9 sees: a finished call answers from its record; one that started
    and never finished runs again only for an idempotent tool, otherwise the model hears the outcome is unknown."""
    done = await run_once(state, tenant, chain(agent()))  # a real run and step for the records to belong to
    ctx = NodeContext(
        tenant_id=tenant.id,
        run_id=done.run.id,
        step_id="agent",
        node_type="agent",
        attempt=1,
        idempotency_key=f"{done.run.id}:agent:0",
        scope={},
        raw_config={},
        services=NodeServices(state.settings, state.db_engine),
    )
    made: list[str] = []

    async def call() -> dict[str, Any]:
        made.append("call")
        return {"content": len(made)}

    assert await agent_node._once(ctx, "0:call_a", "calc__wipe", False, call) == {"content": 1}
    assert await agent_node._once(ctx, "0:call_a", "calc__wipe", False, call) == {"content": 1}
    assert made == ["call"], "a finished call is answered from its record"

    interrupted = {"id": derived_id(ctx, "agent-tool", "0:call_b"), "tenant_id": tenant.id}
    async with state.db_engine.begin() as conn:  # the worker died after recording the start of the call
        await tool_calls.start(conn, {**interrupted, "run_id": done.run.id, "step_id": "agent", "tool": "calc__wipe"})
    unknown = await agent_node._once(ctx, "0:call_b", "calc__wipe", False, call)
    assert "outcome is unknown" in unknown["error"] and made == ["call"], "not idempotent: at most once"
    assert await agent_node._once(ctx, "0:call_b", "calc__add", True, call) == {"content": 2}
    assert made == ["call", "call"], "idempotent: made again"
