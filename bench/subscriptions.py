"""Live event delivery: N websocket subscribers (default 200) on running runs, PostgreSQL + Redis + workers.

``studio serve`` runs as a process of its own (the one the clients talk to) beside two ``studio worker``
processes; this process seeds the data, opens N graphql-transport-ws connections, starts N runs of a workflow
that first waits 2 s (so every subscription is live before the measured part) and then runs transform,
delay 0.4 s, transform, delay 0.4 s, transform, and subscribes each connection to one run's ``runEvents``.
For every event that arrives live (committed after its subscription was acknowledged) the
latency is receipt time minus the event's commit timestamp. Reports p50/p99, events lost or repeated (each
stream must equal the run's stored events), and the API's resident memory per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from websockets.asyncio.client import connect

from bench.common import POSTGRES_URL, fresh_database, percentile
from bench.engine import (
    DEFAULT_REDIS_URL,
    _observer,
    _settings,
    flush_redis,
    seed,
    spawn_logged,
    studio,
    studio_argv,
    studio_env,
    worker_processes,
)
from studio_shared.auth import encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import tenants

NAME = "subscriptions"
HELP = "runEvents delivery latency p50/p99 at 200 websocket subscribers, and API memory per connection"
QUERY = "subscription($id: ID!) { runEvents(runId: $id) { seq kind at final } }"
DEFINITION = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "settle", "type": "delay", "config": {"seconds": 2}},
        {"id": "a", "type": "transform", "config": {"value": 1}},
        {"id": "wait1", "type": "delay", "config": {"seconds": 0.4}},
        {"id": "b", "type": "transform", "config": {"value": 2}},
        {"id": "wait2", "type": "delay", "config": {"seconds": 0.4}},
        {"id": "c", "type": "transform", "config": {"value": 3}},
    ],
    "edges": [
        {"source": s, "target": t}
        for s, t in [
            ("start", "settle"),
            ("settle", "a"),
            ("a", "wait1"),
            ("wait1", "b"),
            ("b", "wait2"),
            ("wait2", "c"),
        ]
    ],
}


PARKED = {  # a run that waits (parked, holding no worker) while its subscription stays open
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {}},
        {"id": "hold", "type": "delay", "config": {"seconds": 3600}},
    ],
    "edges": [{"source": "start", "target": "hold"}],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument(
        "--open", type=int, default=1000, help="open subscriptions whose memory is measured (0: skip; default 1,000)"
    )
    parser.add_argument("--per-connection", type=int, default=5, help="subscriptions per connection for --open")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serve(settings: Settings, port: int, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = studio_env(settings, **{"STUDIO_MAX_SUBSCRIPTIONS_PER_CONNECTION": "5", **extra})
    return spawn_logged(studio_argv("serve", "--port", str(port)), env, log)


async def _subscriber(url: str, token: str, run_id: str, ready: asyncio.Event) -> tuple[float, list[dict[str, Any]]]:
    """One connection, one runEvents stream: (time the subscription started, [(event, received at)])."""
    async with connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ready.wait()
        subscribed = time.time()
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"id": run_id}}})
        )
        received: list[dict[str, Any]] = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "complete":
                return subscribed, received
            if message["type"] != "next" or message["payload"].get("errors"):
                raise RuntimeError(f"subscription failed: {message}")
            event = message["payload"]["data"]["runEvents"]
            received.append({**event, "received": time.time()})


async def measure(subscribers: int, admin_url: str, redis_url: str) -> dict[str, Any]:
    async with fresh_database("postgres", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-subs-") as tmp:
            settings = _settings(url, redis_url, Path(tmp))
            await flush_redis(redis_url)
            port = _free_port()
            server = _serve(settings, port, Path(tmp) / "serve.log")
            observer = _observer(url)
            try:
                async with httpx.AsyncClient() as client:
                    for _ in range(300):
                        try:
                            if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                                break
                        except httpx.HTTPError:
                            pass
                        await asyncio.sleep(0.1)
                    else:
                        raise RuntimeError(
                            f"studio serve did not start:\n{(Path(tmp) / 'serve.log').read_text()[-2000:]}"
                        )
                async with studio(settings) as state:
                    tenant_id, workflow_id = await seed(state, DEFINITION)
                    # Ten connections per viewer: a user (or key) may hold STUDIO_MAX_WS_PER_PRINCIPAL (20) at once.
                    tokens = []
                    async with state.sessions.begin() as s:
                        for n in range(-(-subscribers // 10)):
                            user = await tenants.create_user(
                                s, tenant_id, f"viewer-{n}@bench.example", "x" * 16, Role.VIEWER
                            )
                            tokens.append(
                                encode_access_token(settings, subject=user.id, tenant_id=tenant_id, role=Role.VIEWER)
                            )
                    with worker_processes(2, settings, Path(tmp)):
                        baseline_rss = _rss_mb(server.pid)
                        runs = [
                            (await state.control.start_run(tenant_id, "bench", workflow_id))[0]
                            for _ in range(subscribers)
                        ]
                        ready = asyncio.Event()
                        url = f"ws://127.0.0.1:{port}/graphql"
                        tasks = [
                            asyncio.create_task(_subscriber(url, tokens[i // 10], str(r.id), ready))
                            for i, r in enumerate(runs)
                        ]
                        await asyncio.sleep(0.5)  # every connection acknowledged
                        connected_rss = _rss_mb(server.pid)
                        ready.set()
                        streams = await asyncio.gather(*tasks)
                    events = models.RunEvent.__table__
                    latencies, lost, repeated = [], 0, 0
                    async with observer.connect() as conn:
                        for run, (subscribed, received) in zip(runs, streams, strict=True):
                            stored = list(
                                await conn.scalars(
                                    sa.select(events.c.seq)
                                    .where(events.c.tenant_id == tenant_id, events.c.run_id == run.id)
                                    .order_by(events.c.seq)
                                )
                            )
                            seqs = [e["seq"] for e in received]
                            lost += len(set(stored) - set(seqs))
                            repeated += len(seqs) - len(set(seqs))
                            for event in received:
                                at = datetime.fromisoformat(event["at"]).astimezone(UTC).timestamp()
                                if at > subscribed + 0.05:  # committed after the subscription was live
                                    latencies.append((event["received"] - at) * 1000)
            finally:
                await observer.dispose()
                server.terminate()
                server.wait(30)
    return {
        "subscribers": subscribers,
        "live_events": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "lost": lost,
        "repeated": repeated,
        "api_rss_per_connection_kib": (connected_rss - baseline_rss) * 1024 / subscribers,
    }


async def open_subscriptions(count: int, per_connection: int, admin_url: str, redis_url: str) -> dict[str, Any]:
    """The API's resident memory per open ``runEvents`` subscription: ``count`` of them on parked runs, held by
    ``count / per_connection`` websocket connections (a dashboard follows several runs on one socket)."""
    async with fresh_database("postgres", admin_url) as url:
        with tempfile.TemporaryDirectory(prefix="studio-bench-open-") as tmp:
            settings = _settings(url, redis_url, Path(tmp))
            await flush_redis(redis_url)
            port = _free_port()
            connections = -(-count // per_connection)
            server = _serve(
                settings, port, Path(tmp) / "serve.log", STUDIO_MAX_SUBSCRIPTIONS_PER_CONNECTION=str(per_connection)
            )
            try:
                async with studio(settings) as state:
                    tenant_id, workflow_id = await seed(state, PARKED)
                    tokens = []
                    async with state.sessions.begin() as s:
                        for n in range(-(-connections // 10)):  # 20 sockets per user at most: 10 each
                            user = await tenants.create_user(s, tenant_id, f"v{n}@open.bench", "x" * 16, Role.VIEWER)
                            tokens.append(
                                encode_access_token(settings, subject=user.id, tenant_id=tenant_id, role=Role.VIEWER)
                            )
                    with worker_processes(1, settings, Path(tmp)):
                        runs = [
                            str((await state.control.start_run(tenant_id, "bench", workflow_id))[0].id)
                            for _ in range(count)
                        ]
                        await _until_parked(state, tenant_id, count)
                        baseline_rss = _rss_mb(server.pid)
                        socket_url = f"ws://127.0.0.1:{port}/graphql"
                        async with contextlib.AsyncExitStack() as stack:
                            sockets = []
                            for n in range(connections):
                                ws = await stack.enter_async_context(
                                    connect(socket_url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
                                )
                                auth = {"authorization": f"Bearer {tokens[n // 10]}"}
                                await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
                                assert json.loads(await ws.recv())["type"] == "connection_ack"
                                sockets.append(ws)
                            for i, run_id in enumerate(runs):
                                subscribe = {"query": QUERY, "variables": {"id": run_id}}
                                await sockets[i % connections].send(
                                    json.dumps({"id": str(i), "type": "subscribe", "payload": subscribe})
                                )
                            # Each stream sends the run's stored events, then waits live: drain them, then settle.
                            received = sum(await asyncio.gather(*(_drain(ws) for ws in sockets)))
                            await asyncio.sleep(1)
                            open_rss = _rss_mb(server.pid)
            finally:
                server.terminate()
                server.wait(30)
    return {
        "subscriptions": count,
        "connections": connections,
        "events_replayed": received,
        "api_rss_baseline_mb": baseline_rss,
        "api_rss_open_mb": open_rss,
        "kib_per_subscription": (open_rss - baseline_rss) * 1024 / count,
    }


async def _drain(ws: Any) -> int:
    """Read a connection's messages until it has been quiet for 5 s: how many events it got."""
    received = 0
    with contextlib.suppress(TimeoutError):
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] != "next":
                raise RuntimeError(f"a subscription failed: {message}")
            received += 1
    return received


