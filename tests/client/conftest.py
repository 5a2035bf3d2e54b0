"""A real ``studio serve`` process for the client's tests, in this pass's mode: embedded (SQLite, its own database
file, in-process workers) or services (the session's PostgreSQL database and Redis, with the session's two
``studio worker`` processes). The client talks to it over TCP like any user's script would."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from studio_shared.db.migrate import upgrade
from studio_shared.settings import Settings
from tests.conftest import REPO, SERVICES, StudioProcesses, Workers, start_serve


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def token(self, tenant: str, role: str = "ADMIN") -> str:
        """A signed access token from ``studio token`` (the tenant and user are created when missing)."""
        done = subprocess.run(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-c",
                "from studio_gql.cli import main; main()",
                "token",
                "--tenant",
                tenant,
                "--role",
                role,
                "--create-tenant",
            ],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def studio_server(settings: Settings, workers: Workers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("client-serve")
    if not SERVICES:  # a database of its own: the session's SQLite file belongs to the in-process app's workers
        url = f"sqlite+aiosqlite:///{logs / 'studio.db'}"
        upgrade(url)
        settings = settings.model_copy(update={"database_url": url})
    env = StudioProcesses(settings, logs, "serve").env()
    proc, base = start_serve(env, logs / "serve.log")
    try:
        yield Server(base, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Proxy:
    """A TCP proxy in front of the server whose open connections can be cut (both ends aborted) at will."""

    target_port: int
    port: int = 0
    accepted: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@pytest.fixture
async def proxy(studio_server: Server) -> AsyncIterator[Proxy]:
    async with Proxy(int(studio_server.url.rsplit(":", 1)[1])) as running:
        yield running


async def graphql(server: Server, token: str, query: str, variables: dict[str, Any]) -> Any:
    """A raw GraphQL call (for what the client does not cover: creating and publishing workflows)."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{server.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = answer.json()
    assert not body.get("errors"), body
    return body["data"]


CREATE = """mutation($input: CreateWorkflowInput!) { createWorkflow(input: $input) { workflow { id } errors { message } } }"""
PUBLISH = """mutation($id: ID!) { publishWorkflow(id: $id) { errors { message } } }"""


async def publish(server: Server, token: str, definition: dict[str, Any], name: str = "client test") -> str:
    created = (await graphql(server, token, CREATE, {"input": {"name": name, "definition": definition}}))[
        "createWorkflow"
    ]
    assert not created["errors"], created
    workflow_id: str = created["workflow"]["id"]
    published = (await graphql(server, token, PUBLISH, {"id": workflow_id}))["publishWorkflow"]
    assert not published["errors"], published
    return workflow_id
