"""Append-only audit trail, written in the same transaction as the change it records.

Every read is scoped to one tenant here: another tenant's entries never appear, whatever the filter says.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models
from studio_shared.errors import Problem, ValidationFailed
from studio_shared.store.pagination import Page, keyset, paged

# The shapes of what entries hold (see ``record``): a filter outside them could match nothing and is refused.
MAX_ACTOR = 80  # models.AuditEntry.actor
MAX_ACTION = 64
MAX_RESOURCE_TYPE = 32
MAX_RESOURCE_ID = 64
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")  # e.g. workflow.publish, user.password_reset
_RESOURCE_TYPE = re.compile(r"[a-z][a-z0-9_]*")  # e.g. workflow, api_key, human_task


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


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every given field must match exactly; ``since`` is inclusive, ``until`` exclusive. Each combination is served
    by an index that leads with the tenant (see ``models.AuditEntry``)."""

    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def checked(self, path: Sequence[str] = ("filter",)) -> AuditFilter:
        """This filter, or ValidationFailed naming every field to fix (``path`` prefixes each problem's path)."""
        problems: list[Problem] = []

        def bad(name: str, message: str, code: str = "INVALID") -> None:
            problems.append(Problem((*path, name), message, code))

        for name, value, limit in (
            ("actor", self.actor, MAX_ACTOR),
            ("action", self.action, MAX_ACTION),
            ("resourceType", self.resource_type, MAX_RESOURCE_TYPE),
            ("resourceId", self.resource_id, MAX_RESOURCE_ID),
        ):
            if value is not None and not 0 < len(value) <= limit:
                bad(name, f"{name} is 1 to {limit} characters", "OUT_OF_RANGE")
        if self.action and len(self.action) <= MAX_ACTION and not _ACTION.fullmatch(self.action):
            bad("action", "an action is lower-case words joined by dots, e.g. workflow.publish")
        if (
            self.resource_type
            and len(self.resource_type) <= MAX_RESOURCE_TYPE
            and not _RESOURCE_TYPE.fullmatch(self.resource_type)
        ):
            bad("resourceType", "a resource type is one lower-case word, e.g. workflow, run or api_key")
        if self.resource_id is not None and self.resource_type is None:
            bad("resourceId", "name the resourceType of the resourceId too")
        for name, stamp in (("since", self.since), ("until", self.until)):
            if stamp is not None and stamp.tzinfo is None:
                bad(name, f"{name} needs a time zone, e.g. 2026-12-07T00:00:00Z")
        if not problems and self.since is not None and self.until is not None and self.since > self.until:
            bad("since", "since is after until: swap them", "OUT_OF_RANGE")
        if problems:
            raise ValidationFailed(problems)
        return self

    def apply(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        entry = models.AuditEntry
        if self.actor is not None:
            stmt = stmt.where(entry.actor == self.actor)
        if self.action is not None:
            stmt = stmt.where(entry.action == self.action)
        if self.resource_type is not None:
            stmt = stmt.where(entry.target_kind == self.resource_type)
        if self.resource_id is not None:
            stmt = stmt.where(entry.target_id == self.resource_id)
        if self.since is not None:
            stmt = stmt.where(entry.at >= _utc(self.since))
        if self.until is not None:
            stmt = stmt.where(entry.at < _utc(self.until))
        return stmt


def _utc(stamp: datetime) -> datetime:
    return stamp.astimezone(UTC)


async def list_entries(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    first: int | None,
    after: str | None,
    where: AuditFilter | None = None,
) -> Page[models.AuditEntry]:
    """The tenant's entries, newest first, keyset-paged on ``(at, id)``."""
    entry = models.AuditEntry
    stmt = sa.select(entry).where(entry.tenant_id == tenant_id)
    if where is not None:
        stmt = where.apply(stmt)
    stmt, size = keyset(stmt, entry.at, entry.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)


async def count_entries(s: AsyncSession, tenant_id: uuid.UUID, where: AuditFilter, limit: int) -> int:
    """How many entries match, counting no further than ``limit`` (enough to refuse an export past it)."""
    entry = models.AuditEntry
    inner = where.apply(sa.select(entry.id).where(entry.tenant_id == tenant_id)).limit(limit).subquery()
    return int(await s.scalar(sa.select(sa.func.count()).select_from(inner)) or 0)


async def export_batch(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    where: AuditFilter,
    start_after: tuple[datetime, int] | None,
    size: int,
) -> list[models.AuditEntry]:
    """The next ``size`` entries of an export, oldest first, after the ``(at, id)`` of the previous batch's last."""
    entry = models.AuditEntry
    stmt = where.apply(sa.select(entry).where(entry.tenant_id == tenant_id))
    if start_after is not None:
        stmt = stmt.where(sa.tuple_(entry.at, entry.id) > sa.tuple_(start_after[0], start_after[1]))
    stmt = stmt.order_by(entry.at.asc(), entry.id.asc()).limit(size)
    return list((await s.scalars(stmt)).all())
