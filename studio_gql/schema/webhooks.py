"""Webhooks: the URL and secret a partner signs deliveries with (shown once), rotation, enable/disable."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import DeletePayload, require_id
from studio_gql.schema.workflows import Workflow
from studio_shared.db import models
from studio_shared.errors import NotFound
from studio_shared.rbac import Permission
from studio_shared.store import webhooks as store
from studio_shared.types import WebhookAuth as WebhookAuthEnum

WebhookAuth = WebhookAuthEnum  # registered as a GraphQL enum on the class itself (see common.Role)
strawberry.enum(
    WebhookAuth,
    name="WebhookAuth",
    description="How deliveries are signed: Standard Webhooks, GitHub's or Stripe's scheme, or NONE (unsigned).",
)

REPLAY_WINDOW = (
    "Seconds a verified delivery's key (the signed id; for GitHub, which signs no timestamp, the body's SHA-256) "
    "is remembered: a repeat inside the window is answered by the run it started, or refused (409) when it "
    "started none or that run was deleted."
)


@strawberry.type(description="An endpoint that starts runs of a workflow; POST JSON to `url`.")
class Webhook:
    id: strawberry.ID
    auth: WebhookAuth
    enabled: bool
    rate_limit_per_minute: int | None
    replay_window_s: int | None = strawberry.field(description=REPLAY_WINDOW)
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until then the secret before the last rotation still verifies."
    )
    created_at: datetime
    _workflow_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: models.Webhook) -> Webhook:
        return cls(
            id=strawberry.ID(str(row.id)),
            auth=row.auth,
            enabled=row.enabled,
            rate_limit_per_minute=row.rate_limit_per_minute,
            replay_window_s=row.replay_window_s,
            previous_secret_expires_at=row.previous_secret_expires_at,
            created_at=row.created_at,
            _workflow_id=row.workflow_id,
        )

    @strawberry.field(description="Where deliveries go: POST /hooks/{id} on this server.")
    def url(self, info: Info) -> str:
        base = str(info.context.request.base_url).rstrip("/")
        return f"{base}/hooks/{self.id}"

    @strawberry.field(description="The workflow a delivery starts (its latest published version).")
    async def workflow(self, info: Info) -> Workflow:
        row = await info.context.loaders.workflow.load(self._workflow_id)
        if row is None:
            raise NotFound("workflow", self._workflow_id)
        return Workflow.from_model(row)


@strawberry.input(description="A new webhook; signed deliveries (STANDARD) unless another scheme is chosen.")
class WebhookInput:
    auth: WebhookAuth = WebhookAuthEnum.STANDARD
    enabled: bool = True
    rate_limit_per_minute: int | None = strawberry.field(
        default=None, description="Deliveries per minute before 429 Too Many Requests; null: no limit."
    )
    replay_window_s: int | None = strawberry.field(default=None, description=REPLAY_WINDOW + " 0 or null: off.")


@strawberry.input(description="Change a webhook; omitted fields stay as they are.")
class WebhookUpdateInput:
    enabled: bool | None = None
    rate_limit_per_minute: int | None = None
    clear_rate_limit: bool = False
    replay_window_s: int | None = strawberry.field(default=None, description=REPLAY_WINDOW + " 0: off.")


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None = None
    secret: str | None = strawberry.field(default=None, description="The signing secret, shown this once.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Create a webhook for a workflow; the payload shows its secret once.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(lambda errors: WebhookPayload(errors=errors))
    async def create_webhook(
        self, info: Info, workflow_id: strawberry.ID, input: WebhookInput | None = None
    ) -> WebhookPayload:
        ctx = info.context
        given = input or WebhookInput()
        async with ctx.state.sessions.begin() as s:
            row, secret = await store.create(
                s,
                ctx.state.box,
                ctx.tenant_id,
                ctx.require_principal(),
                require_id(workflow_id, "workflow"),
                WebhookAuthEnum(given.auth),
                given.enabled,
                given.rate_limit_per_minute,
                given.replay_window_s,
            )
        return WebhookPayload(webhook=Webhook.from_model(row), secret=secret)

    @strawberry.mutation(
        description="A new secret, shown once; the old one keeps verifying for STUDIO_WEBHOOK_ROTATION_OVERLAP_S.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(lambda errors: WebhookPayload(errors=errors))
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> WebhookPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row, secret = await store.rotate(
                s,
                ctx.state.box,
                ctx.tenant_id,
                ctx.require_principal(),
                require_id(id, "webhook"),
                ctx.state.settings.webhook_rotation_overlap_s,
            )
        ctx.state.webhook_endpoints.forget(row.id)
        return WebhookPayload(webhook=Webhook.from_model(row), secret=secret)

    @strawberry.mutation(
        description="Enable or disable a webhook (a disabled one answers 404), or change its rate limit.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    @payload(lambda errors: WebhookPayload(errors=errors))
    async def update_webhook(self, info: Info, id: strawberry.ID, input: WebhookUpdateInput) -> WebhookPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.update(
                s,
                ctx.tenant_id,
                ctx.require_principal(),
                require_id(id, "webhook"),
                input.enabled,
                input.rate_limit_per_minute,
                input.clear_rate_limit,
                input.replay_window_s,
            )
        ctx.state.webhook_endpoints.forget(row.id)
        return WebhookPayload(webhook=Webhook.from_model(row))

    @strawberry.mutation(
        description="Delete a webhook; its URL answers 404 from now on.", extensions=needs(Permission.TRIGGER_MANAGE)
    )
    @payload(lambda errors: DeletePayload(errors=errors))
    async def delete_webhook(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        webhook_id = require_id(id, "webhook")
        async with ctx.state.sessions.begin() as s:
            await store.delete(s, ctx.tenant_id, ctx.require_principal(), webhook_id)
        ctx.state.webhook_endpoints.forget(webhook_id)
        return DeletePayload(deleted_id=id)
