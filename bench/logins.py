"""Logins beside health checks: does password hashing stall the API's event loop?

A real ``studio serve`` (embedded, SQLite) with one user. First ``GET /healthz`` alone for ``--seconds``, then the
same beside ``--loops`` clients that log in back to back with the right password (a success resets the account's
failure count, so the login limits never refuse them). A health check does no I/O: its latency is the time it
waits for the event loop. Prints the health-check p50/p95 both ways, and logins/s.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile
from bench.engine import _settings, studio
from bench.subscriptions import _free_port, _serve
from bench.webhooks import _wait_ready
from studio_shared.rbac import Role
from studio_shared.store import tenants

NAME = "logins"
HELP = "GET /healthz latency alone and beside concurrent login loops (argon2 off the event loop?)"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the benchmark user's
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loops", type=int, default=6, help="concurrent clients logging in back to back")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")


async def _health(client: httpx.AsyncClient, until: float) -> list[float]:
    latencies: list[float] = []
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await client.get("/healthz")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.01)
    return latencies


async def _login_loop(client: httpx.AsyncClient, email: str, until: float) -> int:
    done = 0
    while time.perf_counter() < until:
        response = await client.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}})
        body = response.json()
        assert body["data"]["login"]["token"], body
        done += 1
    return done


async def measure(loops: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="studio-bench-logins-") as tmp:
        settings = _settings(f"sqlite+aiosqlite:///{tmp}/studio.db", None, Path(tmp))
        from studio_shared.db.migrate import upgrade

        await asyncio.to_thread(upgrade, settings.database_url)  # it runs an event loop of its own
        async with studio(settings) as state, state.sessions.begin() as s:
            tenant = await tenants.get_or_create_tenant(s, f"bench-{secrets.token_hex(4)}")
            emails = [f"user-{n}@{tenant.slug}.example" for n in range(loops)]
            for email in emails:
                await tenants.create_user(s, tenant.id, email, PASSWORD, Role.ADMIN)
        port = _free_port()
        server = _serve(settings, port, Path(tmp) / "serve.log")
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(base, Path(tmp) / "serve.log")
            async with (
                httpx.AsyncClient(base_url=base, timeout=60) as health,
                httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=loops)) as logins,
            ):
                await _login_loop(logins, emails[0], time.perf_counter() + 0.5)  # warm up (imports, the first hash)
                alone = await _health(health, time.perf_counter() + seconds)
                until = time.perf_counter() + seconds
                beside, *counts = await asyncio.gather(
                    _health(health, until), *(_login_loop(logins, email, until) for email in emails)
                )
        finally:
            server.terminate()
            server.wait(30)
    return {
        "loops": loops,
        "alone_p50_ms": percentile(alone, 50),
        "alone_p95_ms": percentile(alone, 95),
        "beside_p50_ms": percentile(beside, 50),
        "beside_p95_ms": percentile(beside, 95),
        "logins_per_s": sum(counts) / seconds,
    }


def main(args: argparse.Namespace) -> int:
    figures = asyncio.run(measure(args.loops, args.seconds))
    print(
        f"/healthz alone: p50 {figures['alone_p50_ms']:.1f} ms, p95 {figures['alone_p95_ms']:.1f} ms\n"
        f"/healthz beside {figures['loops']} login loops: p50 {figures['beside_p50_ms']:.1f} ms, "
        f"p95 {figures['beside_p95_ms']:.1f} ms ({figures['logins_per_s']:.1f} logins/s)"
    )
    return 0
