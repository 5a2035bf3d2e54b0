"""tenant row-level security (PostgreSQL)

A backstop under the data-access layer's tenant filters: every tenant-owned table gets a policy that admits
only the rows of the tenant the transaction declared (``SET LOCAL studio.tenant_id``, which the API issues for
every request of an authenticated caller). Transactions that declare no tenant (workers, the scheduler,
migrations: they act across tenants by design) see every row. FORCE applies the policy to the table owner
too; only superusers bypass it, so run the studio as an ordinary role (see the README's Operations).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 08:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    'audit_log', 'users', 'api_keys', 'credentials', 'workflows', 'schedules', 'webhooks', 'workflow_versions',
    'runs', 'artifacts', 'human_tasks', 'idempotency_records', 'llm_calls', 'messages', 'run_events',
    'schedule_fires', 'steps', 'human_task_decisions',
)
# Text comparison: an empty setting (a transaction that declared no tenant) never reaches a uuid cast.
POLICY = (
    "coalesce(current_setting('studio.tenant_id', true), '') = '' "
    "OR tenant_id::text = current_setting('studio.tenant_id', true)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TENANT_TABLES:
        op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TENANT_TABLES:
        op.execute(f'DROP POLICY IF EXISTS tenant_isolation ON {table}')
        op.execute(f'ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} DISABLE ROW LEVEL SECURITY')
