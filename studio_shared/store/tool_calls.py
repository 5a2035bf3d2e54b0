"""Agents' tool calls, recorded before and after they run (``tool_calls``), for at-most-once effects.

A step that runs again after its worker died asks ``recorded`` first: a finished call answers with its stored
result, a started-but-unfinished one tells the agent the outcome is unknown (it calls the tool again only when the
tool is marked idempotent).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models
from studio_shared.db.types import utcnow

calls: sa.Table = models.ToolCall.__table__


@dataclass(frozen=True, slots=True)
class Recorded:
    finished: bool
    result: Any


async def recorded(conn: AsyncConnection, tenant_id: uuid.UUID, call_id: uuid.UUID) -> Recorded | None:
    row = (
        await conn.execute(
            sa.select(calls.c.result, calls.c.finished_at).where(calls.c.tenant_id == tenant_id, calls.c.id == call_id)
        )
    ).one_or_none()
    return None if row is None else Recorded(finished=row.finished_at is not None, result=row.result)


async def start(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """Record that the call is about to run (replacing an unfinished record of the same call)."""
    await conn.execute(calls.delete().where(calls.c.tenant_id == row["tenant_id"], calls.c.id == row["id"]))
    await conn.execute(calls.insert().values(**row, created_at=utcnow()))


async def finish(conn: AsyncConnection, tenant_id: uuid.UUID, call_id: uuid.UUID, result: Any) -> None:
    await conn.execute(
        calls.update()
        .where(calls.c.tenant_id == tenant_id, calls.c.id == call_id)
        .values(result=result, finished_at=utcnow())
    )
