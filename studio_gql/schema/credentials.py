"""Credentials: created with a value that is never shown again, listed as metadata, deleted."""

from __future__ import annotations

from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, DeletePayload, require_id
from studio_shared.credentials import KINDS
from studio_shared.db import models
from studio_shared.rbac import Permission
from studio_shared.store import credentials as store


@strawberry.type(description="A stored secret, by name; its value is write-only and never leaves the server.")
class Credential:
    id: strawberry.ID
    name: str
    kind: str
    allowed_hosts: list[str] | None = strawberry.field(
        description="Hosts it may be sent to (exact or '*.suffix'); null: any host outbound HTTP may reach."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, row: models.Credential) -> Credential:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            kind=row.kind,
            allowed_hosts=row.allowed_hosts,
            created_at=row.created_at,
        )


@strawberry.input(description=f"A new credential. kind is one of: {', '.join(KINDS)}.")
class CredentialInput:
    name: str
    kind: str
    value: JSON = strawberry.field(
        description="bearer {token}; basic {username, password}; header {name, value}; "
        "openai {api_key, base_url?, organization?}"
    )
    allowed_hosts: list[str] | None = None


@strawberry.type
class CredentialPayload:
    credential: Credential | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CredentialQuery:
    @strawberry.field(
        description="Credentials of your tenant (metadata only).", extensions=needs(Permission.CREDENTIAL_MANAGE)
    )
    async def credentials(self, info: Info) -> list[Credential]:
        async with info.context.state.reads() as s:
            return [Credential.from_model(row) for row in await store.list_credentials(s, info.context.tenant_id)]


@strawberry.type
class CredentialMutation:
    @strawberry.mutation(
        description="Store a credential; nodes use it by name. The value is encrypted and never returned.",
        extensions=needs(Permission.CREDENTIAL_MANAGE),
    )
    @payload(lambda errors: CredentialPayload(errors=errors))
    async def create_credential(self, info: Info, input: CredentialInput) -> CredentialPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await store.create(
                s,
                ctx.state.box,
                ctx.tenant_id,
                ctx.require_principal(),
                input.name,
                input.kind,
                input.value,
                input.allowed_hosts,
            )
        return CredentialPayload(credential=Credential.from_model(row))

    @strawberry.mutation(
        description="Delete a credential; steps that use it fail with CredentialNotFound from now on.",
        extensions=needs(Permission.CREDENTIAL_MANAGE),
    )
    @payload(lambda errors: DeletePayload(errors=errors))
    async def delete_credential(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        credential_id = require_id(id, "credential")
        async with ctx.state.sessions.begin() as s:
            await store.delete(s, ctx.tenant_id, credential_id, ctx.require_principal().actor)
        return DeletePayload(deleted_id=id)
