"""The inspector's view of an MCP server: the tools an agent's ``{kind: "mcp"}`` entry would offer the model.

The list is fetched through the same code the agent step uses (egress policy, credential, allow-list, the
operator's stdio servers) and cached per tenant, server, URL, credential and allow-list for ``CACHE_TTL_S``. A
server that cannot be reached is a WARNING in the payload, never an error of the query: the draft stays editable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import strawberry

from studio_gql.context import Info
from studio_gql.errors import Severity, UserError
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON
from studio_shared.rbac import Permission, permissions_for
from studio_worker.control import ToolListUnavailable, list_mcp_tools

log = logging.getLogger(__name__)
CACHE_TTL_S = 300.0
MAX_SERVERS_CHECKED = 10  # per validation of a definition
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


async def tools_of(info: Info, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The tools ``entry`` offers, from the cache or listed now; ToolListUnavailable when the server cannot say."""
    ctx = info.context
    allow = entry.get("allow")
    allowed = tuple(allow) if isinstance(allow, list) else None
    key: tuple[Any, ...] = (ctx.tenant_id, entry.get("server"), entry.get("url"), entry.get("credential"), allowed)
    cached = _CACHE.get(key)
    if cached is None or time.monotonic() - cached[0] > CACHE_TTL_S:
        cached = _remember(key, await list_mcp_tools(ctx.state.settings, ctx.state.db_engine, ctx.tenant_id, entry))
    return cached[1]


def _well_formed(entry: Any) -> bool:
    if not (isinstance(entry, dict) and entry.get("kind") == "mcp" and isinstance(entry.get("server"), str)):
        return False
    allow = entry.get("allow")
    texts_or_none = all(isinstance(entry.get(k), str | None) for k in ("url", "credential"))
    return texts_or_none and (allow is None or (isinstance(allow, list) and all(isinstance(a, str) for a in allow)))


async def definition_warnings(info: Info, definition: Any) -> list[UserError]:
    """Validation's look at the MCP servers an agent names: a server that cannot list its tools, and an ``allow``
    naming a tool the server does not offer, are WARNINGs at the entry (the step lists the tools again when it
    starts; a server down now may be up then). Only for someone who may edit workflows: listing reaches out with
    the tenant's credentials. Bounded: at most MAX_SERVERS_CHECKED entries per definition."""
    principal = info.context.principal
    if principal is None or Permission.WORKFLOW_WRITE not in permissions_for(principal.role):
        return []
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    entries: list[tuple[list[str], dict[str, Any]]] = []
    for i, node in enumerate(nodes if isinstance(nodes, list) else []):
        config = node.get("config") if isinstance(node, dict) and node.get("type") == "agent" else None
        tools = config.get("tools") if isinstance(config, dict) else None
        for j, entry in enumerate(tools if isinstance(tools, list) else []):
            if _well_formed(entry):  # anything else is the config schema's ERROR already
                entries.append((["nodes", str(i), "config", "tools", str(j)], entry))
    entries = entries[:MAX_SERVERS_CHECKED]
    # At once: validation waits for the slowest server (at most STUDIO_MCP_LIST_TIMEOUT_S), not for their sum.
    listed = await asyncio.gather(*(tools_of(info, entry) for _, entry in entries), return_exceptions=True)
    found: list[UserError] = []
    for (path, entry), tools in zip(entries, listed, strict=True):
        if isinstance(tools, ToolListUnavailable):
            found.append(UserError(path=path, message=tools.message, code=tools.code, severity=Severity.WARNING))
            continue
        if isinstance(tools, Exception):  # not the server's answer: the listing itself broke (logged, not shown)
            log.warning("listing the tools of MCP server %r failed", entry["server"], exc_info=tools)
            message = f"could not list the tools of {entry['server']}"
            found.append(UserError(path=path, message=message, code="McpUnavailable", severity=Severity.WARNING))
            continue
        if isinstance(tools, BaseException):
            raise tools
        offered = {t["name"] for t in tools}
        allow = entry.get("allow")
        missing = [a for a in allow if a not in offered] if isinstance(allow, list) else []
        if missing:
            message = f"{entry['server']} offers no tool named {', '.join(map(repr, missing))}"
            where = [*path, "allow"]
            found.append(UserError(path=where, message=message, code="McpToolUnknown", severity=Severity.WARNING))
    return found


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
        entry: dict[str, Any] = {"kind": "mcp", "server": server, "url": url, "credential": credential, "allow": allow}
        try:
            tools = await tools_of(info, entry)
        except ToolListUnavailable as exc:
            warning = UserError(path=["server"], message=exc.message, code=exc.code, severity=Severity.WARNING)
            return McpToolsPayload(errors=[warning])
        return McpToolsPayload(
            tools=[
                McpToolInfo(
                    name=t["qualified"],
                    tool=t["name"],
                    description=t["description"],
                    parameters=JSON(t["parameters"]),
                    idempotent=t["idempotent"],
                )
                for t in tools
            ]
        )
