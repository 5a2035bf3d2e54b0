"""``GET /metrics``: the Prometheus text format of this API process (studio_shared/metrics.py).

Who may read it: a bearer token equal to ``STUDIO_METRICS_TOKEN`` (compared in constant time), or an ADMIN's access
token or API key. With ``STUDIO_METRICS_TENANT_LABELS=true`` the output names every tenant, so then only the metrics
token reads it: one tenant's admin does not learn the others' ids. No credential: 401; a credential that may not: 403.
The queue gauges are read from the database at scrape time with one bounded query; when the database does not answer
in time they are left out of that scrape (NaN), and the rest is served.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from studio_gql.auth import authenticate, bearer
from studio_gql.state import AppState
from studio_shared.errors import Unauthenticated
from studio_shared.metrics import CONTENT_TYPE_LATEST, metrics
from studio_shared.rbac import Role
from studio_shared.store import runs as store_runs

log = logging.getLogger("studio.metrics")
QUEUE_SCAN_LIMIT = 100_000  # studio_queue_depth stops counting here: a scrape never scans an unbounded backlog
QUEUE_QUERY_TIMEOUT_S = 2.0
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def _refusal(status: int, message: str) -> JSONResponse:
    error = "unauthenticated" if status == 401 else "forbidden"
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=CHALLENGE)


async def metrics_endpoint(request: Request) -> Response:
    state: AppState = request.app.state.studio
    refusal = await _check(state, request.headers.get("authorization"))
    if refusal is not None:
        return refusal
    await _sample_queue(state)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


async def _check(state: AppState, authorization: str | None) -> Response | None:
    """None when the caller may read the metrics; otherwise the 401 or 403 to answer."""
    if not authorization:
        return _refusal(401, "send 'Authorization: Bearer <token>': an ADMIN token or the STUDIO_METRICS_TOKEN")
    try:
        token = bearer(authorization)
    except Unauthenticated as exc:
        return _refusal(401, str(exc))
    configured = state.settings.metrics_token
    if configured is not None and token is not None and _same(token, configured.get_secret_value()):
        return None
    if state.settings.metrics_tenant_labels:
        return _refusal(403, "the metrics name tenants (STUDIO_METRICS_TENANT_LABELS): use the STUDIO_METRICS_TOKEN")
    try:
        principal = await authenticate(state, authorization)
    except Unauthenticated as exc:
        return _refusal(401, str(exc))
    if principal is None:
        return _refusal(401, "send 'Authorization: Bearer <token>': an ADMIN token or the STUDIO_METRICS_TOKEN")
    if principal.role is not Role.ADMIN or principal.password_change_required:
        return _refusal(403, "reading the metrics needs an ADMIN token or the STUDIO_METRICS_TOKEN")
    return None


async def _sample_queue(state: AppState) -> None:
    """studio_queue_depth and studio_queue_oldest_age_seconds, across tenants, from one query."""
    try:
        async with state.lookups.connect() as conn:
            depth, oldest = await asyncio.wait_for(
                store_runs.queue_backlog(conn, QUEUE_SCAN_LIMIT), QUEUE_QUERY_TIMEOUT_S
            )
    except Exception:
        log.warning("the queue gauges could not be read for this scrape", exc_info=True)
        metrics.queue_depth.set(float("nan"))
        metrics.queue_oldest_age.set(float("nan"))
        return
    metrics.queue_depth.set(depth)
    if oldest is None:
        metrics.queue_oldest_age.set(0)
        return
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    metrics.queue_oldest_age.set(max(0.0, (datetime.now(UTC) - oldest).total_seconds()))
