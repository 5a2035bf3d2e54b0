"""Messages of a channel: what came in (the messaging trigger) and what steps replied."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.store.pagination import Page, keyset, paged
from studio_shared.types import MessageDirection

_messages: sa.Table = models.Message.__table__


async def post_once(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    channel: str,
    text: str,
    direction: MessageDirection,
    sender: str | None = None,
    run_id: uuid.UUID | None = None,
) -> bool:
    """Post a message unless one with this id exists (a re-executed step replies once); True if posted."""
    exists = await conn.scalar(
        sa.select(_messages.c.id).where(_messages.c.tenant_id == tenant_id, _messages.c.id == message_id)
    )
    if exists is not None:
        return False
    await conn.execute(
        _messages.insert().values(
            id=message_id,
            tenant_id=tenant_id,
            channel=channel,
            text=text,
            sender=sender,
            direction=direction,
            run_id=run_id,
            created_at=utcnow(),
        )
    )
    return True


async def list_messages(
    s: AsyncSession, tenant_id: uuid.UUID, channel: str, first: int | None, after: str | None
) -> Page[models.Message]:
    message = models.Message
    stmt = sa.select(message).where(message.tenant_id == tenant_id, message.channel == channel)
    stmt, size = keyset(stmt, message.created_at, message.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)
