"""schedule cursor and scheduler indexes

The scheduler's cursor (``schedules.next_tick_at``), its cross-tenant scans (due schedules, open fires) and
the reason a fire could not start its run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 05:01:10.920774
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from studio_shared.db.types import UTCDateTime

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('schedule_fires', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.create_index('ix_schedule_fires_open', ['outcome', 'fired_at'], unique=False, postgresql_where=sa.text("outcome IN ('pending', 'buffered')"), sqlite_where=sa.text("outcome IN ('pending', 'buffered')"))

    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_tick_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_schedules_due', ['next_fire_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_index('ix_schedules_due')
        batch_op.drop_column('next_tick_at')

    with op.batch_alter_table('schedule_fires', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_fires_open', postgresql_where=sa.text("outcome IN ('pending', 'buffered')"), sqlite_where=sa.text("outcome IN ('pending', 'buffered')"))
        batch_op.drop_column('error')
