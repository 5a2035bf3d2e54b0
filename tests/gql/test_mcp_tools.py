"""The inspector's mcpTools query: the tools an agent's MCP entry would offer, through the same egress policy,
credential and allow-list as the step; an unreachable or unknown server is a WARNING, never a failed query."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from studio_gql.schema import mcp as mcp_schema
from studio_shared.rbac import Role
from tests.conftest import GraphQLClient, TenantFixture
from tests.mcp_servers import McpServer
from tests.servers import serve

TOOLS = """query($s: String!, $u: String, $a: [String!]) {
  mcpTools(server: $s, url: $u, allow: $a) { tools { name tool parameters idempotent } errors { code severity } } }"""


@pytest.fixture(scope="module")
async def mcp() -> AsyncIterator[McpServer]:
    server = McpServer()
    async with serve(server.app(), lifespan="on") as url:
        server.url = url
        yield server


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
