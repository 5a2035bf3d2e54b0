"""Shared fixtures: the backend matrix, the app, a GraphQL client, tenant factories, worker processes.

``STUDIO_TEST_BACKEND=sqlite|postgres`` picks the mode of this pass (``make test`` runs both):
``sqlite`` is the embedded default (in-process workers and event bus); ``postgres`` is services mode,
PostgreSQL + Redis + two real ``studio worker`` processes. Without PostgreSQL or Redis that pass skips,
saying how to enable it, unless ``STUDIO_REQUIRE_SERVICES=1`` (set by CI) turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared import tracing
from studio_shared.auth import encode_access_token, hash_password
from studio_shared.db.migrate import upgrade
from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings
from studio_shared.store import tenants
from tests.mcp_servers import McpServer
from tests.servers import FakeModel, serve

BACKEND = os.environ.get("STUDIO_TEST_BACKEND", "sqlite")
REQUIRE_SERVICES = os.environ.get("STUDIO_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get("STUDIO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_JWT_SECRET = "test-jwt-secret-" + "x" * 32  # PyJWT wants 32+ bytes for HS256
TEST_SECRET_KEY = "test-secret-key-" + "y" * 32
SERVICES = BACKEND == "postgres"
# Redis databases: 1-10 a test session's own (arq's queue keys stay apart from a parallel run), 11 the
# benchmark test, 12 the benchmark's default, 14 the queue tests, 15 the event-bus tests.
REDIS_URL = f"redis://127.0.0.1:6379/{1 + os.getpid() % 10}"
# A worker starts in 1-3 s; on 2 cores shared by several test sessions, over 30 s was seen: a hang guard only.
PROCESS_START_S = 120.0
REPO = Path(__file__).resolve().parents[1]
METRICS_URL = re.compile(r"metrics on (http://\S+/metrics)")


def services_pass_only() -> None:
    """Tests of Redis itself (the event bus, arq's queue, the shared rate limiter) run in the postgres pass, the
    services mode. The SQLite pass is the embedded default, with no Redis: `make test` runs both passes at once,
    and this keeps the two from sharing a Redis database."""
    if not SERVICES:
        pytest.skip("Redis: the postgres pass (services mode) runs it")


def missing_service(name: str, how: str) -> None:
    """Skip with a reason that says how to enable the test, or fail when CI demands every service."""
    message = f"{name} is not available: {how}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (STUDIO_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'studio.db'}"
        upgrade(url)
        yield url
        return
    if BACKEND != "postgres":
        pytest.fail(f"STUDIO_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")
    name = f"studio_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ImportError) as exc:
        missing_service(
            "PostgreSQL",
            f"{exc!r}; start it on 127.0.0.1:5432 or point STUDIO_TEST_POSTGRES_URL at a server",
        )
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        missing_service("Redis", f"{exc!r}; start redis-server on 127.0.0.1:6379")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state_dir = tmp_path_factory.mktemp("state")
    return Settings(
        env=Env.TEST,
        database_url=database_url,
        redis_url=_redis_url() if SERVICES else None,
        jwt_secret=TEST_JWT_SECRET,
        secret_key=TEST_SECRET_KEY,
        state_dir=state_dir,
        storage_url=f"file://{state_dir}/storage",
        # The tests' own HTTP and model servers listen on 127.0.0.1; every other private address stays blocked.
        http_allowed_hosts="127.0.0.1/32",
        # sql.query's tests use a database of their own on the PostgreSQL server that holds the studio's database in
        # the postgres pass; the refusal of the studio's server is tested with settings of its own.
        sql_allow_studio_database=True,
        max_artifact_bytes=64 * 1024,
        llm_prices={"gpt-test": {"prompt": 1.0, "completion": 2.0}},
        # The agent's stdio MCP tools: the test server of tests/mcp_servers.py, the one command workers may start.
        mcp_stdio_servers={"calc": [sys.executable, str(Path(__file__).parent / "mcp_servers.py")]},
        node_plugins="tests.nodes_plugin",
        run_lease_s=3.0,
        sweep_interval_s=0.5,
        requeue_after_s=5.0,
        shutdown_grace_s=2.0,
        ws_reauth_interval_s=0.5,
        # Every in-process request of the session comes from 127.0.0.1 (and the fuzz tests send failing logins):
        # the per-address login limit is tested with addresses of its own and a lower threshold.
        login_failures_per_address=100_000,
    )


class StudioProcesses:
    """Real ``studio <command>`` processes (``worker``, ``scheduler``) configured like this test session."""

    def __init__(
        self,
        settings: Settings,
        logs: Path,
        command: str = "worker",
        args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.settings, self.logs, self.command = settings, logs, command
        self.args, self.extra_env = args, extra_env or {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.metrics_url_of: dict[int, str] = {}  # pid: its /metrics, when started with --metrics-port

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "STUDIO_ENV": "test",
            "STUDIO_DATABASE_URL": s.database_url,
            "STUDIO_REDIS_URL": s.redis_url or "",
            "STUDIO_JWT_SECRET": TEST_JWT_SECRET,
            "STUDIO_SECRET_KEY": TEST_SECRET_KEY,
            "STUDIO_NODE_PLUGINS": s.node_plugins,
            "STUDIO_RUN_LEASE_S": str(s.run_lease_s),
            "STUDIO_SWEEP_INTERVAL_S": str(s.sweep_interval_s),
            "STUDIO_REQUEUE_AFTER_S": str(s.requeue_after_s),
            "STUDIO_SHUTDOWN_GRACE_S": str(s.shutdown_grace_s),
            "STUDIO_STATE_DIR": str(s.state_dir),
            "STUDIO_STORAGE_URL": s.storage_url,
            "STUDIO_HTTP_ALLOWED_HOSTS": s.http_allowed_hosts,
            "STUDIO_SQL_ALLOW_STUDIO_DATABASE": str(s.sql_allow_studio_database).lower(),
            "STUDIO_MAX_ARTIFACT_BYTES": str(s.max_artifact_bytes),
            "STUDIO_LLM_PRICES": json.dumps(s.llm_prices),
            "STUDIO_MCP_STDIO_SERVERS": json.dumps(s.mcp_stdio_servers),
            **self.extra_env,
        }

    def start(self) -> subprocess.Popen[bytes]:
        log = self.logs / f"{self.command}-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-c", "from studio_gql.cli import main; main()", self.command, *self.args],
                env=self.env(),
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + PROCESS_START_S
        while b"ready" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.command} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.procs.append(proc)
        found = METRICS_URL.search(log.read_text())
        if found:
            self.metrics_url_of[proc.pid] = found.group(1)
        return proc

    @property
    def metrics_urls(self) -> list[str]:
        """The /metrics of each process still running (a test may stop one and drop it from ``procs``)."""
        return [self.metrics_url_of[p.pid] for p in self.procs if p.poll() is None and p.pid in self.metrics_url_of]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


Workers = StudioProcesses  # the session's ``studio worker`` processes (empty in the embedded mode)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(env: dict[str, str], log: Path, timeout_s: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """A real ``studio serve`` on a free port, configured by ``env``, its output in ``log``: (process, base URL),
    returned once ``/readyz`` answers 200 (killed, with its log in the error, if it does not in ``timeout_s``)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-c", "from studio_gql.cli import main; main()", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"studio serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def workers(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Two worker processes in services mode (the embedded app drives runs itself otherwise)."""
    # Each serves its metrics on a free port; tenant labels on, so a test counts its own tenant's runs exactly
    # (tests/gql/test_metrics.py) whatever runs of earlier tests are still finishing.
    # Traces on, each process's spans as JSON lines in the logs directory (tests/gql/test_traces.py reads them; the
    # canary scan searches them), exported every 100 ms; logs as JSON lines (the canary scan searches those too).
    logs = tmp_path_factory.mktemp("workers")
    pool = Workers(
        settings,
        logs,
        args=("--metrics-port", "0"),
        extra_env={
            "STUDIO_METRICS_TENANT_LABELS": "true",
            "STUDIO_OTEL_ENABLED": "true",
            "STUDIO_OTEL_SPANS_FILE": str(logs / "spans-{pid}.jsonl"),
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "STUDIO_LOG_FORMAT": "json",
        },
    )
    if SERVICES:
        pool.start()
        pool.start()
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def state(app: Starlette) -> AppState:
    result: AppState = app.state.studio
    return result


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio.test") as client:
        yield client


@pytest.fixture(scope="session")
async def live_url(app: Starlette) -> AsyncIterator[str]:
    """The app served by uvicorn on a free local port, for real websocket clients: ``ws://…/graphql``."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # pytest keeps its own signal handlers
            yield

    server = Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


class GraphQLClient:
    """POSTs documents to /graphql; ``data`` insists on no errors, ``errors`` on at least one."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, (response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error_codes(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> list[str]:
        body = await self.raw(query, variables, token)
        assert body.get("errors"), body
        return [(e.get("extensions") or {}).get("code", "") for e in body["errors"]]


@pytest.fixture(scope="session")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@dataclass
class TenantFixture:
    id: uuid.UUID
    slug: str
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    emails: dict[Role, str] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)

    def token(self, role: Role = Role.ADMIN) -> str:
        return self.tokens[role]


PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    """``PASSWORD``'s argon2 hash, made once per session: a hash costs ~140 ms of CPU here, and a tenant fixture has
    four users (about 1,500 tenants per pass spent minutes hashing the same password)."""
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
async def mcp() -> AsyncIterator[McpServer]:
    """An MCP server built with the SDK's server side (tests/mcp_servers.py), over streamable HTTP."""
    server = McpServer()
    async with serve(server.app(), lifespan="on") as url:
        server.url = url
        yield server


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[FakeModel]:
    """A scripted OpenAI-compatible model server (tests/servers.py) for the tests of one module."""
    server = FakeModel()
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest.fixture(scope="session")
def make_tenant(state: AppState, settings: Settings) -> Any:
    """A fresh tenant with one user (and token) per role; passwords are ``PASSWORD``."""

    async def make() -> TenantFixture:
        slug = f"t-{secrets.token_hex(5)}"
        async with state.sessions.begin() as s:
            tenant = await tenants.get_or_create_tenant(s, slug)
            made = TenantFixture(id=tenant.id, slug=slug)
            for role in Role:
                email = f"{role.value.lower()}@{slug}.example"
                user = await tenants.create_user(s, tenant.id, email, PASSWORD, role, password_hash=password_hash())
                made.users[role], made.emails[role] = user.id, email
        for role, user_id in made.users.items():
            made.tokens[role] = encode_access_token(settings, subject=user_id, tenant_id=made.id, role=role)
        return made

    return make


@pytest.fixture
async def tenant(make_tenant: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


@pytest.fixture
async def other_tenant(make_tenant: Any) -> TenantFixture:
    result: TenantFixture = await make_tenant()
    return result


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Traces on in this process for one test, its spans kept in memory (tests/spans.py reads them)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "studio-api"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    yield memory
    tracing.install(None)
    provider.shutdown()
