"""MCP servers as agent tools: list a server's tools and call one, over streamable HTTP or stdio.

Two transports, and who may choose each:

* streamable HTTP: the definition gives the URL. Every connection goes through the egress policy (the SDK's
  ``httpx2`` client runs over ``GuardedTransport`` through a small bridge), and a stored credential supplies the
  auth header, sent only to the hosts the credential allows.
* stdio: the operator lists the commands in ``STUDIO_MCP_STDIO_SERVERS`` (a JSON map of name to argv); a
  definition names one, never a command, so no workflow author can make a worker start a program.

A session is opened per operation (list, or one call) and closed after it: nothing is held between steps, so a
parked or re-executed agent needs no connection it had before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import httpx2

from studio_worker.egress import EgressDenied, EgressPolicy, GuardedTransport, Resolver
from studio_worker.nodes.base import NodeContext, NodeError

if TYPE_CHECKING:  # the SDK is imported by the first session (_session): its models cost a process 32 MiB
    from mcp import ClientSession

SEPARATOR = "__"  # server__tool: the name the model sees; server names hold no "_" so the split is unambiguous
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]{1,32}$")
MAX_TOOLS_PER_SERVER = 64
MAX_RESULT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool of a server, as the agent declares it to the model."""

    server: str
    name: str  # the server's own name for it
    description: str
    parameters: dict[str, Any]
    idempotent: bool  # the server's idempotentHint (a hint: see agent.py for what re-execution does)

    @property
    def qualified(self) -> str:
        return f"{self.server}{SEPARATOR}{self.name}"

    def state(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "idempotent": self.idempotent,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> McpTool:
        return cls(
            server=str(data["server"]),
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            parameters=dict(data.get("parameters") or {"type": "object", "properties": {}}),
            idempotent=bool(data.get("idempotent")),
        )


def stdio_servers(raw: dict[str, list[str]]) -> dict[str, list[str]]:
    """The operator's stdio servers, checked: a name the definition can use and a non-empty argv of strings."""
    servers: dict[str, list[str]] = {}
    for name, argv in raw.items():
        if not SERVER_NAME.match(name) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise ValueError(f"STUDIO_MCP_STDIO_SERVERS: {name!r} needs a name of letters, digits and - and an argv")
        servers[name] = list(argv)
    return servers


def server_problem(entry: dict[str, Any], stdio: dict[str, list[str]]) -> str | None:
    """Why an ``mcp`` tool entry cannot be used (an unknown stdio server), or None."""
    if entry.get("url"):
        return None
    name = str(entry.get("server"))
    if name not in stdio:
        known = ", ".join(sorted(stdio)) or "none are configured"
        return f"no MCP stdio server named {name!r} in STUDIO_MCP_STDIO_SERVERS ({known}); or give the server a url"
    return None


class _ResponseStream(httpx2.AsyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._response.aiter_raw():
                yield part
        except httpx.TimeoutException as exc:
            raise httpx2.ReadTimeout(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise httpx2.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class EgressBridge(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport (the MCP SDK's client) that sends through the studio's ``GuardedTransport``.

    MCP requests are small JSON posts, read whole; responses (JSON or an SSE stream) are streamed back.
    """

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None) -> None:
        self._inner = GuardedTransport(policy, resolver=resolver)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        extensions = {k: v for k, v in request.extensions.items() if k == "timeout"}
        outbound = httpx.Request(
            request.method, str(request.url), headers=request.headers.raw, content=body, extensions=extensions
        )
        try:
            response = await self._inner.handle_async_request(outbound)
        except httpx.TimeoutException as exc:
            raise httpx2.ConnectTimeout(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise httpx2.ConnectError(str(exc)) from exc
        return httpx2.Response(
            status_code=response.status_code, headers=response.headers.raw, stream=_ResponseStream(response)
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _egress_denied(exc: BaseException) -> EgressDenied | None:
    """The EgressDenied inside ``exc`` (the SDK's task groups wrap it), if any."""
    if isinstance(exc, EgressDenied):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _egress_denied(inner)
            if found is not None:
                return found
    cause = exc.__cause__ or exc.__context__
    return _egress_denied(cause) if cause is not None and cause is not exc else None


@contextlib.contextmanager
def _failures(server: str) -> Iterator[None]:
    """Every failure of a session as a NodeError naming the server (never the URL: it may carry a token)."""
    try:
        yield
    except NodeError:
        raise
    except TimeoutError:
        raise NodeError("McpTimeout", f"the MCP server {server!r} did not answer in time", retryable=True) from None
    except Exception as exc:
        denied = _egress_denied(exc)
        if denied is not None:
            raise NodeError("EgressDenied", f"MCP server {server!r}: {denied}") from None
        raise NodeError("McpError", f"the MCP server {server!r} failed: {type(exc).__name__}", retryable=True) from None


@contextlib.asynccontextmanager
async def _session(ctx: NodeContext, entry: dict[str, Any]) -> AsyncIterator[ClientSession]:
    # Imported here, not at the top: the SDK's pydantic models add 32 MiB to a process (measured), and most workers
    # and API processes never open an MCP session. tests/worker/test_memory.py keeps it that way.
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client

    services = ctx.need_services()
    server = str(entry["server"])
    if entry.get("url"):
        try:
            url = services.policy.check_url(str(entry["url"]))
        except EgressDenied as exc:
            raise NodeError("EgressDenied", f"MCP server {server!r}: {exc}: check its url") from None
        headers: dict[str, str] = {}
        if entry.get("credential"):
            credential = await ctx.credential(str(entry["credential"]))
            if not credential.host_allowed(url.host, url.port):
                raise NodeError(
                    "CredentialHostNotAllowed",
                    f"credential {credential.name!r} may not be sent to {url.host}: add the host to its allowed hosts",
                )
            headers.update(credential.headers())
        client = httpx2.AsyncClient(
            transport=EgressBridge(services.policy, services.resolver),
            headers=headers,
            timeout=httpx2.Timeout(30, read=300),
            follow_redirects=False,
            trust_env=False,
        )
        async with (
            client,
            streamable_http_client(str(url), http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
        return
    stdio = stdio_servers(services.settings.mcp_stdio_servers)
    problem = server_problem(entry, stdio)
    if problem:
        raise NodeError("McpServerUnknown", problem)
    argv = stdio[server]
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
        params = StdioServerParameters(command=argv[0], args=argv[1:])
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def list_tools(ctx: NodeContext, entry: dict[str, Any], timeout_s: float) -> list[McpTool]:
    """The server's tools that ``entry``'s allow-list admits (every tool when it has none), in server order."""
    server = str(entry["server"])
    allowed = set(entry["allow"]) if entry.get("allow") is not None else None
    with _failures(server):
        async with asyncio.timeout(timeout_s), _session(ctx, entry) as session:
            listed = await session.list_tools()
    tools: list[McpTool] = []
    for tool in listed.tools:
        if allowed is not None and tool.name not in allowed:
            continue
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        hints = tool.annotations
        tools.append(
            McpTool(
                server=server,
                name=tool.name,
                description=(tool.description or "")[:4000],
                parameters=schema or {"type": "object", "properties": {}},
                idempotent=bool(hints and hints.idempotent_hint),
            )
        )
    return tools[:MAX_TOOLS_PER_SERVER]


async def call_tool(
    ctx: NodeContext, entry: dict[str, Any], tool: McpTool, args: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """The tool's result as the model is shown it: ``{"content": …}`` or ``{"error": …}`` (a tool-reported error)."""
    with _failures(tool.server):
        async with asyncio.timeout(timeout_s), _session(ctx, entry) as session:
            result = await session.call_tool(tool.name, args)
    parts: list[Any] = []
    for block in result.content:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else block.model_dump(mode="json", by_alias=True))
    content: Any = parts[0] if len(parts) == 1 else parts
    if result.structured_content is not None:
        content = result.structured_content
    if result.is_error:
        return {"error": content}
    return {"content": content}


def result_text(result: dict[str, Any]) -> str:
    return json.dumps(result, default=str)[:MAX_RESULT_CHARS]
