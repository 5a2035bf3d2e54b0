"""indexes for the Runs page's filters: trigger kind, who a run was started for, top-level runs

The Runs page lists a tenant's runs newest first, keyset-paged on ``(created_at, id)``, filtered by trigger kind,
by the person a run tree was started for (``started_by_user``) and, by default, to top-level runs. Each filter
has an index that leads with the tenant and the filtered column and ends with the paging key, so a page reads
its own rows whatever the number of runs; top-level runs have a partial index (child runs are not in it).

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOP_LEVEL = sa.text('parent_run_id IS NULL')


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(
            'ix_runs_tenant_id_trigger_created_at_id', ['tenant_id', 'trigger', 'created_at', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_runs_tenant_id_started_by_user_created_at_id',
            ['tenant_id', 'started_by_user', 'created_at', 'id'],
            unique=False,
        )
        batch_op.create_index(
            'ix_runs_top_level',
            ['tenant_id', 'created_at', 'id'],
            unique=False,
            postgresql_where=TOP_LEVEL,
            sqlite_where=TOP_LEVEL,
        )


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_top_level', postgresql_where=TOP_LEVEL, sqlite_where=TOP_LEVEL)
        batch_op.drop_index('ix_runs_tenant_id_started_by_user_created_at_id')
        batch_op.drop_index('ix_runs_tenant_id_trigger_created_at_id')
