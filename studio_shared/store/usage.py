"""Model usage, summed from the ledger of model calls (``llm_calls``): per run and per tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models


@dataclass(frozen=True, slots=True)
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None when no call had a configured price


_call = models.LlmCall
_SUMS = (
    sa.func.count(),
    sa.func.coalesce(sa.func.sum(_call.prompt_tokens), 0),
    sa.func.coalesce(sa.func.sum(_call.completion_tokens), 0),
    sa.func.sum(_call.cost_usd),
)


async def of_runs(s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, Usage]:
    rows = await s.execute(
        sa.select(_call.run_id, *_SUMS)
        .where(_call.tenant_id == tenant_id, _call.run_id.in_(run_ids))
        .group_by(_call.run_id)
    )
    found = {row[0]: Usage(int(row[1]), int(row[2]), int(row[3]), row[4]) for row in rows}
    return {run_id: found.get(run_id, Usage()) for run_id in run_ids}


async def between(s: AsyncSession, tenant_id: uuid.UUID, since: datetime | None, until: datetime | None) -> Usage:
    query = sa.select(*_SUMS).where(_call.tenant_id == tenant_id)
    if since is not None:
        query = query.where(_call.created_at >= since)
    if until is not None:
        query = query.where(_call.created_at < until)
    row = (await s.execute(query)).one()
    return Usage(int(row[0]), int(row[1]), int(row[2]), row[3])
