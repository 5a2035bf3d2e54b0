"""The migration head and the models agree, on the backend of this pass."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_gql.state import AppState
from studio_shared.db import Base, models


async def _diff(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )


async def test_models_and_migrations_do_not_drift(state: AppState) -> None:
    assert await _diff(state.db_engine) == [], "run alembic revision --autogenerate and commit the migration"


def test_every_secondary_index_leads_with_the_tenant() -> None:
    exempt = {
        ("users", ("email",)),  # looked up before the tenant is known
        ("tenants", ("slug",)),
        ("oidc_logins", ("state_hash",)),  # the SSO callback and the code exchange come before the tenant is known
        ("sign_in_codes", ("code_hash",)),
        ("schedules", ("next_fire_at",)),  # the scheduler's cross-tenant scans
        ("schedule_fires", ("outcome", "fired_at")),
    }
    for table in Base.metadata.sorted_tables:
        if table.name == "tenants":
            continue
        assert "tenant_id" in table.c, f"{table.name} has no tenant_id"
        keyed = [tuple(i.columns.keys()) for i in table.indexes] + [
            tuple(c.columns.keys()) for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"
        ]
        for columns in keyed:
            if (table.name, columns) in exempt or columns[0] == "status":  # the reconciler's cross-tenant sweeps
                continue
            assert columns[0] == "tenant_id", f"{table.name} index {columns} does not lead with tenant_id"
    assert models.Run.__table__.c.tenant_id is not None
