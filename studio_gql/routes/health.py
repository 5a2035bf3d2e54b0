"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from studio_gql.state import AppState

log = logging.getLogger("studio.health")
CHECK_TIMEOUT_S = 3.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when every dependency answers; 503 naming the ones that do not (never their error text)."""
    state: AppState = request.app.state.studio
    checks = {"database": _database(state), "storage": state.objects.check()}
    if state.settings.redis_url:
        checks["redis"] = _redis(state.settings.redis_url)
    results = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT_S)
            results[name] = "ok"
        except Exception:  # any failure means "not ready"; the detail goes to the log, not the response
            log.warning("readiness check %s failed", name, exc_info=True)
            results[name] = "unavailable"
    failing = [name for name, result in results.items() if result != "ok"]
    body: dict[str, object] = {"status": "ok" if not failing else "unavailable", "checks": results}
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)


async def _database(state: AppState) -> None:
    async with state.db_engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.ping()
    finally:
        await client.aclose()
