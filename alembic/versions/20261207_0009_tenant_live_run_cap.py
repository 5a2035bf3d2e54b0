"""a tenant's own cap on live runs

``tenants.max_live_runs`` overrides ``STUDIO_MAX_LIVE_RUNS_PER_TENANT`` for one tenant (null: the setting), as
``max_concurrent_runs`` overrides ``STUDIO_MAX_CONCURRENT_RUNS_PER_TENANT``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_live_runs', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('max_live_runs')
