"""Webhook ingest: signed deliveries with idempotency keys against a real ``studio serve`` process.

The API runs in services mode (PostgreSQL + Redis; no worker process, so the figure is the ingest path alone:
signature check, idempotency record, run row, queue message) or embedded (SQLite; its in-process workers run
the one-step workflow as deliveries arrive). A local client sends ``--deliveries`` Standard-Webhooks-signed
deliveries from ``--concurrency`` connections; ``--repeat`` of them are re-sent copies of an earlier delivery
(same key and body: they must be answered from the idempotency record). Afterwards the database must hold
exactly one run per distinct key: lost 0, duplicated 0. The client shares the machine's two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import DEFAULT_REDIS_URL, _observer, _settings, flush_redis, seed, studio
from bench.subscriptions import _free_port, _rss_mb, _serve
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import webhooks
from studio_shared.types import WebhookAuth
from studio_shared.webhooks import standard_headers

NAME = "webhooks"
HELP = "signed webhook deliveries/s with idempotency keys, p95 latency, lost and duplicated runs"
DEFINITION = {
    "nodes": [
        {"id": "start", "type": "trigger.webhook", "config": {}},
        {"id": "echo", "type": "transform", "config": {"value": "{{ input.n }}"}},
    ],
    "edges": [{"source": "start", "target": "echo"}],
}
TARGET_PER_S = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["services", "embedded"], default="services")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=float, default=0.1, help="share of deliveries that re-send an earlier one")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


async def measure(
    mode: str, deliveries: int, concurrency: int, repeat: float, admin_url: str, redis_url: str
) -> dict[str, Any]:
    services = mode == "services"
    async with fresh_database("postgres" if services else "sqlite", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-hooks-") as tmp:
            settings = _settings(url, redis_url if services else None, Path(tmp))
            if services:
                await flush_redis(redis_url)
            async with studio(settings.model_copy(update={"redis_url": None})) as state:
                tenant_id, workflow_id = await seed(state, DEFINITION)
                async with state.sessions.begin() as s:
                    actor = Principal(tenant_id=tenant_id, role=Role.ADMIN)
                    hook, secret = await webhooks.create(
                        s, state.box, tenant_id, actor, workflow_id, WebhookAuth.STANDARD, True, None
                    )
            assert secret is not None
            port = _free_port()
            # The benchmark measures a delivery, not the tenant's start pace (which deliveries share with every start).
            server = _serve(settings, port, Path(tmp) / "serve.log", STUDIO_RUN_STARTS_PER_TENANT_PER_S="0")
            observer = _observer(url)
            try:
                base = f"http://127.0.0.1:{port}"
                await _wait_ready(base, Path(tmp) / "serve.log")
                plan = _plan(deliveries, repeat)
                bodies = {key: json.dumps({"n": i, "key": key}).encode() for i, key in enumerate(dict.fromkeys(plan))}
                latencies: list[float] = []
                statuses: dict[int, int] = {}
                queue: asyncio.Queue[str] = asyncio.Queue()
                for key in plan:
                    queue.put_nowait(key)
                limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
                async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

                    async def sender() -> None:
                        while not queue.empty():
                            key = queue.get_nowait()
                            body = bodies[key]
                            headers = standard_headers(secret, key, body)
                            started = time.perf_counter()
                            response = await client.post(f"/hooks/{hook.id}", content=body, headers=headers)
                            latencies.append((time.perf_counter() - started) * 1000)
                            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

                    started = time.perf_counter()
                    await asyncio.gather(*(sender() for _ in range(concurrency)))
                    elapsed = time.perf_counter() - started
                api_rss = _rss_mb(server.pid)
                runs = models.Run.__table__
                async with observer.connect() as conn:
                    keys = list(
                        await conn.scalars(
                            sa.select(runs.c.idempotency_key).where(
                                runs.c.tenant_id == tenant_id, runs.c.workflow_id == workflow_id
                            )
                        )
                    )
            finally:
                await observer.dispose()
                server.terminate()
                server.wait(30)
    expected = {f"webhook:{hook.id}:{key}" for key in bodies}
    return {
        "mode": mode,
        "deliveries": deliveries,
        "distinct": len(bodies),
        "concurrency": concurrency,
        "per_s": deliveries / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "statuses": statuses,
        "lost": len(expected - set(keys)),
        "duplicated": len(keys) - len(set(keys)) + len(set(keys) - expected),
        "api_rss_mb": api_rss,
    }


def _plan(deliveries: int, repeat: float) -> list[str]:
    """Delivery keys in send order: fresh ones, with a share re-sending an earlier key."""
    rng = random.Random(7)
    plan: list[str] = []
    for _ in range(deliveries):
        if plan and rng.random() < repeat:
            plan.append(rng.choice(plan))
        else:
            plan.append(f"msg_{secrets.token_hex(8)}")
    return plan


async def _wait_ready(base: str, log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    tail = await asyncio.to_thread(log.read_text)
    raise RuntimeError(f"studio serve did not start:\n{tail[-2000:]}")


def main(args: argparse.Namespace) -> int:
    figures = asyncio.run(
        measure(args.mode, args.deliveries, args.concurrency, args.repeat, args.postgres_url, args.redis_url)
    )
    print(
        "| mode | deliveries (distinct) | concurrency | deliveries/s | p50 ms | p95 ms | answers | lost | duplicated"
        " | API RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    answers = ", ".join(f"{code}: {count}" for code, count in sorted(figures["statuses"].items()))
    print(
        f"| {figures['mode']} | {figures['deliveries']:,} ({figures['distinct']:,}) | {figures['concurrency']}"
        f" | {figures['per_s']:,.0f} | {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} | {answers}"
        f" | {figures['lost']} | {figures['duplicated']} | {figures['api_rss_mb']:.0f} MiB |"
    )
    ok = figures["per_s"] >= TARGET_PER_S and not figures["lost"] and not figures["duplicated"]
    print(f"\ntarget: >= {TARGET_PER_S:,} signed deliveries/s, none lost or duplicated: {'PASS' if ok else 'MISS'}")
    return 0
