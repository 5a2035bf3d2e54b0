"""wait.event steps: event_waits

- ``event_waits``: one row per wait of a ``wait.event`` step (its id derived from the step's idempotency key). It
  leaves WAITING exactly once, through a conditional update: the first resume (its resume URL or ``signalRun``)
  stores the payload and marks it RECEIVED, in the same transaction as the run's ``step.event_received`` event;
  the step's timeout marks it TIMED_OUT; the run's unsuccessful end CANCELLED. Row-level security like every
  tenant-owned table (PostgreSQL).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def upgrade() -> None:
    op.create_table(
        'event_waits',
        sa.Column('run_id', sa.Uuid(), nullable=False),
        sa.Column('step_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=200), nullable=False),
        sa.Column(
            'status',
            sa.Enum('WAITING', 'RECEIVED', 'TIMED_OUT', 'CANCELLED', name='eventwaitstatus', native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column('payload_schema', JSONDoc(), nullable=True),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('payload', JSONDoc(), nullable=True),
        sa.Column('via', sa.String(length=16), nullable=True),
        sa.Column('actor', sa.String(length=200), nullable=True),
        sa.Column('received_at', UTCDateTime(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_event_waits_run_id_runs'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=op.f('fk_event_waits_tenant_id_tenants'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_waits')),
    )
    with op.batch_alter_table('event_waits', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_event_waits_tenant_id_run_id_step_id_created_at'),
            ['tenant_id', 'run_id', 'step_id', 'created_at'],
            unique=False,
        )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE event_waits ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE event_waits FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON event_waits USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP POLICY IF EXISTS tenant_isolation ON event_waits')
    with op.batch_alter_table('event_waits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_waits_tenant_id_run_id_step_id_created_at'))
    op.drop_table('event_waits')
