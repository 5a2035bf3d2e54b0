"""The inspector's view of an MCP server: the tools an agent's ``{kind: "mcp"}`` entry would offer the model.

The list is fetched through the same code the agent step uses (egress policy, credential, allow-list, the
operator's stdio servers) and cached per tenant, server, URL, credential and allow-list for ``CACHE_TTL_S``. A
server that cannot be reached is a WARNING in the payload, never an error of the query: the draft stays editable.
"""

from __future__ import annotations

import time
from typing import Any

import strawberry

from studio_gql.context import Info
from studio_gql.errors import Severity, UserError
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON
from studio_shared.rbac import Permission
from studio_worker.control import ToolListUnavailable, list_mcp_tools

CACHE_TTL_S = 300.0
CACHE_ENTRIES = 1_000  # the keys come from what editors type: bounded, the oldest dropped first
_CACHE: dict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = {}


def _remember(key: tuple[Any, ...], tools: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    _CACHE.pop(key, None)
    while len(_CACHE) >= CACHE_ENTRIES:
        del _CACHE[next(iter(_CACHE))]  # insertion order: the oldest first
    entry = _CACHE[key] = (time.monotonic(), tools)
    return entry


@strawberry.type(description="A tool an MCP server lists, as the agent offers it to the model.")
class McpToolInfo:
    name: str = strawberry.field(description="The name the model sees: server__tool.")
    tool: str = strawberry.field(description="The server's own name for it.")
    description: str
    parameters: JSON = strawberry.field(description="The tool's input schema (JSON Schema).")
    idempotent: bool = strawberry.field(description="The server marks it idempotent (idempotentHint).")


@strawberry.type
class McpToolsPayload:
    tools: list[McpToolInfo] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class McpQuery:
    @strawberry.field(
        description="The tools of an agent's MCP server entry (server; url for streamable HTTP, else a stdio server "
        "the operator lists; credential; allow). Cached for a few minutes; an unreachable server is a WARNING.",
        extensions=needs(Permission.WORKFLOW_WRITE),
    )
    async def mcp_tools(
        self,
        info: Info,
        server: str,
        url: str | None = None,
        credential: str | None = None,
        allow: list[str] | None = None,
    ) -> McpToolsPayload:
        ctx = info.context
        entry: dict[str, Any] = {"kind": "mcp", "server": server, "url": url, "credential": credential, "allow": allow}
        key = (ctx.tenant_id, server, url, credential, tuple(allow) if allow is not None else None)
        cached = _CACHE.get(key)
        if cached is None or time.monotonic() - cached[0] > CACHE_TTL_S:
            settings = ctx.state.settings
            try:
                tools = await list_mcp_tools(settings, ctx.state.db_engine, ctx.tenant_id, entry)
            except ToolListUnavailable as exc:
                warning = UserError(path=["server"], message=exc.message, code=exc.code, severity=Severity.WARNING)
                return McpToolsPayload(errors=[warning])
            cached = _remember(key, tools)
        return McpToolsPayload(
            tools=[
                McpToolInfo(
                    name=t["qualified"],
                    tool=t["name"],
                    description=t["description"],
                    parameters=JSON(t["parameters"]),
                    idempotent=t["idempotent"],
                )
                for t in cached[1]
            ]
        )
