"""identity hardening: emails unique per tenant, who a run was started for, who made webhooks and schedules

- ``users``: an email is unique within its tenant (no longer across tenants), with an index on the email for
  login's lookup. Whether another tenant has an email is no longer something ``createUser`` can reveal.
- ``runs.started_by_user``: the person on whose authority a run tree started (a user, an API key's user, the
  user who made the webhook or schedule), copied to child runs; self-approval is checked against it.
- ``webhooks.created_by``, ``schedules.created_by``: the user who made them (the starter of their runs).

Backfills: API keys made by another key (``created_by`` was left empty) belong to that key's user, found through
the audit log; webhooks and schedules get their creator from the audit log; runs that are not finished get
their starter (finished runs have no task left to decide).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = ('QUEUED', 'RUNNING', 'WAITING')


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_email', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_users_tenant_id_email'), ['tenant_id', 'email'])
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=False)
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_by_user', sa.Uuid(), nullable=True))
    for table in ('webhooks', 'schedules'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('created_by', sa.Uuid(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f'fk_{table}_created_by_users'), 'users', ['created_by'], ['id'], ondelete='SET NULL'
            )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    keys = sa.Table('api_keys', meta, sa.Column('id', sa.Uuid()), sa.Column('created_by', sa.Uuid()))
    audit = sa.Table(
        'audit_log', meta, sa.Column('actor', sa.String()), sa.Column('action', sa.String()),
        sa.Column('target_id', sa.String()),
    )
    users = sa.Table('users', meta, sa.Column('id', sa.Uuid()))
    runs = sa.Table(
        'runs', meta, sa.Column('id', sa.Uuid()), sa.Column('status', sa.String()), sa.Column('created_by', sa.String()),
        sa.Column('parent_run_id', sa.Uuid()), sa.Column('depth', sa.Integer()), sa.Column('started_by_user', sa.Uuid()),
    )
    user_ids = set(conn.scalars(sa.select(users.c.id)))
    key_owner = dict(conn.execute(sa.select(keys.c.id, keys.c.created_by)).all())
    made_by = {
        (action, target): actor
        for action, target, actor in conn.execute(
            sa.select(audit.c.action, audit.c.target_id, audit.c.actor).where(
                audit.c.action.in_(['apikey.create', 'webhook.create', 'schedule.create'])
            )
        ).all()
    }

    def person(actor: str | None, seen: frozenset[uuid.UUID] = frozenset()) -> uuid.UUID | None:
        """The user behind an actor string: a user, or (through the audit log) the user of an API key."""
        kind, _, ident = (actor or '').partition(':')
        try:
            parsed = uuid.UUID(ident)
        except ValueError:
            return None
        if kind == 'user':
            return parsed if parsed in user_ids else None
        if kind == 'apikey' and parsed not in seen:
            owner = key_owner.get(parsed)
            return owner or person(made_by.get(('apikey.create', str(parsed))), seen | {parsed})
        return None

    for key_id, owner in list(key_owner.items()):
        if owner is None and (found := person(f'apikey:{key_id}')) is not None:
            conn.execute(keys.update().where(keys.c.id == key_id).values(created_by=found))
            key_owner[key_id] = found
    owners: dict[str, dict[str, uuid.UUID]] = {'webhook': {}, 'schedule': {}}
    for table, kind in (('webhooks', 'webhook'), ('schedules', 'schedule')):
        rows = sa.Table(table, meta, sa.Column('id', sa.Uuid()), sa.Column('created_by', sa.Uuid()))
        for (row_id,) in conn.execute(sa.select(rows.c.id)).all():
            if (found := person(made_by.get((f'{kind}.create', str(row_id))))) is not None:
                conn.execute(rows.update().where(rows.c.id == row_id).values(created_by=found))
                owners[kind][str(row_id)] = found

    starter: dict[uuid.UUID, uuid.UUID | None] = {}
    active = conn.execute(
        sa.select(runs.c.id, runs.c.created_by, runs.c.parent_run_id)
        .where(runs.c.status.in_(ACTIVE))
        .order_by(runs.c.depth)
    ).all()
    for run_id, created_by, parent in active:
        kind, _, ident = (created_by or '').partition(':')
        if parent is not None:
            starter[run_id] = starter.get(parent)
        elif kind in owners:
            starter[run_id] = owners[kind].get(ident)
        else:
            starter[run_id] = person(created_by)
        if starter[run_id] is not None:
            conn.execute(runs.update().where(runs.c.id == run_id).values(started_by_user=starter[run_id]))


def downgrade() -> None:
    for table in ('schedules', 'webhooks'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_created_by_users'), type_='foreignkey')
            batch_op.drop_column('created_by')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('started_by_user')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email'))
        batch_op.drop_constraint(batch_op.f('uq_users_tenant_id_email'), type_='unique')
        batch_op.create_unique_constraint('uq_users_email', ['email'])
