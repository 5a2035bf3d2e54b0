"""password changes and resets: when the password last changed, and until when a temporary one works

- ``users.password_changed_at``: access tokens issued before it are refused, so a password change or an admin's
  reset ends the user's other sessions.
- ``users.password_expires_at``: set by an admin's reset. The generated password signs in only to set a new one,
  and not after this time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_changed_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('password_expires_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('password_expires_at')
        batch_op.drop_column('password_changed_at')
