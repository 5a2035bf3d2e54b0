"""webhook replay window: remember verified delivery keys for N seconds

A webhook may set ``replay_window_s``: each verified delivery's key (the signed id, or the signed body's
SHA-256 for GitHub, which signs no timestamp) is kept in ``idempotency_records`` for that long, and a repeat
inside it is refused as a replay even after the run it started was deleted.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_window_s', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_column('replay_window_s')
