"""error workflows: a workflow's error workflow, the tenant's default, and a failed run's error run

- ``workflows.error_workflow_id``: the workflow started when a live top-level run of this one fails (null: the
  tenant's default).
- ``tenants.default_error_workflow_id``: the tenant's default error workflow (null: none).
- ``runs.error_run_id``: the error run a failed run started, written in the failed run's final transaction.

No foreign keys: the API checks the same-tenant rule when the setting is made (another tenant's id reads as
unknown) and the engine resolves the id when a run fails, writing an event saying why no error run started when it
no longer names a published workflow. (A foreign key from ``tenants`` to ``workflows`` would close a cycle with
``workflows.tenant_id``, and on SQLite adding one rebuilds the tenants table.)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_workflow_id', sa.Uuid(), nullable=True))
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_error_workflow_id', sa.Uuid(), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_run_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('error_run_id')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('default_error_workflow_id')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_column('error_workflow_id')
