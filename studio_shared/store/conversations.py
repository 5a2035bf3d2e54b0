"""Agents' memory across runs (``conversations``): the turns of a conversation, per tenant and key.

Each stored turn carries the idempotency key of the step execution that wrote it. A step that runs again (a retry,
or a re-execution after a crash) reads the conversation without its own earlier turns and replaces them when it
saves, so a turn is never stored twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import NotFound
from studio_shared.store import audit

MAX_KEY = 512


async def get(s: AsyncSession, tenant_id: uuid.UUID, key: str) -> models.Conversation | None:
    return await s.scalar(
        sa.select(models.Conversation).where(models.Conversation.tenant_id == tenant_id, models.Conversation.key == key)
    )


async def earlier_turns(s: AsyncSession, tenant_id: uuid.UUID, key: str, writer: str) -> list[dict[str, Any]]:
    """The conversation's messages, oldest first, without those ``writer`` (this step execution) stored."""
    found = await get(s, tenant_id, key)
    turns = found.turns if found is not None else []
    return [t["message"] for t in turns if isinstance(t, dict) and t.get("by") != writer]


async def save(
    s: AsyncSession, tenant_id: uuid.UUID, key: str, writer: str, kept: list[dict[str, Any]], new: list[dict[str, Any]]
) -> None:
    """Store ``kept`` (earlier turns after the cap) and ``new`` (this step's) as the conversation's turns.

    The row is locked while it is rewritten (an insert racing another is retried once as an update), so two runs of
    one conversation finishing together both land, one after the other.
    """
    found = await s.scalar(
        sa.select(models.Conversation)
        .where(models.Conversation.tenant_id == tenant_id, models.Conversation.key == key)
        .with_for_update()
    )
    turns = [{"by": _writer_of(found, m), "message": m} for m in kept] + [{"by": writer, "message": m} for m in new]
    if found is None:
        s.add(models.Conversation(tenant_id=tenant_id, key=key, turns=turns))
    else:
        found.turns = turns
        found.updated_at = utcnow()
    await s.flush()


def _writer_of(found: models.Conversation | None, message: dict[str, Any]) -> str:
    for turn in found.turns if found is not None else []:
        if isinstance(turn, dict) and turn.get("message") == message:
            return str(turn.get("by"))
    return "summary"


async def list_conversations(
    s: AsyncSession, tenant_id: uuid.UUID, limit: int, before: datetime | None = None
) -> list[models.Conversation]:
    """The tenant's conversations, most recently updated first."""
    stmt = sa.select(models.Conversation).where(models.Conversation.tenant_id == tenant_id)
    if before is not None:
        stmt = stmt.where(models.Conversation.updated_at < before)
    rows = await s.scalars(stmt.order_by(models.Conversation.updated_at.desc(), models.Conversation.id).limit(limit))
    return list(rows)


async def delete(s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, conversation_id: uuid.UUID) -> None:
    """Forget a conversation (audited); another tenant's reads as missing."""
    found = await s.scalar(
        sa.select(models.Conversation).where(
            models.Conversation.tenant_id == tenant_id, models.Conversation.id == conversation_id
        )
    )
    if found is None:
        raise NotFound("conversation", conversation_id)
    await s.delete(found)
    audit.record(s, tenant_id, actor.actor, "conversation.delete", ("conversation", found.id), {"key": found.key})
