"""The model calls a step made (``llm_calls``): memoized by id, so a re-executed step is not billed twice (the
``llm.*`` and ``agent`` nodes, ``studio_worker.nodes.llm``)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models

calls: sa.Table = models.LlmCall.__table__


async def recorded(conn: AsyncConnection, tenant_id: uuid.UUID, call_id: uuid.UUID) -> Any:
    """The call's row (request_sha256, response), or None."""
    return (
        await conn.execute(
            sa.select(calls.c.request_sha256, calls.c.response).where(
                calls.c.tenant_id == tenant_id, calls.c.id == call_id
            )
        )
    ).one_or_none()


async def record(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """Store a call, replacing an earlier answer to the same call (a changed request)."""
    await conn.execute(calls.delete().where(calls.c.tenant_id == row["tenant_id"], calls.c.id == row["id"]))
    await conn.execute(calls.insert().values(**row))


async def step_usage(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> tuple[int, float]:
    """Tokens and USD (priced calls only) of a step's recorded model calls, every attempt of it."""
    row = (
        await conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(calls.c.prompt_tokens + calls.c.completion_tokens), 0),
                sa.func.coalesce(sa.func.sum(calls.c.cost_usd), 0.0),
            ).where(calls.c.tenant_id == tenant_id, calls.c.run_id == run_id, calls.c.step_id == step_id)
        )
    ).one()
    return int(row[0]), float(row[1])
