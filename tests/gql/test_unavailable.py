"""A lost database connection is a retryable answer (GraphQL UNAVAILABLE, HTTP 503), never a 500 with internals."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from studio_gql import auth
from studio_gql.routes import hooks
from studio_gql.schema import workflows as workflow_schema
from studio_shared.db import create_engine
from studio_shared.db.errors import is_transient
from studio_shared.settings import Settings
from tests.conftest import SERVICES, GraphQLClient, TenantFixture

INTERNALS = ("canary-internal", "postgresql://", "Traceback", "asyncpg", "sqlalchemy")


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str | None, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    orig = _DriverError("canary-internal postgresql://app:pw@db/prod terminating connection", sqlstate)
    return sa_exc.DBAPIError("SELECT canary-internal", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_dbapi(None, invalidated=True), True),
        (_dbapi("57P01"), True),  # admin shutdown: pg_terminate_backend
        (_dbapi("08006"), True),  # connection failure
        (_dbapi("53300"), True),  # too many connections
        (_dbapi("23505"), False),  # unique violation: a conflict, not an outage
        (_dbapi("42P01"), False),  # undefined table: a bug
        (sa_exc.TimeoutError("QueuePool limit reached"), True),
        (sa_exc.OperationalError("INSERT", None, sqlite3.OperationalError("database is locked")), True),
        (sa_exc.OperationalError("SELECT", None, sqlite3.OperationalError("no such table: runs")), False),
        (sa_exc.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed")), False),
        (RuntimeError("boom"), False),
    ],
)
def test_transient_means_the_connection_failed_not_the_statement(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def _failing(error: BaseException) -> Callable[..., Awaitable[None]]:
    async def fail(*args: object, **kwargs: object) -> None:
        raise error

    return fail


async def test_a_resolver_losing_its_connection_answers_unavailable_and_retryable(
    gql: GraphQLClient, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_schema.store, "list_workflows", _failing(_dbapi("57P01")))
    body = await gql.raw("{ workflows { edges { node { id } } } }", token=tenant.token())
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True, "retryAfterS": 1}
    assert "retry" in error["message"]
    assert not any(marker in json.dumps(body) for marker in INTERNALS)


async def test_authentication_losing_its_connection_is_a_503_with_retry_after(
    http: httpx.AsyncClient, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth.tenants, "user_access", _failing(_dbapi(None, invalidated=True)))
    response = await http.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"authorization": f"Bearer {tenant.token()}"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "unavailable" and response.json()["retryable"] is True
    assert not any(marker in response.text for marker in INTERNALS)


async def test_a_database_bug_outside_a_resolver_is_a_masked_500(
    http: httpx.AsyncClient, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth.tenants, "user_access", _failing(_dbapi("42P01")))
    response = await http.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"authorization": f"Bearer {tenant.token()}"}
    )
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "Internal error; it has been logged."}


async def test_a_webhook_delivery_during_an_outage_is_a_503_the_sender_retries(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks.store, "endpoint", _failing(_dbapi("08006")))
    response = await http.post(f"/hooks/{uuid.uuid4()}", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 503
    assert not any(marker in response.text for marker in INTERNALS)


@pytest.mark.skipif(not SERVICES, reason="a server closing pooled connections: the postgres pass runs it")
async def test_a_pooled_connection_the_server_closed_is_replaced_before_anyone_uses_it(settings: Settings) -> None:
    """After a database restart (here: the backend terminated) the next checkout gets a fresh connection, so
    no request fails for a connection that died while it sat in the pool."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            old = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", old)
        finally:
            await admin.close()
        await asyncio.sleep(0.05)  # the server's close reaches the pooled connection's socket
        async with engine.connect() as conn:
            fresh = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        assert fresh != old
    finally:
        await engine.dispose()
