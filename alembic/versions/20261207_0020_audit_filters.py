"""audit filters: indexes that serve auditLog(filter:) within a tenant, newest first

- ``audit_log``: ``(tenant_id, actor, at, id)``, ``(tenant_id, action, at, id)`` and
  ``(tenant_id, target_kind, target_id, at, id)`` beside the existing ``(tenant_id, at, id)``, so a filtered page
  (and its keyset cursor) reads only the rows it returns at any depth.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 15:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_audit_log_tenant_id_actor_at_id": ["tenant_id", "actor", "at", "id"],
    "ix_audit_log_tenant_id_action_at_id": ["tenant_id", "action", "at", "id"],
    "ix_audit_log_tenant_id_target_kind_target_id_at_id": ["tenant_id", "target_kind", "target_id", "at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
