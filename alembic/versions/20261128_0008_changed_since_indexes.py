"""indexes for "what changed since": runs and human tasks by (tenant, updated_at)

After an outage of the event bus, ``runUpdates`` and ``humanTaskUpdates`` subscribers re-read what changed in
their tenant while the bus was away; these indexes keep that read to the changed rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_tenant_id_updated_at', ['tenant_id', 'updated_at'], unique=False)
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_human_tasks_tenant_id_updated_at', ['tenant_id', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_tenant_id_updated_at')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_tenant_id_updated_at')
