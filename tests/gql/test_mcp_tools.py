"""The inspector's mcpTools query: the tools an agent's MCP entry would offer, through the same egress policy,
credential and allow-list as the step; an unreachable or unknown server is a WARNING, never a failed query."""

from __future__ import annotations

import pytest

from studio_gql.schema import mcp as mcp_schema
from studio_shared.rbac import Role
from tests.conftest import GraphQLClient, TenantFixture
from tests.mcp_servers import McpServer

TOOLS = """query($s: String!, $u: String, $a: [String!]) {
  mcpTools(server: $s, url: $u, allow: $a) { tools { name tool parameters idempotent } errors { code severity } } }"""


async def test_the_inspector_lists_an_http_servers_tools_once_per_ttl(
    gql: GraphQLClient, tenant: TenantFixture, mcp: McpServer
) -> None:
    mcp_schema._CACHE.clear()
    variables = {"s": "calc", "u": f"{mcp.url}/mcp", "a": ["add", "wipe"]}
    editor = tenant.token(Role.EDITOR)
    listed = (await gql.data(TOOLS, variables, editor))["mcpTools"]
    assert listed["errors"] == []
    assert [(t["name"], t["tool"], t["idempotent"]) for t in listed["tools"]] == [
        ("calc__add", "add", True),
        ("calc__wipe", "wipe", False),
    ]
    assert listed["tools"][0]["parameters"]["required"] == ["a", "b"]
    requests = len(mcp.headers)
    assert (await gql.data(TOOLS, variables, editor))["mcpTools"] == listed
    assert len(mcp.headers) == requests, "the second look is answered from the cache"


@pytest.mark.parametrize(
    ("server", "url", "code"),
    [("shell", None, "McpServerUnknown"), ("calc", "http://10.9.8.7/mcp", "EgressDenied")],
)
async def test_an_unusable_server_is_a_warning(
    gql: GraphQLClient, tenant: TenantFixture, server: str, url: str | None, code: str
) -> None:
    listed = (await gql.data(TOOLS, {"s": server, "u": url}, tenant.token(Role.EDITOR)))["mcpTools"]
    assert listed == {"tools": [], "errors": [{"code": code, "severity": "WARNING"}]}


def test_the_cache_holds_a_bounded_number_of_lists_dropping_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its keys come from what editors type (server, URL, credential, allow-list): it must not grow without end."""
    monkeypatch.setattr(mcp_schema, "CACHE_ENTRIES", 3)
    mcp_schema._CACHE.clear()
    for i in range(5):
        mcp_schema._remember(("tenant", f"server-{i}"), [])
    assert list(mcp_schema._CACHE) == [("tenant", "server-2"), ("tenant", "server-3"), ("tenant", "server-4")]
    mcp_schema._remember(("tenant", "server-2"), [{"name": "again"}])  # refreshed: the newest now
    assert list(mcp_schema._CACHE)[-1] == ("tenant", "server-2")
    assert len(mcp_schema._CACHE) == 3
    mcp_schema._CACHE.clear()


VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path code severity message } }"


async def test_validation_lists_an_agents_mcp_tools_and_warns_of_unknown_ones(
    gql: GraphQLClient, tenant: TenantFixture, mcp: McpServer
) -> None:
    mcp_schema._CACHE.clear()
    tools = [
        {"kind": "mcp", "server": "calc", "url": f"{mcp.url}/mcp", "allow": ["add", "nope"]},
        {"kind": "mcp", "server": "shell"},  # not a stdio server the operator lists
        {"kind": "http", "name": "lookup", "description": "x", "request": {"method": "GET", "url": "https://a.test"}},
        {"kind": "mcp", "server": "calc", "url": 5, "allow": [1]},  # malformed: the config schema's error, no look
    ]
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": {}},
            {
                "id": "a",
                "type": "agent",
                "config": {"model": "m", "credential": "llm", "instructions": "Go.", "tools": tools},
            },
        ],
        "edges": [{"source": "start", "target": "a"}],
    }
    found = (await gql.data(VALIDATE, {"d": definition}, tenant.token(Role.EDITOR)))["validateDefinition"]
    mcp_problems = [p for p in found if p["code"] in ("McpToolUnknown", "McpServerUnknown")]
    assert [(p["path"], p["code"], p["severity"]) for p in mcp_problems] == [
        (["nodes", "1", "config", "tools", "0", "allow"], "McpToolUnknown", "WARNING"),
        (["nodes", "1", "config", "tools", "1"], "McpServerUnknown", "WARNING"),
    ]
    assert "'nope'" in mcp_problems[0]["message"] and "'add'" not in mcp_problems[0]["message"]
    errors = [p for p in found if p["severity"] == "ERROR"]
    assert errors and all(p["path"][:5] == ["nodes", "1", "config", "tools", "3"] for p in errors), found
    # A viewer may validate, but not reach out with the tenant's credentials: no MCP look at all.
    requests = len(mcp.headers)
    mcp_schema._CACHE.clear()
    viewer = (await gql.data(VALIDATE, {"d": definition}, tenant.token(Role.VIEWER)))["validateDefinition"]
    assert not [p for p in viewer if p["code"].startswith("Mcp")]
    assert len(mcp.headers) == requests
