"""model budgets: what each budget scope spent and holds reserved, the calls in flight, the tenant's daily limits

- ``tenants.llm_daily_max_tokens`` / ``llm_daily_max_cost_usd``: the tenant's model budget per UTC day (null: the
  setting's default; 0: no limit), set by an ADMIN (setModelBudget).
- ``llm_spend``: per scope (``day:<date>`` of a tenant, ``run:<id>``) the tokens and dollars spent and reserved.
- ``llm_reservations``: a model call in flight and what it reserved (its id is the call's memo id), with a lease
  (``expires_at``) after which anyone may release it. Row-level security like every tenant-owned table (PostgreSQL).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("llm_daily_max_tokens", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("llm_daily_max_cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "llm_spend",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reserved_usd", sa.Float(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _tenant_fk("llm_spend"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_spend")),
        sa.UniqueConstraint("tenant_id", "scope", name=op.f("uq_llm_spend_tenant_id_scope")),
    )
    op.create_table(
        "llm_reservations",
        sa.Column("scopes", JSONDoc(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _tenant_fk("llm_reservations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_reservations")),
    )
    with op.batch_alter_table("llm_reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_llm_reservations_tenant_id_expires_at"), ["tenant_id", "expires_at"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        for table in ("llm_spend", "llm_reservations"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade() -> None:
    with op.batch_alter_table("llm_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_reservations_tenant_id_expires_at"))
    op.drop_table("llm_reservations")
    op.drop_table("llm_spend")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("llm_daily_max_cost_usd")
        batch_op.drop_column("llm_daily_max_tokens")
