"""API keys: created with a role, shown once, stored hashed, revocable."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import NewApiKey, Principal, api_key_matches, new_api_key, parse_api_key
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.rbac import Role
from studio_shared.store import audit

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per key


async def create(
    s: AsyncSession, tenant_id: uuid.UUID, name: str, role: Role, actor: Principal
) -> tuple[models.ApiKey, NewApiKey]:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed.one(["name"], "give the key a name of 1 to 200 characters")
    if not actor.role.at_least(role):
        raise ValidationFailed.one(["role"], f"you cannot create a key with a role above your own ({actor.role})")
    fresh = new_api_key()
    key = models.ApiKey(
        id=fresh.id, tenant_id=tenant_id, name=name, role=role, secret_hash=fresh.secret_hash, created_by=actor.user_id
    )
    s.add(key)
    audit.record(s, tenant_id, actor.actor, "apikey.create", ("api_key", key.id), {"name": name, "role": role.value})
    await s.flush()
    return key, fresh


async def list_keys(s: AsyncSession, tenant_id: uuid.UUID) -> list[models.ApiKey]:
    rows = await s.scalars(
        sa.select(models.ApiKey).where(models.ApiKey.tenant_id == tenant_id).order_by(models.ApiKey.created_at.desc())
    )
    return list(rows)


async def revoke(s: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID, actor: str) -> models.ApiKey:
    key = await s.scalar(
        sa.select(models.ApiKey).where(models.ApiKey.tenant_id == tenant_id, models.ApiKey.id == key_id)
    )
    if key is None:
        raise NotFound("api key", key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(s, tenant_id, actor, "apikey.revoke", ("api_key", key.id))
        await s.flush()
    return key


async def authenticate(s: AsyncSession, presented: str) -> Principal | None:
    """The principal behind a presented key, or None when it is unknown, revoked or wrong."""
    parsed = parse_api_key(presented)
    if parsed is None:
        return None
    key_id, secret_hash = parsed
    key = await s.get(models.ApiKey, key_id)
    if key is None or key.revoked_at is not None or not api_key_matches(key.secret_hash, secret_hash):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await s.execute(sa.update(models.ApiKey).where(models.ApiKey.id == key.id).values(last_used_at=now))
    return Principal(tenant_id=key.tenant_id, role=key.role, api_key_id=key.id)
