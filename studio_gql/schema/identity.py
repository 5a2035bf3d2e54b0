"""Who you are and who else is here: login, the viewer, users, API keys, the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.exceptions import StrawberryGraphQLError

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import authenticated, needs
from studio_gql.schema.common import JSON, Connection, connection, require_id
from studio_gql.schema.common import Role as RoleType
from studio_gql.signin import BAD_LOGIN, TooManyAttempts, sign_in, verify_current_password
from studio_shared.auth import encode_access_token, hash_password_off_loop, new_temporary_password
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import Problem, Unauthenticated, ValidationFailed
from studio_shared.rbac import Permission, Role, permissions_for
from studio_shared.store import api_keys, audit, tenants

if TYPE_CHECKING:
    from studio_gql.schema.workflows import Workflow


@strawberry.type(description="A tenant: the boundary of every workflow, run and secret.")
class Tenant:
    id: strawberry.ID
    slug: str
    name: str
    _default_error_workflow_id: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_model(cls, row: models.Tenant) -> Tenant:
        return cls(
            id=strawberry.ID(str(row.id)),
            slug=row.slug,
            name=row.name,
            _default_error_workflow_id=row.default_error_workflow_id,
        )

    @strawberry.field(
        description="The workflow started when a live top-level run of a workflow without an error workflow of its "
        "own fails (setDefaultErrorWorkflow), or null. Null too once that workflow is gone."
    )
    async def default_error_workflow(
        self, info: Info
    ) -> Annotated[Workflow, strawberry.lazy("studio_gql.schema.workflows")] | None:
        from studio_gql.schema.workflows import Workflow

        if self._default_error_workflow_id is None:
            return None
        row = await info.context.loaders.workflow.load(self._default_error_workflow_id)
        return Workflow.from_model(row) if row else None


@strawberry.type
class TenantPayload:
    tenant: Tenant | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A person who can log in.")
class User:
    id: strawberry.ID
    email: str
    role: RoleType
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    must_change_password: bool = strawberry.field(
        description="The password is a temporary one from an admin's reset: it signs in only to set a new one."
    )
    password_changed_at: datetime | None = strawberry.field(
        description="When the password was last changed or reset (null: never since the account was made)."
    )

    @classmethod
    def from_model(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            role=row.role,
            active=row.active,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
            must_change_password=row.password_expires_at is not None,
            password_changed_at=row.password_changed_at,
        )


@strawberry.type(description="The caller: user (null for an API key), tenant, role and the permissions it grants.")
class Viewer:
    user: User | None
    tenant: Tenant
    role: RoleType
    permissions: list[str] = strawberry.field(description="The same strings the API enforces, for gating the UI.")


@strawberry.type(
    description="An API key; the secret itself is shown only once, in `ApiKeyPayload.key`. A key acts for the user "
    "who created it: with the lesser of its own role and that user's current role, and not at all once that user "
    "is disabled."
)
class ApiKey:
    id: strawberry.ID
    name: str
    role: RoleType = strawberry.field(description="The key's own role; it never acts above its creator's current one.")
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(description="Its latest use, to the minute.")
    expires_at: datetime | None = strawberry.field(
        description="When it stops working (null: never); from then on it is refused like an unknown key."
    )
    revoked: bool
    trusted_documents_only: bool = strawberry.field(
        description="The key may send trusted documents only (by documentId, or their exact text), when the server's "
        "STUDIO_TRUSTED_DOCUMENTS is flagged-keys or require."
    )
    _created_by: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: models.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            role=row.role,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            trusted_documents_only=row.trusted_documents_only,
            _created_by=row.created_by,
        )

    @strawberry.field(description="The user the key acts for: who created it (or whose key created it).")
    async def created_by(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self._created_by) if self._created_by else None
        return User.from_model(row) if row else None


@strawberry.type(description="One recorded action.")
class AuditEntry:
    id: strawberry.ID
    actor: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    data: JSON | None
    at: datetime

    @classmethod
    def from_model(cls, row: models.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            actor=row.actor,
            action=row.action,
            target_kind=row.target_kind,
            target_id=row.target_id,
            data=JSON(row.data),
            at=row.at,
        )


@strawberry.input(description="Which audit entries to list: every given field must match.")
class AuditLogFilter:
    actor: str | None = strawberry.field(
        default=None, description="Who acted, as entries name it: user:<id>, apikey:<id>, schedule:<id>, cli, ..."
    )
    action: str | None = strawberry.field(default=None, description="What was done, e.g. workflow.publish.")
    resource_type: str | None = strawberry.field(
        default=None, description="The kind of thing acted on (an entry's targetKind), e.g. workflow, run, api_key."
    )
    resource_id: str | None = strawberry.field(
        default=None, description="The id of the thing acted on (an entry's targetId); needs resourceType."
    )
    since: datetime | None = strawberry.field(default=None, description="Entries at or after this time.")
    until: datetime | None = strawberry.field(default=None, description="Entries before this time.")

    def where(self) -> audit.AuditFilter:
        return audit.AuditFilter(
            actor=self.actor,
            action=self.action,
            resource_type=self.resource_type,
            resource_id=self.resource_id,
            since=self.since,
            until=self.until,
        ).checked()


@strawberry.type
class AuthPayload:
    token: str | None = None
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PasswordChangePayload:
    token: str | None = strawberry.field(
        default=None,
        description="A new access token for this session: every token issued before the change stops working.",
    )
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PasswordResetPayload:
    user: User | None = None
    temporary_password: str | None = strawberry.field(
        default=None,
        description="The generated password, shown this once: hand it to the user, who must set a new one with it.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the temporary password stops working."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def _rate_limited(exc: TooManyAttempts) -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        str(exc), extensions={"code": "RATE_LIMITED", "retryable": True, "retryAfterS": exc.retry_after_s}
    )


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None = None
    key: str | None = strawberry.field(default=None, description="The secret, shown this once; store it now.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The caller.", extensions=authenticated())
    async def me(self, info: Info) -> Viewer:
        principal = info.context.require_principal()
        async with info.context.state.reads() as s:
            tenant = await tenants.get_tenant(s, principal.tenant_id)
        if tenant is None:  # deleted between authentication and now
            raise Unauthenticated("this tenant no longer exists")
        user = await info.context.loaders.user.load(principal.user_id) if principal.user_id else None
        return Viewer(
            user=User.from_model(user) if user else None,
            tenant=Tenant.from_model(tenant),
            role=principal.role,
            permissions=sorted(p.value for p in permissions_for(principal.role)),
        )

    @strawberry.field(description="Users of your tenant.", extensions=needs(Permission.USER_MANAGE))
    async def users(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[User]:
        async with info.context.state.reads() as s:
            page = await tenants.list_users(s, info.context.tenant_id, first, after)
        return connection(page, User.from_model)

    @strawberry.field(
        description="API keys of your tenant (never their secrets).", extensions=needs(Permission.APIKEY_MANAGE)
    )
    async def api_keys(self, info: Info) -> list[ApiKey]:
        async with info.context.state.reads() as s:
            return [ApiKey.from_model(row) for row in await api_keys.list_keys(s, info.context.tenant_id)]

    @strawberry.field(
        description="The audit log, newest first, keyset-paged (`after`: an endCursor of the same filter). Bad filter "
        "input is a BAD_USER_INPUT error naming the field.",
        extensions=needs(Permission.AUDIT_READ),
    )
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        where = filter.where() if filter is not None else None
        async with info.context.state.reads() as s:
            page = await audit.list_entries(s, info.context.tenant_id, first, after, where)
        return connection(page, AuditEntry.from_model)


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Exchange email and password for an access token. Every failure gets the same answer; after "
        "repeated failures for an account or from an address, attempts wait (a RATE_LIMITED error with "
        "`retryAfterS`)."
    )
    async def login(
        self,
        info: Info,
        email: str,
        password: str,
        tenant: Annotated[
            str | None,
            strawberry.argument(
                description="The workspace (tenant slug): needed only when the email has accounts in several."
            ),
        ] = None,
    ) -> AuthPayload:
        state = info.context.state
        client = info.context.request.client
        try:
            user = await sign_in(state, email, password, tenant, client.host if client else None)
        except TooManyAttempts as exc:
            raise _rate_limited(exc) from None
        if user is None:
            return AuthPayload(errors=[UserError(path=["password"], message=BAD_LOGIN, code="INVALID_CREDENTIALS")])
        token = encode_access_token(state.settings, subject=user.id, tenant_id=user.tenant_id, role=user.role)
        return AuthPayload(token=token, user=User.from_model(user))

    @strawberry.mutation(description="Add a user to your tenant.", extensions=needs(Permission.USER_MANAGE))
    @payload(lambda errors: UserPayload(errors=errors))
    async def create_user(self, info: Info, email: str, password: str, role: RoleType) -> UserPayload:
        ctx = info.context
        tenants.check_user_input(email, password)
        hashed = await hash_password_off_loop(password)  # before the transaction, and off the event loop
        async with ctx.state.sessions.begin() as s:
            row = await tenants.create_user(
                s, ctx.tenant_id, email, password, Role(role), ctx.require_principal().actor, password_hash=hashed
            )
        return UserPayload(user=User.from_model(row))

    @strawberry.mutation(
        description="Change a user's role; it applies at once.", extensions=needs(Permission.USER_MANAGE)
    )
    @payload(lambda errors: UserPayload(errors=errors))
    async def set_user_role(self, info: Info, user_id: strawberry.ID, role: RoleType) -> UserPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await tenants.set_role(
                s, ctx.tenant_id, require_id(user_id, "user"), Role(role), ctx.require_principal().actor
            )
        return UserPayload(user=User.from_model(row))

    @strawberry.mutation(
        description="Disable a user (it can no longer log in; its tokens and open sockets stop at once) or enable "
        "it again; you cannot disable yourself or the last active admin.",
        extensions=needs(Permission.USER_MANAGE),
    )
    @payload(lambda errors: UserPayload(errors=errors))
    async def set_user_active(self, info: Info, user_id: strawberry.ID, active: bool) -> UserPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await tenants.set_active(
                s, ctx.tenant_id, require_id(user_id, "user"), active, ctx.require_principal()
            )
        return UserPayload(user=User.from_model(row))

    @strawberry.mutation(
        description="Change your own password. The current one is checked under the sign-in limits (wrong ones "
        "count as failed sign-ins: RATE_LIMITED once they are used up). Your other sessions end; this one "
        "continues with the token in the answer. A temporary password from an admin's reset is replaced this way.",
        extensions=authenticated(),
    )
    @payload(lambda errors: PasswordChangePayload(errors=errors))
    async def change_password(self, info: Info, current_password: str, new_password: str) -> PasswordChangePayload:
        ctx = info.context
        principal = ctx.require_principal()
        if principal.user_id is None:
            raise ValidationFailed.one([], "an API key has no password: sign in as a user to change one", "NO_PASSWORD")
        problems = tenants.password_problems(new_password, "newPassword")
        if not problems and new_password == current_password:
            problems.append(Problem(("newPassword",), "choose a password other than the current one", "UNCHANGED"))
        async with ctx.state.reads() as s:
            user = await tenants.get_user(s, principal.tenant_id, principal.user_id)
        if user is None:
            raise Unauthenticated("this account no longer exists")
        client = ctx.request.client
        try:
            right = await verify_current_password(ctx.state, user, current_password, client.host if client else None)
        except TooManyAttempts as exc:
            raise _rate_limited(exc) from None
        if not right:
            problems.insert(
                0, Problem(("currentPassword",), "this is not your current password", "INVALID_CREDENTIALS")
            )
        if problems:
            raise ValidationFailed(problems)
        hashed = await hash_password_off_loop(new_password)
        async with ctx.state.sessions.begin() as s:
            row = await tenants.change_password(s, principal.tenant_id, user.id, hashed)
        token = encode_access_token(ctx.state.settings, subject=row.id, tenant_id=row.tenant_id, role=row.role)
        return PasswordChangePayload(token=token, user=User.from_model(row))

    @strawberry.mutation(
        description="Reset another user's password: the answer holds a generated temporary password, shown this "
        "once, which works for STUDIO_TEMPORARY_PASSWORD_TTL_S and only to set a new one. The user's sessions end.",
        extensions=needs(Permission.USER_MANAGE),
    )
    @payload(lambda errors: PasswordResetPayload(errors=errors))
    async def reset_user_password(self, info: Info, user_id: strawberry.ID) -> PasswordResetPayload:
        ctx = info.context
        temporary = new_temporary_password()
        hashed = await hash_password_off_loop(temporary)
        expires_at = utcnow() + timedelta(seconds=ctx.state.settings.temporary_password_ttl_s)
        async with ctx.state.sessions.begin() as s:
            row = await tenants.reset_password(
                s, ctx.tenant_id, require_id(user_id, "user"), hashed, expires_at, ctx.require_principal()
            )
        return PasswordResetPayload(user=User.from_model(row), temporary_password=temporary, expires_at=expires_at)

    @strawberry.mutation(
        description="Create an API key (sent as 'Authorization: Bearer <key>'); the key is shown once.",
        extensions=needs(Permission.APIKEY_MANAGE),
    )
    @payload(lambda errors: ApiKeyPayload(errors=errors))
    async def create_api_key(
        self,
        info: Info,
        name: str,
        role: RoleType,
        expires_at: Annotated[
            datetime | None,
            strawberry.argument(
                description="When the key stops working: in the future, at most STUDIO_API_KEY_MAX_TTL_DAYS "
                "(365 by default) away; null for a key without expiry."
            ),
        ] = None,
        trusted_documents_only: Annotated[
            bool,
            strawberry.argument(
                description="Refuse any GraphQL document from this key but the trusted ones (the web app's and the "
                "Python client's, by documentId or exact text): a key for the Python client or a CI job. A key made "
                "by such a key is restricted too."
            ),
        ] = False,
    ) -> ApiKeyPayload:
        ctx = info.context
        max_ttl = timedelta(days=ctx.state.settings.api_key_max_ttl_days)
        async with ctx.state.sessions.begin() as s:
            row, fresh = await api_keys.create(
                s,
                ctx.tenant_id,
                name,
                Role(role),
                ctx.require_principal(),
                expires_at,
                max_ttl,
                trusted_documents_only=trusted_documents_only,
            )
        return ApiKeyPayload(api_key=ApiKey.from_model(row), key=fresh.plaintext)

    @strawberry.mutation(
        description="Revoke an API key; it stops working at once.", extensions=needs(Permission.APIKEY_MANAGE)
    )
    @payload(lambda errors: ApiKeyPayload(errors=errors))
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            row = await api_keys.revoke(s, ctx.tenant_id, require_id(id, "api key"), ctx.require_principal().actor)
        return ApiKeyPayload(api_key=ApiKey.from_model(row))
