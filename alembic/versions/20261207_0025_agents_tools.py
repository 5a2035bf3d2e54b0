"""conversations: an agent's memory across runs (issue 25, part 5); tool_calls: an agent's tool calls, recorded
before and after they run

- ``conversations``: the turns of one conversation per (tenant, key); the agent's ``conversation_key`` names it.
- ``tool_calls``: one row per agent tool call (id derived from the step's idempotency key), so a re-executed step
  does not call a tool twice.
  Row-level security on both, like every tenant-owned table (PostgreSQL).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def upgrade() -> None:
    op.create_table(
        'conversations',
        sa.Column('key', sa.String(length=512), nullable=False),
        sa.Column('turns', JSONDoc(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversations_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
        sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_conversations_tenant_id_key')),
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_tenant_id_updated_at_id', ['tenant_id', 'updated_at', 'id'], unique=False)
    op.create_table(
        'tool_calls',
        sa.Column('run_id', sa.Uuid(), nullable=False),
        sa.Column('step_id', sa.String(length=64), nullable=False),
        sa.Column('tool', sa.String(length=200), nullable=False),
        sa.Column('result', JSONDoc(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_tool_calls_run_id_runs'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tool_calls_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tool_calls')),
    )
    with op.batch_alter_table('tool_calls', schema=None) as batch_op:
        batch_op.create_index('ix_tool_calls_tenant_id_run_id', ['tenant_id', 'run_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE tool_calls ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE tool_calls FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON tool_calls USING ({POLICY}) WITH CHECK ({POLICY})')
        op.execute('ALTER TABLE conversations ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE conversations FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON conversations USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP POLICY IF EXISTS tenant_isolation ON tool_calls')
        op.execute('DROP POLICY IF EXISTS tenant_isolation ON conversations')
    with op.batch_alter_table('tool_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_tool_calls_tenant_id_run_id')
    op.drop_table('tool_calls')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_tenant_id_updated_at_id')
    op.drop_table('conversations')
