"""test runs of the draft: test snapshots, runs.test, and pinned node outputs

- ``workflow_versions.test`` (with ``draft_revision``, ``pins``, ``pins_sha256``): a test snapshot is the draft at
  one revision with the pins in effect then; test runs execute it. Its version number is negative, and every
  published-version lookup leaves it out.
- ``runs.test``: the run is a test run of the draft; indexed for the Runs page's "test or live" filter and for the
  per-workflow test-run retention.
- ``node_pins``: a node's pinned output on a workflow's draft (from a run's step or typed by hand), used by test runs
  instead of running the node. Row-level security like every tenant-owned table (PostgreSQL).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def upgrade() -> None:
    op.create_table(
        'node_pins',
        sa.Column('workflow_id', sa.Uuid(), nullable=False),
        sa.Column('node_id', sa.String(length=64), nullable=False),
        sa.Column('output', JSONDoc(), nullable=True),
        sa.Column('branches', JSONDoc(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('source_run_id', sa.Uuid(), nullable=True),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_node_pins_created_by_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['source_run_id'], ['runs.id'], name=op.f('fk_node_pins_source_run_id_runs'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_node_pins_tenant_id_tenants'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_node_pins_workflow_id_workflows'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_node_pins')),
        sa.UniqueConstraint('tenant_id', 'workflow_id', 'node_id', name=op.f('uq_node_pins_tenant_id_workflow_id_node_id')),
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_runs_tenant_id_test_created_at_id', ['tenant_id', 'test', 'created_at', 'id'], unique=False)
        batch_op.create_index(
            'ix_runs_tenant_id_workflow_id_test_created_at_id',
            ['tenant_id', 'workflow_id', 'test', 'created_at', 'id'],
            unique=False,
        )
    with op.batch_alter_table('workflow_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('draft_revision', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pins', JSONDoc(), nullable=True))
        batch_op.add_column(sa.Column('pins_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index(
            'ix_workflow_versions_tenant_id_workflow_id_test_draft_revision',
            ['tenant_id', 'workflow_id', 'test', 'draft_revision'],
            unique=False,
        )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE node_pins ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE node_pins FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON node_pins USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    with op.batch_alter_table('workflow_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_versions_tenant_id_workflow_id_test_draft_revision')
        batch_op.drop_column('pins_sha256')
        batch_op.drop_column('pins')
        batch_op.drop_column('draft_revision')
        batch_op.drop_column('test')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_tenant_id_workflow_id_test_created_at_id')
        batch_op.drop_index('ix_runs_tenant_id_test_created_at_id')
        batch_op.drop_column('test')
    op.drop_table('node_pins')
