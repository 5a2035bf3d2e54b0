"""conversations: an agent's memory across runs (issue 25, part 5)

- ``conversations``: the turns of one conversation per (tenant, key); the agent's ``conversation_key`` names it.
  Row-level security like every tenant-owned table (PostgreSQL).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = '0021'
down_revision: str | None = '0020'
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
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE conversations ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE conversations FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON conversations USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP POLICY IF EXISTS tenant_isolation ON conversations')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_tenant_id_updated_at_id')
    op.drop_table('conversations')
