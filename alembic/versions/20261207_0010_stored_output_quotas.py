"""stored-output quotas: runs.stored_bytes, per-tenant overrides of the limits

``runs.stored_bytes`` counts the JSON a run holds (its input, its steps' columns, its output, its events' data), as
serialized; the engine keeps it in the fenced statement that writes each batch. Existing runs are counted once here, from their stored text
(characters, close to bytes), so the tenant quota sees the data that was there before it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_output_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('max_run_output_bytes', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stored_bytes', sa.BigInteger(), server_default='0', nullable=False))
    op.execute(_BACKFILL)


def _text_length(column: str) -> str:
    return f"coalesce(length(CAST({column} AS TEXT)), 0)"


_STEP_BYTES = " + ".join(_text_length(f"s.{c}") for c in ("input", "output", "error", "envelope", "state", "branches"))
_BACKFILL = f"""
UPDATE runs SET stored_bytes =
    coalesce((SELECT sum({_STEP_BYTES}) FROM steps s WHERE s.tenant_id = runs.tenant_id AND s.run_id = runs.id), 0)
  + coalesce((SELECT sum({_text_length("e.data")}) FROM run_events e
              WHERE e.tenant_id = runs.tenant_id AND e.run_id = runs.id), 0)
  + {_text_length("runs.output")} + {_text_length("runs.input")} + {_text_length("runs.trigger_data")}
"""


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('stored_bytes')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('max_run_output_bytes')
        batch_op.drop_column('max_output_bytes')
