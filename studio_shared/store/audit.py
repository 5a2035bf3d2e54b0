"""Append-only audit trail, written in the same transaction as the change it records."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models
from studio_shared.store.pagination import Page, keyset, paged


def record(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: str | None,
    action: str,
    target: tuple[str, object] | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    s.add(
        models.AuditEntry(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target_kind=target[0] if target else None,
            target_id=str(target[1]) if target else None,
            data=data,
        )
    )


async def list_entries(
    s: AsyncSession, tenant_id: uuid.UUID, first: int | None, after: str | None
) -> Page[models.AuditEntry]:
    entry = models.AuditEntry
    stmt, size = keyset(sa.select(entry).where(entry.tenant_id == tenant_id), entry.at, entry.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)
