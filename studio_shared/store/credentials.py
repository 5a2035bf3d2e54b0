"""Stored credentials: write-only values encrypted at rest, resolved by name inside one tenant."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared import credentials
from studio_shared.auth import Principal
from studio_shared.credentials import ResolvedCredential
from studio_shared.crypto import SecretBox
from studio_shared.db import models
from studio_shared.errors import Conflict, NotFound, ValidationFailed
from studio_shared.store import audit

_credentials: sa.Table = models.Credential.__table__
_BY_NAME = sa.select(
    _credentials.c.name, _credentials.c.kind, _credentials.c.value_encrypted, _credentials.c.allowed_hosts
).where(_credentials.c.tenant_id == sa.bindparam("b_tenant"), _credentials.c.name == sa.bindparam("b_name"))


async def create(
    s: AsyncSession,
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Principal,
    name: str,
    kind: str,
    value: Any,
    allowed_hosts: list[str] | None,
) -> models.Credential:
    name = name.strip()
    problems = credentials.check(name, kind, value, allowed_hosts)
    if problems:
        raise ValidationFailed(problems)
    row = models.Credential(
        tenant_id=tenant_id,
        name=name,
        kind=kind,
        value_encrypted=box.seal(value),
        allowed_hosts=credentials.normalize_hosts(allowed_hosts),
        created_by=actor.user_id,
    )
    try:
        async with s.begin_nested():
            s.add(row)
            await s.flush()
    except IntegrityError:
        raise Conflict(f"a credential named {name!r} exists; delete it first or pick another name", ["name"]) from None
    audit.record(s, tenant_id, actor.actor, "credential.create", ("credential", row.id), {"name": name, "kind": kind})
    return row


async def list_credentials(s: AsyncSession, tenant_id: uuid.UUID) -> list[models.Credential]:
    rows = await s.scalars(
        sa.select(models.Credential).where(models.Credential.tenant_id == tenant_id).order_by(models.Credential.name)
    )
    return list(rows)


async def delete(s: AsyncSession, tenant_id: uuid.UUID, credential_id: uuid.UUID, actor: str) -> None:
    row = await s.scalar(
        sa.select(models.Credential).where(
            models.Credential.tenant_id == tenant_id, models.Credential.id == credential_id
        )
    )
    if row is None:
        raise NotFound("credential", credential_id)
    await s.delete(row)
    audit.record(s, tenant_id, actor, "credential.delete", ("credential", row.id), {"name": row.name})


async def resolve(conn: AsyncConnection, box: SecretBox, tenant_id: uuid.UUID, name: str) -> ResolvedCredential | None:
    """The decrypted credential called ``name`` in the tenant, or None (another tenant's reads as missing)."""
    row = (await conn.execute(_BY_NAME, {"b_tenant": tenant_id, "b_name": name})).one_or_none()
    if row is None:
        return None
    hosts = tuple(row.allowed_hosts) if row.allowed_hosts else None
    return ResolvedCredential(name=row.name, kind=row.kind, value=box.open(row.value_encrypted), allowed_hosts=hosts)


async def rotate_all(s: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored secret with the newest key; returns how many values were rewritten."""
    count = 0
    for row in await s.scalars(sa.select(models.Credential)):
        row.value_encrypted = box.rotate(row.value_encrypted)
        count += 1
    for hook in await s.scalars(sa.select(models.Webhook)):
        if hook.secret_encrypted:
            hook.secret_encrypted = box.rotate(hook.secret_encrypted)
            count += 1
        if hook.previous_secret_encrypted:
            hook.previous_secret_encrypted = box.rotate(hook.previous_secret_encrypted)
            count += 1
    return count
