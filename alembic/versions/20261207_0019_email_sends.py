"""email sends: what email.send handed to an SMTP server, so that a re-executed step does not send twice

- ``email_sends``: one row per step execution (the id derives from the step's idempotency key), written before the
  message is handed over: ``pending`` (nothing given to the server yet), ``data`` (the message is being handed over:
  the outcome of an interrupted attempt is unknown), ``sent`` (the server accepted it; ``output`` is the step's
  output). Row-level security like every tenant-owned table (PostgreSQL).

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-07 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = '0019'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def upgrade() -> None:
    op.create_table(
        'email_sends',
        sa.Column('run_id', sa.Uuid(), nullable=False),
        sa.Column('step_id', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('output', JSONDoc(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_email_sends_run_id_runs'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=op.f('fk_email_sends_tenant_id_tenants'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_sends')),
    )
    with op.batch_alter_table('email_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_sends_tenant_id_run_id'), ['tenant_id', 'run_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE email_sends ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE email_sends FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON email_sends USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    with op.batch_alter_table('email_sends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_sends_tenant_id_run_id'))
    op.drop_table('email_sends')
