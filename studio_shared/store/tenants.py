"""Tenants and their users: creation, login lookup, role changes, password changes and resets."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.auth import Principal, hash_password
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, Problem, ValidationFailed
from studio_shared.rbac import Role
from studio_shared.store import audit
from studio_shared.store.pagination import Page, keyset, paged

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 reads every byte: a megabyte "password" is work, not security


async def get_or_create_tenant(s: AsyncSession, slug: str, name: str | None = None) -> models.Tenant:
    if not SLUG.match(slug):
        raise ValidationFailed.one(["tenant"], "tenant slug: lowercase letters, digits and '-', at most 63 characters")
    tenant = await s.scalar(sa.select(models.Tenant).where(models.Tenant.slug == slug))
    if tenant is None:
        tenant = models.Tenant(slug=slug, name=name or slug)
        s.add(tenant)
        await s.flush()
    return tenant


async def tenant_by_slug(s: AsyncSession, slug: str) -> models.Tenant | None:
    return await s.scalar(sa.select(models.Tenant).where(models.Tenant.slug == slug))


async def tenant_slugs(s: AsyncSession) -> list[str]:
    """Every tenant's slug, alphabetically (for operators' tools, which see every tenant)."""
    return list(await s.scalars(sa.select(models.Tenant.slug).order_by(models.Tenant.slug)))


async def get_tenant(s: AsyncSession, tenant_id: uuid.UUID) -> models.Tenant | None:
    return await s.get(models.Tenant, tenant_id)


_ACCESS = sa.select(
    models.User.id,
    models.User.tenant_id,
    models.User.role,
    models.User.active,
    models.User.password_changed_at,
    models.User.password_expires_at,
).where(models.User.tenant_id == sa.bindparam("b_tenant"), models.User.id == sa.bindparam("b_user"))


async def user_access(
    conn: AsyncConnection, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> sa.Row[uuid.UUID, uuid.UUID, Role, bool, datetime | None, datetime | None] | None:
    """What authentication needs of a user (id, tenant_id, role, active, password_changed_at, password_expires_at),
    on the hot path of every request."""
    return (await conn.execute(_ACCESS, {"b_tenant": tenant_id, "b_user": user_id})).first()


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def login_candidates(s: AsyncSession, email: str, tenant_slug: str | None = None) -> list[models.User]:
    """Login's lookup, the one query that cannot know the tenant yet: the accounts of an email (in the tenant
    named by its slug, when given). An email is unique within a tenant only, so at most two rows are read: enough
    to tell one account from several."""
    stmt = sa.select(models.User).where(models.User.email == normalize_email(email))
    if tenant_slug is not None:
        stmt = stmt.join(models.Tenant, models.Tenant.id == models.User.tenant_id).where(
            models.Tenant.slug == tenant_slug.strip().lower()
        )
    return list(await s.scalars(stmt.limit(2)))


async def user_by_email(s: AsyncSession, tenant_id: uuid.UUID, email: str) -> models.User | None:
    """The user of ``tenant_id`` with this email (emails are unique per tenant)."""
    return await s.scalar(
        sa.select(models.User).where(models.User.tenant_id == tenant_id, models.User.email == normalize_email(email))
    )


async def record_login(s: AsyncSession, user: models.User) -> None:
    """Note a successful sign-in on the user (a row read elsewhere) and in the audit log."""
    now = utcnow()
    await s.execute(
        sa.update(models.User)
        .where(models.User.tenant_id == user.tenant_id, models.User.id == user.id)
        .values(last_login_at=now)
    )
    user.last_login_at = now
    audit.record(s, user.tenant_id, f"user:{user.id}", "user.login", ("user", user.id))


async def get_user(s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> models.User | None:
    return await s.scalar(sa.select(models.User).where(models.User.tenant_id == tenant_id, models.User.id == user_id))


async def users_by_ids(s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[models.User]:
    rows = await s.scalars(sa.select(models.User).where(models.User.tenant_id == tenant_id, models.User.id.in_(ids)))
    return list(rows)


async def list_users(s: AsyncSession, tenant_id: uuid.UUID, first: int | None, after: str | None) -> Page[models.User]:
    stmt, size = keyset(
        sa.select(models.User).where(models.User.tenant_id == tenant_id),
        models.User.created_at,
        models.User.id,
        first,
        after,
    )
    return paged((await s.scalars(stmt)).all(), size)


def password_problems(password: str, field: str = "password") -> list[Problem]:
    """What is wrong with ``password`` as a new password (too short, too long), under ``field``."""
    if len(password) < MIN_PASSWORD:
        return [Problem((field,), f"use a password of at least {MIN_PASSWORD} characters", "TOO_SHORT")]
    if len(password) > MAX_PASSWORD:
        return [Problem((field,), f"use a password of at most {MAX_PASSWORD} characters", "TOO_LONG")]
    return []


def check_user_input(email: str, password: str | None) -> str:
    """The normalized email; ValidationFailed naming each field that is not acceptable."""
    email = normalize_email(email)
    problems = []
    if not EMAIL.match(email):
        problems.append(Problem(("email",), "enter an email address such as ada@example.org"))
    if password is not None:
        problems.extend(password_problems(password))
    if problems:
        raise ValidationFailed(problems)
    return email


async def create_user(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    email: str,
    password: str | None,
    role: Role,
    actor: str | None = None,
    *,
    password_hash: str | None = None,
) -> models.User:
    """A new user of ``tenant_id``; ``password_hash`` when the caller hashed ``password`` already (off the event
    loop). Emails are unique per tenant, so whether another tenant has one is never a question here."""
    email = check_user_input(email, password)
    if password_hash is None and password is not None:
        password_hash = hash_password(password)
    user = models.User(tenant_id=tenant_id, email=email, password_hash=password_hash, role=role)
    try:
        async with s.begin_nested():
            s.add(user)
            await s.flush()
    except IntegrityError as exc:
        raise Conflict(f"your tenant already has a user with the email {email!r}", ["email"]) from exc
    audit.record(s, tenant_id, actor, "user.create", ("user", user.id), {"email": email, "role": role.value})
    return user


async def set_role(
    s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, role: Role, actor: str | None
) -> models.User:
    user = await get_user(s, tenant_id, user_id)
    if user is None:
        raise NotFound("user", user_id)
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        admins = await s.scalar(
            sa.select(sa.func.count())
            .select_from(models.User)
            .where(models.User.tenant_id == tenant_id, models.User.role == Role.ADMIN, models.User.active)
        )
        if (admins or 0) <= 1:
            raise Conflict("a tenant must keep at least one admin: promote another user first", ["role"])
    old = user.role
    user.role = role
    audit.record(s, tenant_id, actor, "user.set_role", ("user", user.id), {"from": old.value, "to": role.value})
    await s.flush()
    return user


async def set_active(
    s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, active: bool, actor: Principal
) -> models.User:
    """Disable (or enable again) a user: a disabled user cannot log in, and its tokens and sockets stop at once."""
    user = await get_user(s, tenant_id, user_id)
    if user is None:
        raise NotFound("user", user_id)
    if not active and user.id == actor.user_id:
        raise Conflict("you cannot disable yourself: ask another admin", ["userId"])
    if not active and user.active and user.role is Role.ADMIN:
        admins = await s.scalar(
            sa.select(sa.func.count())
            .select_from(models.User)
            .where(models.User.tenant_id == tenant_id, models.User.role == Role.ADMIN, models.User.active)
        )
        if (admins or 0) <= 1:
            raise Conflict("a tenant must keep at least one active admin: promote another user first", ["userId"])
    if user.active != active:
        user.active = active
        audit.record(s, tenant_id, actor.actor, "user.enable" if active else "user.disable", ("user", user.id))
        await s.flush()
    return user


async def change_password(s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, password_hash: str) -> models.User:
    """The user's own change to ``password_hash`` (hashed by the caller, off the event loop): a temporary password
    becomes a normal one, and tokens issued before now are refused, so the user's other sessions end. Audited."""
    user = await _replace_password(s, tenant_id, user_id, password_hash, None)
    audit.record(s, tenant_id, f"user:{user.id}", "user.password_change", ("user", user.id))
    return user


