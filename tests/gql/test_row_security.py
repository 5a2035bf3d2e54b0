"""PostgreSQL row-level security as the tenancy backstop (migration 0007, ``studio_shared.db.tenancy``).

The studio runs here as an ordinary role (superusers bypass every policy), and a test build drops the tenant
filter from the workflow queries, as a bug would: the API still answers only the caller's rows. The same
broken build against the superuser app does leak, which shows the filter really was gone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.settings import Settings
from studio_shared.store import workflows
from tests.conftest import SERVICES, GraphQLClient, TenantFixture, _postgres_admin
from tests.worker.engine_harness import chain, publish

pytestmark = pytest.mark.skipif(not SERVICES, reason="row-level security is PostgreSQL's: the postgres pass runs it")
ROLE = "studio_rls_app"
LIST = "{ workflows(first: 100) { edges { node { id } } } }"
ONE = "query($id: ID!) { workflow(id: $id) { id name } }"
START = "mutation($w: ID!) { startRun(workflowId: $w) { run { id status } errors { code } } }"


@pytest.fixture(scope="module")
async def restricted(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The studio app connected as an ordinary role with the privileges an app role needs, and no more."""
    database = settings.database_url.rsplit("/", 1)[1]
    await _postgres_admin(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
    )
    await _postgres_admin(f'GRANT CONNECT ON DATABASE "{database}" TO {ROLE}')
    admin = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            f"GRANT USAGE ON SCHEMA public TO {ROLE}; "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}; "
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"
        )
    finally:
        await conn.close()
    url = settings.database_url.replace("://postgres@", f"://{ROLE}@", 1)
    assert ROLE in url
    app = create_app(settings.model_copy(update={"database_url": url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio.test") as client:
            yield GraphQLClient(client)


async def test_a_missing_tenant_filter_leaks_nothing_under_row_level_security(
    restricted: GraphQLClient,
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step = {"id": "a", "type": "transform", "config": {"value": 1}}
    mine, theirs = await publish(state, tenant, chain(step)), await publish(state, other_tenant, chain(step))

    async def unfiltered(s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[models.Workflow]:
        return list(await s.scalars(sa.select(models.Workflow).where(models.Workflow.id.in_(ids))))

    monkeypatch.setattr(workflows, "by_ids", unfiltered)  # what `workflow(id:)` loads through
    # The broken build really leaks where nothing backs it up (the superuser bypasses the policies)...
    leaked = await gql.data(ONE, {"id": str(theirs)}, tenant.token())
    assert leaked["workflow"] == {"id": str(theirs), "name": leaked["workflow"]["name"]}
    # ... and leaks nothing as an ordinary role: another tenant's workflow reads as missing.
    assert (await restricted.data(ONE, {"id": str(theirs)}, tenant.token()))["workflow"] is None
    assert (await restricted.data(ONE, {"id": str(mine)}, tenant.token()))["workflow"]["id"] == str(mine)


async def test_the_api_works_as_an_ordinary_role(
    restricted: GraphQLClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    """Writes pass the policies' WITH CHECK, lists hold the caller's rows only; login (no tenant yet) works."""
    step = {"id": "a", "type": "transform", "config": {"value": 1}}
    mine, theirs = await publish(state, tenant, chain(step)), await publish(state, other_tenant, chain(step))
    started = (await restricted.data(START, {"w": str(mine)}, tenant.token()))["startRun"]
    assert started["errors"] == [] and started["run"]["status"] == "QUEUED"
    listed = {edge["node"]["id"] for edge in (await restricted.data(LIST, token=tenant.token()))["workflows"]["edges"]}
    assert str(mine) in listed and str(theirs) not in listed
    refused = (await restricted.data(START, {"w": str(theirs)}, tenant.token()))["startRun"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]


async def test_every_tenant_table_has_a_forced_tenant_policy(state: AppState) -> None:
    """A table added later with a ``tenant_id`` must join the backstop (the migration lists the tables by name)."""
    tenant_tables = {t.name for t in models.Base.metadata.sorted_tables if "tenant_id" in t.c}
    async with state.db_engine.connect() as conn:
        protected = set(
            await conn.scalars(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname "
                    "WHERE p.policyname = 'tenant_isolation' AND c.relrowsecurity AND c.relforcerowsecurity"
                )
            )
        )
    assert tenant_tables and tenant_tables - protected == set()
