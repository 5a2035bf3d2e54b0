"""API keys: created with a role, shown once, stored hashed, revocable; each acts for the user who made it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import NewApiKey, Principal, api_key_matches, new_api_key, parse_api_key
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.rbac import Role
from studio_shared.store import audit

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per key

_keys = models.ApiKey.__table__
_users = models.User.__table__


async def create(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    role: Role,
    actor: Principal,
    expires_at: datetime | None = None,
    max_ttl: timedelta = timedelta(days=365),
    *,
    trusted_documents_only: bool = False,
) -> tuple[models.ApiKey, NewApiKey]:
    """A new key acting for ``actor``'s person: the user, or the user a key acts for when a key makes a key (so
    chains resolve to one user, and every key stops with its user). ``expires_at`` (optional) must lie in the
    future and within ``max_ttl``; from then on the key is refused like an unknown one. ``trusted_documents_only``:
    the key may send trusted GraphQL documents only (a key made by such a key is, too: it cannot shed the
    restriction)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed.one(["name"], "give the key a name of 1 to 200 characters")
    if actor.person_id is None:
        raise ValidationFailed.one(["role"], "API keys are created by a user, or by a key acting for one")
    if not actor.role.at_least(role):
        raise ValidationFailed.one(["role"], f"you cannot create a key with a role above your own ({actor.role})")
    if expires_at is not None:
        expires_at = _expiry(expires_at, max_ttl)
    trusted_documents_only = trusted_documents_only or actor.trusted_documents_only
    fresh = new_api_key()
    key = models.ApiKey(
        id=fresh.id,
        tenant_id=tenant_id,
        name=name,
        role=role,
        secret_hash=fresh.secret_hash,
        created_by=actor.person_id,
        expires_at=expires_at,
        trusted_documents_only=trusted_documents_only,
    )
    s.add(key)
    data = {
        "name": name,
        "role": role.value,
        "expiresAt": expires_at.isoformat() if expires_at else None,
        "trustedDocumentsOnly": trusted_documents_only,
    }
    audit.record(s, tenant_id, actor.actor, "apikey.create", ("api_key", key.id), data)
    await s.flush()
    return key, fresh


def _expiry(expires_at: datetime, max_ttl: timedelta) -> datetime:
    if expires_at.tzinfo is None:
        raise ValidationFailed.one(["expiresAt"], "give the expiry with a time zone, e.g. 2027-01-31T00:00:00Z")
    now = utcnow()
    if expires_at <= now:
        raise ValidationFailed.one(["expiresAt"], "the expiry must lie in the future")
    if expires_at > now + max_ttl:
        raise ValidationFailed.one(
            ["expiresAt"], f"a key lives at most {max_ttl.days} days: choose an expiry before {now + max_ttl:%Y-%m-%d}"
        )
    return expires_at


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


# The key and the user it acts for, in one round trip: a key whose user is gone or disabled finds no row.
_KEY = (
    sa.select(
        _keys.c.tenant_id,
        _keys.c.role,
        _keys.c.secret_hash,
        _keys.c.revoked_at,
        _keys.c.last_used_at,
        _keys.c.created_by,
        _keys.c.expires_at,
        _keys.c.trusted_documents_only,
        _users.c.role.label("creator_role"),
    )
    .join(_users, sa.and_(_users.c.tenant_id == _keys.c.tenant_id, _users.c.id == _keys.c.created_by))
    .where(_keys.c.id == sa.bindparam("b_key"), _users.c.active)
)


async def authenticate(s: AsyncSession, presented: str) -> Principal | None:
    """The principal behind a presented key, or None when it is unknown, revoked, expired or wrong, or its user is
    gone or disabled. It acts with the lesser of its own role and its user's *current* one, so demoting or disabling a
    user demotes or stops every key that user made, at once."""
    parsed = parse_api_key(presented)
    if parsed is None:
        return None
    key_id, secret_hash = parsed
    key = (await s.execute(_KEY, {"b_key": key_id})).first()
    if key is None or key.revoked_at is not None or not api_key_matches(key.secret_hash, secret_hash):
        return None
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await s.execute(sa.update(models.ApiKey).where(models.ApiKey.id == key_id).values(last_used_at=now))
    return Principal(
        tenant_id=key.tenant_id,
        role=Role(key.role).capped_by(Role(key.creator_role)),
        api_key_id=key_id,
        creator_id=key.created_by,
        trusted_documents_only=key.trusted_documents_only,
    )
