"""Latency of the workflow list, the run list and the Runs page's query, and SQL statements per request.

Builds the app in-process on a fresh database (a temporary SQLite file, or a PostgreSQL database
created for the run and dropped afterwards), seeds one tenant with N workflows of two published
versions each, then sends R sequential ``workflows(first: 50) { … latestVersion { … } }`` POSTs through
``httpx.ASGITransport`` and prints a Markdown table. With ``--runs`` it seeds that many runs (a mix of
triggers, statuses, starters and child runs) and measures ``runs(first: 50) { steps }`` and the web app's
Runs page document (``RunsPage``, read from frontend/src/api/, so the figure is that of the page's own
query) unfiltered, filtered, and 60 % deep into the list. No network, no server process: it measures the
GraphQL stack plus the database, nothing else. Bounded by ``--max-seconds`` (the timed loop stops early
and says so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import copy
import gc
import random
import re
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
from studio_shared.store.pagination import encode_cursor

NAME = "graphql-reads"
HELP = "p50/p95/p99 of workflows(first: 50), runs(first: 50) and the Runs page's query, and SQL statements per request"

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
        event.listen(state.db_engine.sync_engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners:
            event.remove(state.db_engine.sync_engine, name, listener)


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


FRONTEND_API = Path(__file__).resolve().parents[1] / "frontend" / "src" / "api"


def frontend_document(name: str, folder: Path = FRONTEND_API) -> str:
    """An operation of the web app as it sends it: its ``graphql(`…`)`` text in frontend/src/api/ and every fragment
    it spreads (the codegen preset appends them the same way), so the benchmark measures the page's own query."""
    texts = [
        match.group(1)
        for path in sorted(folder.glob("*.ts"))
        for match in re.finditer(r"graphql\(\s*`(.*?)`", path.read_text(), re.S)
    ]
    fragments = {m.group(1): text for text in texts if (m := re.match(r"\s*fragment\s+(\w+)", text))}
    operation = next((t for t in texts if re.match(rf"\s*(?:query|mutation|subscription)\s+{name}\b", t)), None)
    if operation is None:
        raise RuntimeError(f"no operation {name} in {folder}")
    needed: list[str] = []
    queue = [operation]
    while queue:
        for spread in re.findall(r"\.\.\.(\w+)", queue.pop()):
            if spread in fragments and fragments[spread] not in needed:
                needed.append(fragments[spread])
                queue.append(fragments[spread])
    return "\n".join([operation, *needed])


def check_runs_page(expected: int, **wanted: str) -> Any:
    """A check of a RunsPage answer: ``expected`` rows (fewer only on the last page), each with the given field
    values (status=FAILED, …)."""

    def check(data: Any, _expected: int) -> None:
        nodes = data["runs"]["nodes"]
        if not nodes or (len(nodes) != expected and data["runs"]["pageInfo"]["hasNextPage"]):
            raise RuntimeError(f"unexpected page: {len(nodes)} runs, wanted {expected}")
        for node in nodes:
            for field, value in wanted.items():
                found = node["startedBy"]["id"] if field == "startedBy" else node[field]
                if found != value:
                    raise RuntimeError(f"a run with {field} {found!r} in a page filtered by {field} {value!r}")

    return check


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
    client: httpx.AsyncClient,
    token: str,
    query: str,
    check: Any,
    expected: int,
    variables: dict[str, Any] | None = None,
) -> tuple[float, int]:
    elapsed_ms, response, seen = await timed_post(client, token, query, variables or {"first": PAGE})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"benchmark query failed: {response.status_code} {body}")
    check(body["data"], expected)
    return elapsed_ms, len(seen)


@dataclass(frozen=True)
class SeededRuns:
    """What the Runs page's filtered queries ask for: a workflow, a person, and a cursor deep into the list."""

    workflow_id: uuid.UUID
    starter_id: uuid.UUID
    deep_cursor: str


# The mix of runs: trigger kinds and statuses by weight (a child run, trigger "parent", belongs to a recent run).
TRIGGERS = (("manual", 40), ("webhook", 40), ("schedule", 15), ("parent", 5))
STATUSES = (("SUCCEEDED", 96), ("FAILED", 3), ("CANCELLED", 1))
STARTERS = 5


