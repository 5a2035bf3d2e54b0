"""Webhooks: secrets encrypted at rest, rotated with an overlap window, looked up by id for deliveries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import Principal
from studio_shared.crypto import SecretBox
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.store import audit, workflows
from studio_shared.types import IdempotencyState, WebhookAuth
from studio_shared.webhooks import new_secret

MAX_RATE_LIMIT = 1_000_000
MAX_REPLAY_WINDOW_S = 30 * 24 * 3600
EXPIRED_BATCH = 100  # expired delivery keys a remembered delivery removes on its way (bounded work per delivery)


def _check_rate(rate_limit_per_minute: int | None) -> None:
    if rate_limit_per_minute is not None and not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT:
        raise ValidationFailed.one(
            ["input", "rateLimitPerMinute"], f"give 1 to {MAX_RATE_LIMIT} deliveries per minute, or null for no limit"
        )


def _replay_window(replay_window_s: int | None) -> int | None:
    """The window to store: 0 turns it off (null)."""
    if replay_window_s is not None and not 0 <= replay_window_s <= MAX_REPLAY_WINDOW_S:
        raise ValidationFailed.one(
            ["input", "replayWindowS"], f"give 0 (off) to {MAX_REPLAY_WINDOW_S} seconds (30 days)", "OUT_OF_RANGE"
        )
    return replay_window_s or None


async def create(
    s: AsyncSession,
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Principal,
    workflow_id: uuid.UUID,
    auth: WebhookAuth,
    enabled: bool,
    rate_limit_per_minute: int | None,
    replay_window_s: int | None = None,
) -> tuple[models.Webhook, str | None]:
    """The webhook and its secret in clear (None for auth NONE): shown this once."""
    await workflows.require(s, tenant_id, workflow_id)
    _check_rate(rate_limit_per_minute)
    window = _replay_window(replay_window_s)
    secret = None if auth is WebhookAuth.NONE else new_secret()
    hook = models.Webhook(
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        auth=auth,
        secret_encrypted=box.seal(secret) if secret else None,
        enabled=enabled,
        rate_limit_per_minute=rate_limit_per_minute,
        replay_window_s=window,
        created_by=actor.person_id,
    )
    s.add(hook)
    await s.flush()
    audit.record(
        s, tenant_id, actor.actor, "webhook.create", ("webhook", hook.id), {"workflow": str(workflow_id), "auth": auth}
    )
    return hook, secret


async def require(s: AsyncSession, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> models.Webhook:
    hook = await s.scalar(
        sa.select(models.Webhook).where(models.Webhook.tenant_id == tenant_id, models.Webhook.id == webhook_id)
    )
    if hook is None:
        raise NotFound("webhook", webhook_id)
    return hook


async def rotate(
    s: AsyncSession, box: SecretBox, tenant_id: uuid.UUID, actor: Principal, webhook_id: uuid.UUID, overlap_s: int
) -> tuple[models.Webhook, str]:
    """A new secret; the old one keeps verifying for ``overlap_s`` so senders can switch without a gap."""
    hook = await require(s, tenant_id, webhook_id)
    if hook.auth is WebhookAuth.NONE:
        raise ValidationFailed.one(["id"], "this webhook takes unsigned deliveries (auth NONE): it has no secret")
    secret = new_secret()
    hook.previous_secret_encrypted = hook.secret_encrypted
    hook.previous_secret_expires_at = utcnow() + timedelta(seconds=overlap_s)
    hook.secret_encrypted = box.seal(secret)
    audit.record(s, tenant_id, actor.actor, "webhook.rotate", ("webhook", hook.id), {"overlap_s": overlap_s})
    await s.flush()
    return hook, secret


async def update(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    webhook_id: uuid.UUID,
    enabled: bool | None,
    rate_limit_per_minute: int | None,
    clear_rate_limit: bool,
    replay_window_s: int | None = None,
) -> models.Webhook:
    hook = await require(s, tenant_id, webhook_id)
    _check_rate(rate_limit_per_minute)
    window = _replay_window(replay_window_s)
    if enabled is not None:
        hook.enabled = enabled
    if rate_limit_per_minute is not None or clear_rate_limit:
        hook.rate_limit_per_minute = rate_limit_per_minute
    if replay_window_s is not None:
        hook.replay_window_s = window
    audit.record(s, tenant_id, actor.actor, "webhook.update", ("webhook", hook.id), {"enabled": hook.enabled})
    await s.flush()
    return hook


async def delete(s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, webhook_id: uuid.UUID) -> None:
    hook = await require(s, tenant_id, webhook_id)
    await s.delete(hook)
    await s.execute(
        sa.delete(models.IdempotencyRecord).where(
            models.IdempotencyRecord.tenant_id == tenant_id, models.IdempotencyRecord.scope == _scope(webhook_id)
        )
    )
    audit.record(s, tenant_id, actor.actor, "webhook.delete", ("webhook", webhook_id))


async def of_workflows(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.Webhook]]:
    rows = await s.scalars(
        sa.select(models.Webhook)
        .where(models.Webhook.tenant_id == tenant_id, models.Webhook.workflow_id.in_(workflow_ids))
        .order_by(models.Webhook.created_at, models.Webhook.id)
    )
    found: dict[uuid.UUID, list[models.Webhook]] = {workflow_id: [] for workflow_id in workflow_ids}
    for row in rows:
        found[row.workflow_id].append(row)
    return found


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the delivery endpoint needs of a webhook, looked up by its id before the tenant is known."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    workflow_id: uuid.UUID
    auth: WebhookAuth
    enabled: bool
    secrets: tuple[str, ...]  # current first, then the previous one while its overlap lasts
    rate_limit_per_minute: int | None
    replay_window_s: int | None = None
    created_by: uuid.UUID | None = None  # the user who made it: the starter of its runs


async def endpoint(s: AsyncSession, box: SecretBox, webhook_id: uuid.UUID) -> Endpoint | None:
    hook = await s.get(models.Webhook, webhook_id)
    if hook is None:
        return None
    secrets = [box.open(hook.secret_encrypted)] if hook.secret_encrypted else []
    expires = hook.previous_secret_expires_at
    if hook.previous_secret_encrypted and expires is not None and expires > utcnow():
        secrets.append(box.open(hook.previous_secret_encrypted))
    return Endpoint(
        hook.id,
        hook.tenant_id,
        hook.workflow_id,
        hook.auth,
        hook.enabled,
        tuple(secrets),
        hook.rate_limit_per_minute,
        hook.replay_window_s,
        hook.created_by,
    )


async def endpoints_of_workflow(
    s: AsyncSession, box: SecretBox, tenant_id: uuid.UUID, workflow_id: uuid.UUID
) -> list[Endpoint]:
    """The workflow's webhooks as endpoints (secrets opened), oldest first: what guards its steps' resume URLs."""
    ids = await s.scalars(
        sa.select(models.Webhook.id)
        .where(models.Webhook.tenant_id == tenant_id, models.Webhook.workflow_id == workflow_id)
        .order_by(models.Webhook.created_at, models.Webhook.id)
    )
    found = [await endpoint(s, box, webhook_id) for webhook_id in ids.all()]
    return [hook for hook in found if hook is not None]


def _scope(webhook_id: uuid.UUID) -> str:
    return f"webhook:{webhook_id}"


async def remember_delivery(
    s: AsyncSession, tenant_id: uuid.UUID, webhook_id: uuid.UUID, key: str, sha256: str, window_s: int
) -> datetime | None:
    """Keep a verified delivery's key for ``window_s``: None the first time inside the window, else when it was
    first seen (a replay). Concurrent twins race on the unique (tenant, scope, key): one of them is first."""
    now = utcnow()
    record = models.IdempotencyRecord
    scope = _scope(webhook_id)
    # The key's own expired record, and a bounded batch of the tenant's others (ix (tenant_id, expires_at)).
    expired = (
        sa.select(record.id)
        .where(record.tenant_id == tenant_id, record.expires_at <= now)
        .limit(EXPIRED_BATCH)
        .scalar_subquery()
    )
    await s.execute(
        sa.delete(record).where(
            record.tenant_id == tenant_id,
            sa.or_(sa.and_(record.scope == scope, record.key == key, record.expires_at <= now), record.id.in_(expired)),
        )
    )
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    created = await s.scalar(
        insert(record)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            scope=scope,
            key=key,
            request_sha256=sha256,
            state=IdempotencyState.DONE,
            created_at=now,
            expires_at=now + timedelta(seconds=window_s),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "scope", "key"])
        .returning(record.id)
    )
    if created is not None:
        return None
    first: datetime | None = await s.scalar(
        sa.select(record.created_at).where(record.tenant_id == tenant_id, record.scope == scope, record.key == key)
    )
    return first or now
