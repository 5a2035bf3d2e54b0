"""single sign-on and API key expiry

- ``api_keys.expires_at``: null for no expiry; an expired key is refused like an unknown one.
- ``oidc_configs``: a tenant's OpenID Connect provider (at most one; the client secret sealed).
- ``oidc_logins``: sign-ins under way at a provider, by the hash of their state; the callback takes one once.
- ``sign_in_codes``: one-time codes the web app exchanges for its token after an SSO sign-in, by hash.
Row-level security like every tenant-owned table (PostgreSQL).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from studio_shared.db.types import JSONDoc, UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)
TABLES = ["oidc_configs", "oidc_logins", "sign_in_codes"]


def _tenant_columns(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.create_table(
        "oidc_configs",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=300), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column(
            "jit_role",
            sa.Enum("VIEWER", "APPROVER", "OPERATOR", "EDITOR", "ADMIN", name="role", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("groups_claim", sa.String(length=100), nullable=True),
        sa.Column("group_roles", JSONDoc(), nullable=False),
        sa.Column("allowed_domains", JSONDoc(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_tenant_columns("oidc_configs"),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_oidc_configs_tenant_id")),
    )
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        *_tenant_columns("oidc_logins"),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_logins_state_hash")),
    )
    op.create_table(
        "sign_in_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_codes_user_id_users"), ondelete="CASCADE"
        ),
        *_tenant_columns("sign_in_codes"),
        sa.UniqueConstraint("code_hash", name=op.f("uq_sign_in_codes_code_hash")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade() -> None:
    op.drop_table("sign_in_codes")
    op.drop_table("oidc_logins")
    op.drop_table("oidc_configs")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