async def seed_runs(state: AppState, token_tenant: uuid.UUID, count: int) -> SeededRuns:
    """``count`` finished runs with three steps each, inserted in bulk (Core, chunks of 5,000): a seeded random mix
    of two workflows, four trigger kinds (5 % child runs), three final statuses and five starters."""
    runs, steps = models.Run.__table__, models.Step.__table__
    async with state.sessions.begin() as s:
        versions = (
            await s.execute(
                sa.select(models.WorkflowVersion.id, models.WorkflowVersion.workflow_id, models.WorkflowVersion.version)
                .where(models.WorkflowVersion.tenant_id == token_tenant)
                .order_by(models.WorkflowVersion.workflow_id, models.WorkflowVersion.version)
                .limit(4)
            )
        ).all()
        starters = [
            (
                await tenants.create_user(
                    s, token_tenant, f"starter{i}@bench.example", secrets.token_urlsafe(16), Role.OPERATOR
                )
            ).id
            for i in range(STARTERS)
        ]
    rng = random.Random(20261207)
    kinds, kind_weights = zip(*TRIGGERS, strict=True)
    statuses, status_weights = zip(*STATUSES, strict=True)
    base = datetime.now(UTC) - timedelta(days=30)
    recent_parent: tuple[uuid.UUID, int] | None = None
    top_level: list[tuple[datetime, uuid.UUID]] = []
    for start in range(0, count, 5000):
        run_rows, step_rows = [], []
        for i in range(start, min(count, start + 5000)):
            at = base + timedelta(seconds=i * 25 * 86_400 / max(count, 1))
            run_id = uuid.uuid4()
            version = versions[i % len(versions)]
            trigger = rng.choices(kinds, kind_weights)[0]
            status = rng.choices(statuses, status_weights)[0]
            # A webhook's and a schedule's runs are started for their maker; the rest for whoever started them.
            starter = {"webhook": starters[0], "schedule": starters[1]}.get(trigger) or rng.choice(starters)
            parent, item = None, None
            if trigger == "parent" and recent_parent is not None:
                parent, item = recent_parent[0], recent_parent[1]
                recent_parent = (parent, item + 1)
            elif trigger == "parent":
                trigger = "manual"
            took = timedelta(milliseconds=rng.randint(80, 30_000))
            run_rows.append(
                {
                    "id": run_id, "tenant_id": token_tenant, "workflow_id": version.workflow_id,
                    "workflow_version_id": version.id, "version": version.version, "status": status,
                    "trigger": trigger, "last_seq": 8, "created_at": at, "updated_at": at + took,
                    "started_at": at, "finished_at": at + took, "started_by_user": starter,
                    "created_by": f"run:{parent}" if parent else f"user:{starter}",
                    "parent_run_id": parent, "parent_step_id": "each" if parent else None, "item_index": item,
                    "depth": 1 if parent else 0,
                }
            )  # fmt: skip
            if parent is None:
                top_level.append((at, run_id))
                if i % 40 == 0:
                    recent_parent = (run_id, 0)
            step_rows.extend(
                {
                    "id": uuid.uuid4(), "tenant_id": token_tenant, "run_id": run_id, "step_id": sid,
                    "node_type": "transform", "status": "SUCCEEDED", "attempt": 1, "output": {"n": i},
                    "created_at": at, "updated_at": at,
                }
                for sid in ("start", "check", "notify")
            )  # fmt: skip
        async with state.db_engine.begin() as conn:
            await conn.execute(runs.insert(), run_rows)
            await conn.execute(steps.insert(), step_rows)
    if state.db_engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum would gather them
        async with state.db_engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE runs"))
            await conn.execute(sa.text("ANALYZE steps"))
    # The cursor of the top-level run 60 % of the way down the list, newest first: a page there costs what the first
    # one does when paging is keyset.
    deep_at, deep_id = top_level[len(top_level) - 1 - int(len(top_level) * 0.6)]
    return SeededRuns(versions[0].workflow_id, starters[2], encode_cursor(deep_at, deep_id))


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
                queries: list[tuple[str, str, Any, int, dict[str, Any] | None]] = [
                    ("workflows(first: 50) { latestVersion }", QUERY, check_workflows, expected, None)
                ]
                if runs:
                    seeded = await seed_runs(state, decode_access_token(settings, token).tenant_id, runs)
                    queries.append((f"runs(first: 50) {{ steps }} of {runs:,}", RUNS_QUERY, check_runs, PAGE, None))
                    page = frontend_document("RunsPage")
                    top = {"topLevel": True}
                    for label, where, check, after in (
                        ("top-level", top, check_runs_page(PAGE), None),
                        (
                            "FAILED webhook runs",
                            {**top, "status": ["FAILED"], "trigger": ["webhook"]},
                            check_runs_page(PAGE, status="FAILED", trigger="webhook"),
                            None,
                        ),
                        (
                            "one workflow, one starter",
                            {**top, "workflowId": str(seeded.workflow_id), "startedBy": str(seeded.starter_id)},
                            check_runs_page(PAGE, startedBy=str(seeded.starter_id)),
                            None,
                        ),
                        ("top-level, 60 % deep", top, check_runs_page(PAGE), seeded.deep_cursor),
                    ):
                        variables = {"filter": where, "first": PAGE, "after": after}
                        queries.append((f"RunsPage: {label} of {runs:,}", page, check, PAGE, variables))
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
                    with counting(state):
                        for label, query, check, want, variables in queries:
                            for _ in range(WARMUP):  # statement caches, first connections, imports
                                await one_request(client, token, query, check, want, variables)
                            gc.collect()  # every measurement starts with the same clean heap
                            if gc_freeze:
                                gc.freeze()
                            latencies: list[float] = []
                            statements: list[int] = []
                            deadline = time.monotonic() + max_seconds
                            for _ in range(requests):
                                elapsed_ms, count = await one_request(client, token, query, check, want, variables)
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
