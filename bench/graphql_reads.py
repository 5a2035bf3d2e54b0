"""Latency of the workflow list with latest versions, and SQL statements per request.

Builds the app in-process on a fresh database (a temporary SQLite file, or a PostgreSQL database
created for the run and dropped afterwards), seeds one tenant with N workflows of two published
versions each, then sends R sequential ``workflows(first: 50) { … latestVersion { … } }`` POSTs through
``httpx.ASGITransport`` and prints a Markdown table. No network, no server process: it measures the
GraphQL stack plus the database, nothing else. Bounded by ``--max-seconds`` (the timed loop stops early
and says so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import copy
import gc
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import event

from bench.common import POSTGRES_URL, fresh_database, percentile
from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.auth import Principal, decode_access_token, encode_access_token
from studio_shared.db import models
from studio_shared.examples import APPROVE_LARGE_ORDERS, example
from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings
from studio_shared.store import tenants
from studio_shared.store import workflows as store

NAME = "graphql-reads"
HELP = "p50/p95/p99 of workflows(first: 50) with latestVersion, and SQL statements per request"

PAGE = 50
WARMUP = 10
QUERY = (
    "query Bench($first: Int!) { workflows(first: $first) { edges { node {"
    " id name latestVersion { version definition } } } pageInfo { hasNextPage } } }"
)
DEFINITION: dict[str, Any] = example(APPROVE_LARGE_ORDERS)["definition"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workflows", type=_bounded(1, 1000), default=50, help="workflows to seed (default 50)")
    parser.add_argument("--requests", type=_bounded(1, 100_000), default=200, help="timed requests (default 200)")
    parser.add_argument(
        "--runs",
        type=_bounded(0, 1_000_000),
        default=100_000,
        help="runs to seed (three steps each) for the runs(first: 50) { steps } query (default 100,000; 0 skips it)",
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="admin URL used to create and drop the benchmark database (env STUDIO_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=45.0, help="stop the timed loop after this long (default 45)"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after start-up and seeding, so full collections skip the long-lived heap",
    )


def _bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


@dataclass(frozen=True)
class Result:
    backend: str
    workflows: int
    requests: int
    latencies_ms: list[float]
    statements: list[int]
    stopped_early: bool

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def table(self) -> str:
        per_request = sorted(set(self.statements))
        shown = str(per_request[0]) if len(per_request) == 1 else f"{min(per_request)}-{max(per_request)}"
        rows = [
            "| backend: query | workflows | requests | p50 ms | p95 ms | p99 ms | statements/request |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {self.backend} | {self.workflows} | {len(self.latencies_ms)} | {self.percentile(50):.2f}"
            f" | {self.percentile(95):.2f} | {self.percentile(99):.2f} | {shown} |",
        ]
        return "\n".join(rows)


# ------------------------------------------------------------------------------------------- database


# ------------------------------------------------------------------------------------------- seeding


async def seed(state: AppState, workflows: int) -> tuple[str, int]:
    """One tenant and editor; ``workflows`` workflows with versions 1 and 2. Returns a token and page size."""
    async with state.sessions.begin() as s:
        tenant = await tenants.get_or_create_tenant(s, f"bench-{secrets.token_hex(4)}")
        user = await tenants.create_user(
            s, tenant.id, f"editor@{tenant.slug}.example", secrets.token_urlsafe(16), Role.EDITOR
        )
    actor = Principal(tenant_id=tenant.id, role=Role.EDITOR, user_id=user.id)
    second = copy.deepcopy(DEFINITION)
    second["nodes"][1]["config"]["expression"] = "{{ input.amount > 500 }}"
    for i in range(workflows):
        async with state.sessions.begin() as s:
            row = await store.create(
                s, tenant.id, actor, state.registry, name=f"Workflow {i:04d}", description=None, definition=DEFINITION
            )
            await store.publish(s, tenant.id, actor, state.registry, row.id, "v1")
            await store.update(s, tenant.id, actor, state.registry, row.id, definition=second)
            await store.publish(s, tenant.id, actor, state.registry, row.id, "v2")
    token = encode_access_token(state.settings, subject=user.id, tenant_id=tenant.id, role=Role.EDITOR)
    return token, min(workflows, PAGE)


# ------------------------------------------------------------------------------------------- measuring

_sink: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("bench_statements", default=None)


TRANSACTION = "-- a transaction began"  # what ``counting(..., transactions=True)`` appends for each transaction


@contextmanager
def counting(state: AppState, *, transactions: bool = False) -> Iterator[None]:
    """While active, SQL sent on behalf of a task whose context holds a sink is appended to that sink, and with
    ``transactions`` a ``TRANSACTION`` marker for each transaction begun (a statement in autocommit is none).

    Context variables follow the request into Strawberry's resolver tasks and SQLAlchemy's greenlets, so
    background work in the same process (an embedded scheduler, say) is not counted.
    """

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sink = _sink.get()
        if sink is not None:
            sink.append(statement)

    def begin(conn: Any) -> None:
        sink = _sink.get()
        if sink is not None and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sink.append(TRANSACTION)

    listeners = [("before_cursor_execute", before)] + ([("begin", begin)] if transactions else [])
    for name, listener in listeners:
        event.listen(state.engine.sync_engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners:
            event.remove(state.engine.sync_engine, name, listener)


RUNS_QUERY = (
    "query Bench($first: Int!) { runs(first: $first) { edges { node {"
    " id status createdAt steps { stepId status attempt } } } pageInfo { hasNextPage } } }"
)


def check_workflows(data: Any, expected: int) -> None:
    edges = data["workflows"]["edges"]
    if len(edges) != expected or any(e["node"]["latestVersion"]["version"] != 2 for e in edges):
        raise RuntimeError(f"unexpected page: {len(edges)} edges, wanted {expected} at version 2")


def check_runs(data: Any, expected: int) -> None:
    edges = data["runs"]["edges"]
    if len(edges) != expected or any(len(e["node"]["steps"]) != 3 for e in edges):
        raise RuntimeError(f"unexpected page: {len(edges)} runs, wanted {expected} with 3 steps each")


async def timed_post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> tuple[float, httpx.Response, list[str]]:
    """One GraphQL POST: its latency in ms, the response, and the SQL sent on its behalf (see ``counting``)."""
    seen: list[str] = []
    reset = _sink.set(seen)
    try:
        started = time.perf_counter()
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        _sink.reset(reset)
    return elapsed_ms, response, seen


async def one_request(
    client: httpx.AsyncClient, token: str, query: str, check: Any, expected: int
) -> tuple[float, int]:
    elapsed_ms, response, seen = await timed_post(client, token, query, {"first": PAGE})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"benchmark query failed: {response.status_code} {body}")
    check(body["data"], expected)
    return elapsed_ms, len(seen)


async def seed_runs(state: AppState, token_tenant: uuid.UUID, count: int) -> None:
    """``count`` finished runs of one workflow with three steps each, inserted in bulk (Core, chunks of 5,000)."""
    runs, steps = models.Run.__table__, models.Step.__table__
    async with state.sessions() as s:
        version = (
            await s.execute(
                sa.select(models.WorkflowVersion.id, models.WorkflowVersion.workflow_id, models.WorkflowVersion.version)
                .where(models.WorkflowVersion.tenant_id == token_tenant)
                .limit(1)
            )
        ).one()
    base = datetime.now(UTC) - timedelta(days=30)
    for start in range(0, count, 5000):
        run_rows, step_rows = [], []
        for i in range(start, min(count, start + 5000)):
            at = base + timedelta(seconds=i)
            run_id = uuid.uuid4()
            run_rows.append(
                {
                    "id": run_id, "tenant_id": token_tenant, "workflow_id": version.workflow_id,
                    "workflow_version_id": version.id, "version": version.version, "status": "SUCCEEDED",
                    "trigger": "manual", "last_seq": 8, "created_at": at, "updated_at": at, "finished_at": at,
                }
            )  # fmt: skip
            step_rows.extend(
                {
                    "id": uuid.uuid4(), "tenant_id": token_tenant, "run_id": run_id, "step_id": sid,
                    "node_type": "transform", "status": "SUCCEEDED", "attempt": 1, "output": {"n": i},
                    "created_at": at, "updated_at": at,
                }
                for sid in ("start", "check", "notify")
            )  # fmt: skip
        async with state.engine.begin() as conn:
            await conn.execute(runs.insert(), run_rows)
            await conn.execute(steps.insert(), step_rows)


async def run(
    backend: str,
    workflows: int,
    requests: int,
    admin_url: str,
    max_seconds: float,
    gc_freeze: bool = False,
    runs: int = 0,
) -> list[Result]:
    results: list[Result] = []
    async with fresh_database(backend, admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-state-") as state_dir:
            settings = Settings(
                env=Env.TEST,
                database_url=url,
                jwt_secret=SecretStr(secrets.token_urlsafe(48)),
                secret_key=SecretStr(secrets.token_urlsafe(48)),
                state_dir=Path(state_dir),
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                state: AppState = app.state.studio
                token, expected = await seed(state, workflows)
                queries = [("workflows(first: 50) { latestVersion }", QUERY, check_workflows, expected)]
                if runs:
                    await seed_runs(state, decode_access_token(settings, token).tenant_id, runs)
                    queries.append((f"runs(first: 50) {{ steps }} of {runs:,}", RUNS_QUERY, check_runs, PAGE))
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
                    with counting(state):
                        for label, query, check, want in queries:
                            for _ in range(WARMUP):  # statement caches, first connections, imports
                                await one_request(client, token, query, check, want)
                            gc.collect()  # every measurement starts with the same clean heap
                            if gc_freeze:
                                gc.freeze()
                            latencies: list[float] = []
                            statements: list[int] = []
                            deadline = time.monotonic() + max_seconds
                            for _ in range(requests):
                                elapsed_ms, count = await one_request(client, token, query, check, want)
                                latencies.append(elapsed_ms)
                                statements.append(count)
                                if time.monotonic() > deadline:
                                    break
                            if gc_freeze:
                                gc.unfreeze()
                            name = f"{backend} (gc.freeze)" if gc_freeze else backend
                            results.append(
                                Result(f"{name}: {label}", workflows, requests, latencies, statements,
                                       stopped_early=len(latencies) < requests)
                            )  # fmt: skip
    return results


def main(args: argparse.Namespace) -> int:
    results = asyncio.run(
        run(args.backend, args.workflows, args.requests, args.postgres_url, args.max_seconds, args.gc_freeze, args.runs)
    )
    for i, result in enumerate(results):
        table = result.table()
        print(table if i == 0 else table.splitlines()[-1])
    for result in results:
        if result.stopped_early:
            print(f"\n({result.backend}: stopped after {len(result.latencies_ms)} requests: --max-seconds reached)")
    return 0
