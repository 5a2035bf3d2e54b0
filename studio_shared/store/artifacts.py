"""Artifacts: files steps wrote, stored in object storage and listed per run."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.db import models

_artifacts: sa.Table = models.Artifact.__table__


async def replace(conn: AsyncConnection, row: dict[str, Any]) -> str | None:
    """Insert an artifact row, replacing the one with the same id (a re-executed step writes its file again).

    Returns the storage key of the replaced object, for the caller to delete after the commit.
    """
    old = await conn.scalar(
        _artifacts.delete()
        .where(_artifacts.c.tenant_id == row["tenant_id"], _artifacts.c.id == row["id"])
        .returning(_artifacts.c.storage_key)
    )
    await conn.execute(_artifacts.insert().values(**row))
    return old


async def get(s: AsyncSession, tenant_id: uuid.UUID, artifact_id: uuid.UUID) -> models.Artifact | None:
    return await s.scalar(
        sa.select(models.Artifact).where(models.Artifact.tenant_id == tenant_id, models.Artifact.id == artifact_id)
    )


async def of_runs(
    s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.Artifact]]:
    rows = await s.scalars(
        sa.select(models.Artifact)
        .where(models.Artifact.tenant_id == tenant_id, models.Artifact.run_id.in_(run_ids))
        .order_by(models.Artifact.created_at, models.Artifact.id)
    )
    found: dict[uuid.UUID, list[models.Artifact]] = {run_id: [] for run_id in run_ids}
    for row in rows:
        found[row.run_id].append(row)
    return found
