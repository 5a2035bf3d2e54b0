"""The child runs of one step, read and cancelled: found by their parent run and step, a generation by the prefix of
their idempotency keys (``<parent run>:<step>:<generation>:``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.types import FINAL_RUN_STATUSES, RunStatus
from studio_worker.engine.records import CANCEL_STEP_CHILDREN, runs

_OUTCOME = (runs.c.id, runs.c.item_index, runs.c.status, runs.c.output, runs.c.error)


def _of_step(tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> list[sa.ColumnElement[bool]]:
    return [runs.c.tenant_id == tenant_id, runs.c.parent_run_id == run_id, runs.c.parent_step_id == step_id]


def _of_generation(tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str, prefix: str) -> list[sa.ColumnElement[bool]]:
    """A generation's children (their keys start with the generation's prefix)."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [*_of_step(tenant_id, run_id, step_id), runs.c.idempotency_key.like(pattern, escape="\\")]


async def exists(conn: AsyncConnection, tenant_id: uuid.UUID, workflow_id: uuid.UUID, key: str) -> bool:
    """Is there a run of the workflow with this idempotency key? (The unique index answers it.)"""
    found = await conn.scalar(
        sa.select(runs.c.id).where(
            runs.c.tenant_id == tenant_id, runs.c.workflow_id == workflow_id, runs.c.idempotency_key == key
        )
    )
    return found is not None


async def count(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str, prefix: str) -> int:
    """How many children a generation has."""
    found = await conn.scalar(sa.select(sa.func.count()).where(*_of_generation(tenant_id, run_id, step_id, prefix)))
    return int(found or 0)


async def finished(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    step_id: str,
    prefix: str,
    indexes: Sequence[int],
) -> list[Any]:
    """The finished children of a generation among ``indexes``: rows of (id, item_index, status, output, error)."""
    rows = await conn.execute(
        sa.select(*_OUTCOME).where(
            *_of_generation(tenant_id, run_id, step_id, prefix),
            runs.c.item_index.in_(list(indexes)),
            runs.c.status.in_(FINAL_RUN_STATUSES),
        )
    )
    return list(rows)


async def page_by_index(
    conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str, after: int, limit: int
) -> list[Any]:
    """Children of every generation of the step with an item index above ``after``, by index, and per index the
    succeeded ones first, then the newest: rows of (id, item_index, status, output, error)."""
    succeeded = sa.case((runs.c.status == RunStatus.SUCCEEDED, 0), else_=1)
    rows = await conn.execute(
        sa.select(*_OUTCOME)
        .where(*_of_step(tenant_id, run_id, step_id), runs.c.item_index > after)
        .order_by(runs.c.item_index, succeeded, runs.c.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def succeeded_indexes(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> set[int]:
    """Item indexes a child of any generation of the step did."""
    rows = await conn.execute(
        sa.select(runs.c.item_index)
        .where(*_of_step(tenant_id, run_id, step_id), runs.c.status == RunStatus.SUCCEEDED)
        .distinct()
    )
    return {r.item_index for r in rows}


async def request_cancel(
    conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str, now: datetime
) -> None:
    """Ask the step's active children (every generation) to cancel; their drivers do the rest."""
    await conn.execute(CANCEL_STEP_CHILDREN, {"b_tenant": tenant_id, "b_run": run_id, "b_step": step_id, "b_now": now})
