"""Row-level security's half in the application: each transaction declares the tenant it acts for.

The API sets ``CURRENT_TENANT`` once it knows the caller (a request, a websocket, a webhook's owner); every
session transaction begun in that context then runs ``set_config('studio.tenant_id', …, true)`` (transaction
local), and PostgreSQL's ``tenant_isolation`` policies (migration 0007) admit only that tenant's rows. The
data-access layer still filters by tenant everywhere; this is the backstop for a filter that went missing.
Workers and the scheduler declare nothing: they act across tenants by design. SQLite has no policies.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

CURRENT_TENANT: ContextVar[uuid.UUID | None] = ContextVar("studio_current_tenant", default=None)
_DECLARE = sa.text("SELECT set_config('studio.tenant_id', :tenant, true)")


def act_for(tenant_id: uuid.UUID | None) -> None:
    """Declare the tenant of everything the current request does from here on (None: no tenant yet)."""
    CURRENT_TENANT.set(tenant_id)


@event.listens_for(Session, "after_begin")
def _declare_tenant(session: Session, transaction: Any, connection: sa.Connection) -> None:
    tenant = CURRENT_TENANT.get()
    if tenant is not None and connection.dialect.name == "postgresql":
        connection.execute(_DECLARE, {"tenant": str(tenant)})
