"""MCP servers for the agent's tests, built with the official SDK's server side (``MCPServer``, once FastMCP).

``McpServer`` is served over streamable HTTP in the test process; running this file serves the same tools over
stdio (the command tests list in ``STUDIO_MCP_STDIO_SERVERS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp, Receive, Scope, Send


def build(calls: list[tuple[str, dict[str, Any]]]) -> MCPServer:
    """Three tools: ``add`` (idempotent), ``fail`` (reports an error) and ``wipe`` (a tool no test allows)."""
    server = MCPServer("studio-test")

    @server.tool(description="Add two integers.", annotations=ToolAnnotations(idempotent_hint=True))
    def add(a: int, b: int) -> str:
        calls.append(("add", {"a": a, "b": b}))
        return str(a + b)

    @server.tool(description="Always fails.")
    def fail() -> str:
        calls.append(("fail", {}))
        raise ValueError("the ledger is closed")

    @server.tool(description="Deletes everything.")
    def wipe() -> str:
        calls.append(("wipe", {}))
        return "wiped"

    return server


@dataclass
class McpServer:
    """The tools above over streamable HTTP at ``{url}/mcp``; records each call and each request's headers."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def app(self) -> ASGIApp:
        inner = build(self.calls).streamable_http_app(stateless_http=True, json_response=True)

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
            await inner(scope, receive, send)

        return recording


if __name__ == "__main__":
    build([]).run("stdio")
