"""What one ``startRun`` costs the API: latency, CPU, SQL statements and transactions per call.

Builds the app in-process on a fresh database (a temporary SQLite file, or a PostgreSQL database created for
the run and dropped afterwards), seeds one tenant with a published three-step workflow, then sends R
sequential ``startRun`` POSTs (each with its own idempotency key, as a client that retries would) through
``httpx.ASGITransport``. With ``--redis-url`` (the default on PostgreSQL) runs are queued in Redis for workers
that are not running, so the figures are the API's alone; on SQLite the in-process workers run them, and the
CPU figure includes them. CPU is this process's (the API and its in-process client). Every start must be
answered with a new QUEUED run, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import seed
from bench.graphql_reads import TRANSACTION, counting, timed_post
from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.auth import encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings

NAME = "starts"
HELP = "latency, CPU, SQL statements and transactions of one startRun"

WARMUP = 20
START = (
    "mutation Start($w: ID!, $k: String!) { startRun(workflowId: $w, idempotencyKey: $k) {"
    " run { id status } created errors { code message } } }"
)
DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "a", "type": "transform", "config": {"value": 1}},
        {"id": "b", "type": "transform", "config": {"value": "{{ steps.a.output + 1 }}"}},
        {"id": "c", "type": "transform", "config": {"value": "{{ steps.b.output + 1 }}"}},
    ],
    "edges": [{"source": "start", "target": "a"}, {"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--requests", type=int, default=400, help="timed startRun calls (default 400)")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="queue runs here, with no worker taking them (default on postgres: redis://127.0.0.1:6379/11, "
        "emptied before and after; 'none' runs them in-process)",
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="admin URL used to create and drop the benchmark database (env STUDIO_BENCH_POSTGRES_URL)",
    )


@dataclass(frozen=True)
class Result:
    backend: str
    latencies_ms: list[float]
    cpu_ms: float  # per call
    statements: list[int]
    transactions: list[int]

    def table(self) -> str:
        def spread(values: list[int]) -> str:
            low, high = min(values), max(values)
            return str(low) if low == high else f"{low}-{high}"

        return "\n".join(
            [
                "| backend | calls | p50 ms | p95 ms | CPU ms/call | SQL statements/call | transactions/call |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
                f"| {self.backend} | {len(self.latencies_ms)} | {percentile(self.latencies_ms, 50):.2f}"
                f" | {percentile(self.latencies_ms, 95):.2f} | {self.cpu_ms:.2f} | {spread(self.statements)}"
                f" | {spread(self.transactions)} |",
            ]
        )


async def one_start(client: httpx.AsyncClient, token: str, workflow_id: uuid.UUID) -> tuple[float, list[str]]:
    variables = {"w": str(workflow_id), "k": uuid.uuid4().hex}
    elapsed_ms, response, seen = await timed_post(client, token, START, variables)
    payload = (response.json().get("data") or {}).get("startRun") or {}
    if response.status_code != 200 or not payload.get("created") or payload["run"]["status"] != "QUEUED":
        raise RuntimeError(f"startRun failed: {response.status_code} {response.text[:300]}")
    return elapsed_ms, seen


async def _empty(redis_url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def run(backend: str, requests: int, redis_url: str | None, admin_url: str) -> Result:
    if redis_url:
        await _empty(redis_url)
    try:
        async with fresh_database(backend, admin_url) as url:
            with tempfile.TemporaryDirectory(prefix="studio-bench-state-") as state_dir:
                settings = Settings(
                    env=Env.TEST,
                    database_url=url,
                    redis_url=redis_url,
                    jwt_secret=SecretStr(secrets.token_urlsafe(48)),
                    secret_key=SecretStr(secrets.token_urlsafe(48)),
                    state_dir=Path(state_dir),
                    run_starts_per_tenant_per_s=1_000_000,  # the benchmark measures a start, not the rate limit
                )
                app = create_app(settings)
                async with app.router.lifespan_context(app):
                    state: AppState = app.state.studio
                    tenant_id, workflow_id = await seed(state, DEFINITION)
                    async with state.sessions() as s:
                        admin = await s.scalar(sa.select(models.User.id).where(models.User.tenant_id == tenant_id))
                    token = encode_access_token(settings, subject=admin, tenant_id=tenant_id, role=Role.ADMIN)
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
                        with counting(state, transactions=True):
                            for _ in range(WARMUP):  # statement caches, first connections, the parsed definition
                                await one_start(client, token, workflow_id)
                            gc.collect()
                            latencies: list[float] = []
                            statements: list[int] = []
                            transactions: list[int] = []
                            cpu_began = time.process_time()
                            for _ in range(requests):
                                elapsed_ms, seen = await one_start(client, token, workflow_id)
                                latencies.append(elapsed_ms)
                                transactions.append(seen.count(TRANSACTION))
                                statements.append(sum(1 for sql in seen if not sql.startswith(("BEGIN", "--"))))
                            cpu_ms = (time.process_time() - cpu_began) * 1000 / requests
    finally:
        if redis_url:
            await _empty(redis_url)
    return Result(backend, latencies, cpu_ms, statements, transactions)


def main(args: argparse.Namespace) -> int:
    redis_url = args.redis_url
    if redis_url is None:
        redis_url = "redis://127.0.0.1:6379/11" if args.backend == "postgres" else "none"
    redis = None if redis_url == "none" else redis_url
    result = asyncio.run(run(args.backend, args.requests, redis, args.postgres_url))
    print(result.table())
    return 0