async def _until_parked(state: Any, tenant_id: Any, count: int) -> None:
    runs = models.Run.__table__
    query = sa.select(sa.func.count()).where(runs.c.tenant_id == tenant_id, runs.c.status == "WAITING")
    for _ in range(1200):
        async with state.reads() as s:
            if (await s.scalar(query) or 0) >= count:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the {count} runs did not all park within 120 s")


def main(args: argparse.Namespace) -> int:
    figures = asyncio.run(measure(args.subscribers, args.postgres_url, args.redis_url))
    print(
        "| subscribers | live events | delivery p50 ms | delivery p99 ms | lost | repeated | API RSS per connection |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {figures['subscribers']} | {figures['live_events']:,} | {figures['p50_ms']:.1f} | {figures['p99_ms']:.1f}"
        f" | {figures['lost']} | {figures['repeated']} | {figures['api_rss_per_connection_kib']:.0f} KiB |"
    )
    verdict = "PASS" if figures["p99_ms"] <= 100 and not figures["lost"] and not figures["repeated"] else "MISS"
    print(f"\ntarget: delivery p99 <= 100 ms at {figures['subscribers']} subscribers, none lost or repeated: {verdict}")
    if args.open:
        held = asyncio.run(open_subscriptions(args.open, args.per_connection, args.postgres_url, args.redis_url))
        print(
            f"\n{held['subscriptions']:,} open runEvents subscriptions on {held['connections']} connections (parked"
            f" runs; {held['events_replayed']:,} stored events replayed first): API RSS"
            f" {held['api_rss_baseline_mb']:.0f} -> {held['api_rss_open_mb']:.0f} MiB,"
            f" {held['kib_per_subscription']:.0f} KiB per subscription"
        )
        ok = held["kib_per_subscription"] <= 50
        print(f"target: {held['subscriptions']:,} open subscriptions at <= 50 KiB each: {'PASS' if ok else 'MISS'}")
    return 0