async def reset_password(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    password_hash: str,
    expires_at: datetime,
    actor: Principal,
) -> models.User:
    """An admin's reset: a temporary password that works until ``expires_at``, and only to set a new one; every
    session of the user ends. Audited (who reset whom, never the password)."""
    if actor.user_id == user_id:
        raise Conflict("to change your own password, use Change password: it asks for the current one", ["userId"])
    user = await _replace_password(s, tenant_id, user_id, password_hash, expires_at)
    audit.record(s, tenant_id, actor.actor, "user.password_reset", ("user", user.id), {"email": user.email})
    return user


async def operator_set_password(
    s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, password_hash: str, actor: str
) -> models.User:
    """An operator's new password for a user (``studio create-admin --reset-password``): a normal password, chosen
    by the operator, so it does not expire; every session of the user ends. Audited, never with the password."""
    user = await _replace_password(s, tenant_id, user_id, password_hash, None)
    audit.record(s, tenant_id, actor, "user.password_reset", ("user", user.id), {"email": user.email})
    return user


async def _replace_password(
    s: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, password_hash: str, expires_at: datetime | None
) -> models.User:
    user = await get_user(s, tenant_id, user_id)
    if user is None:
        raise NotFound("user", user_id)
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    user.password_expires_at = expires_at
    await s.flush()
    return user
