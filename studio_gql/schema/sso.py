"""Single sign-on (OpenID Connect): an admin's provider configuration, the sign-in page's question whether a
workspace has SSO, and the exchange of the one-time sign-in code for an access token."""

from __future__ import annotations

from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.routes.oidc import redirect_uri
from studio_gql.schema.common import Role as RoleType
from studio_gql.schema.identity import AuthPayload, User
from studio_shared.auth import encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Permission, Role
from studio_shared.settings import Env
from studio_shared.store import oidc, tenants


@strawberry.type(description="A group of the provider's groups claim and the role its members get.")
class OidcGroupRole:
    group: str
    role: RoleType


@strawberry.input(description="A group of the provider's groups claim and the role its members get.")
class OidcGroupRoleInput:
    group: str
    role: RoleType


@strawberry.type(description="The tenant's OpenID Connect provider. The client secret is write-only: never returned.")
class OidcConfig:
    issuer: str
    client_id: str
    client_secret_set: bool = strawberry.field(description="Whether a client secret is stored.")
    jit_role: RoleType | None = strawberry.field(
        description="The role of users created at their first sign-in; null: unknown emails are refused."
    )
    groups_claim: str | None = strawberry.field(description="The ID token claim that lists the user's groups.")
    group_roles: list[OidcGroupRole] = strawberry.field(
        description="Groups mapped to roles: a user in several gets the highest; set at every sign-in."
    )
    allowed_domains: list[str] = strawberry.field(description="Email domains that may sign in; empty: any.")
    redirect_uri: str = strawberry.field(description="The redirect URI to register at the provider.")
    updated_at: datetime

    @classmethod
    def from_model(cls, row: models.OidcConfig, callback: str) -> OidcConfig:
        return cls(
            issuer=row.issuer,
            client_id=row.client_id,
            client_secret_set=bool(row.client_secret),
            jit_role=row.jit_role,
            groups_claim=row.groups_claim,
            group_roles=[OidcGroupRole(group=g, role=Role(r)) for g, r in sorted(row.group_roles.items())],
            allowed_domains=list(row.allowed_domains),
            redirect_uri=callback,
            updated_at=row.updated_at,
        )


@strawberry.input(description="The tenant's OpenID Connect provider.")
class OidcConfigInput:
    issuer: str = strawberry.field(description="The provider's issuer URL (https), as its discovery document says.")
    client_id: str
    client_secret: str | None = strawberry.field(
        default=None, description="Needed the first time; null keeps the stored one."
    )
    jit_role: RoleType | None = strawberry.field(
        default=None, description="Create unknown users at their first sign-in with this role; null refuses them."
    )
    groups_claim: str | None = None
    group_roles: list[OidcGroupRoleInput] = strawberry.field(default_factory=list)
    allowed_domains: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class OidcConfigPayload:
    oidc_config: OidcConfig | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="How the sign-in page may offer single sign-on for a workspace.")
class SingleSignOn:
    login_url: str = strawberry.field(description="Open this URL (a full page load) to sign in at the provider.")


@strawberry.type
class SsoQuery:
    @strawberry.field(
        description="Whether the workspace (tenant slug) signs in with SSO: its login URL, or null (no such "
        "workspace reads the same as one without SSO)."
    )
    async def single_sign_on(self, info: Info, tenant: str) -> SingleSignOn | None:
        if not tenants.SLUG.match(tenant.strip().lower()):
            return None
        async with info.context.state.reads() as s:
            config = await oidc.config_for_slug(s, tenant)
        if config is None:
            return None
        return SingleSignOn(login_url=f"/auth/oidc/{tenant.strip().lower()}/login")

    @strawberry.field(
        description="Your tenant's OpenID Connect provider (without its secret), or null.",
        extensions=needs(Permission.TENANT_MANAGE),
    )
    async def oidc_config(self, info: Info) -> OidcConfig | None:
        async with info.context.state.reads() as s:
            row = await oidc.get_config(s, info.context.tenant_id)
        return OidcConfig.from_model(row, redirect_uri(info.context.state)) if row else None


@strawberry.type
class SsoMutation:
    @strawberry.mutation(
        description="Exchange the one-time code of an SSO sign-in (from /login#sso_code=…) for an access token. A code "
        "works once, within a minute."
    )
    async def exchange_sign_in_code(self, info: Info, code: str) -> AuthPayload:
        state = info.context.state
        async with state.sessions.begin() as s:
            user = await oidc.take_code(s, code)
            if user is not None:
                await tenants.record_login(s, user)
        if user is None:
            return AuthPayload(
                errors=[
                    UserError(
                        path=["code"], message="this sign-in code is unknown, used or expired", code="INVALID_CODE"
                    )
                ]
            )
        token = encode_access_token(state.settings, subject=user.id, tenant_id=user.tenant_id, role=user.role)
        return AuthPayload(token=token, user=User.from_model(user))

    @strawberry.mutation(
        description="Configure your tenant's OpenID Connect provider (replaces the previous configuration). The "
        "client secret is stored encrypted and never returned.",
        extensions=needs(Permission.TENANT_MANAGE),
    )
    @payload(lambda errors: OidcConfigPayload(errors=errors))
    async def set_oidc_config(self, info: Info, input: OidcConfigInput) -> OidcConfigPayload:
        ctx = info.context
        given = oidc.OidcInput(
            issuer=input.issuer,
            client_id=input.client_id,
            client_secret=input.client_secret,
            jit_role=Role(input.jit_role) if input.jit_role else None,
            groups_claim=input.groups_claim,
            group_roles={m.group: Role(m.role) for m in input.group_roles},
            allowed_domains=input.allowed_domains,
        )
        allow_http = ctx.state.settings.env is not Env.PRODUCTION
        async with ctx.state.sessions.begin() as s:
            row = await oidc.set_config(
                s, ctx.tenant_id, given, ctx.state.box, ctx.require_principal().actor, allow_http=allow_http
            )
        return OidcConfigPayload(oidc_config=OidcConfig.from_model(row, redirect_uri(ctx.state)))

    @strawberry.mutation(
        description="Remove your tenant's OpenID Connect provider: sign-in with it stops at once.",
        extensions=needs(Permission.TENANT_MANAGE),
    )
    @payload(lambda errors: OidcConfigPayload(errors=errors))
    async def delete_oidc_config(self, info: Info) -> OidcConfigPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            await oidc.delete_config(s, ctx.tenant_id, ctx.require_principal().actor)
        return OidcConfigPayload()
