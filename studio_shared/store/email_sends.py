"""What ``email.send`` steps handed to SMTP servers (``email_sends``): one row per step execution, written before the
message goes out, so that a re-executed step does not send twice (``studio_worker.nodes.email``)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models
from studio_shared.db.types import utcnow

sends: sa.Table = models.EmailSend.__table__

PENDING, DATA, SENT = "pending", "data", "sent"


async def claim(conn: AsyncConnection, row: dict[str, Any]) -> tuple[str, Any]:
    """The send's (state, output): a new row in ``pending``, or the row an earlier execution of the step left."""
    found = (
        await conn.execute(
            sa.select(sends.c.state, sends.c.output).where(
                sends.c.tenant_id == row["tenant_id"], sends.c.id == row["id"]
            )
        )
    ).one_or_none()
    if found is not None:
        return str(found.state), found.output
    now = utcnow()
    await conn.execute(sends.insert().values(**row, state=PENDING, output=None, created_at=now, updated_at=now))
    return PENDING, None


async def mark(conn: AsyncConnection, tenant_id: uuid.UUID, send_id: uuid.UUID, state: str, output: Any = None) -> None:
    await conn.execute(
        sends.update()
        .where(sends.c.tenant_id == tenant_id, sends.c.id == send_id)
        .values(state=state, output=output, updated_at=utcnow())
    )
