"""Single sign-on with OpenID Connect: each tenant's provider, the sign-ins under way, and one-time sign-in codes.

A sign-in under way is a row keyed by the SHA-256 of its ``state``: the callback takes it with one conditional
DELETE, so a state (and with it the code exchange) works once, in every process and without Redis. The sign-in code
that hands the web app its token works the same way. Neither table holds anything that is useful once it expired.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.crypto import SecretBox
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, Problem, ValidationFailed
from studio_shared.rbac import Role
from studio_shared.store import audit, tenants

LOGIN_TTL = timedelta(minutes=10)  # from the redirect to the provider to its callback
CODE_TTL = timedelta(seconds=60)  # from the callback to the web app's exchange
MAX_GROUP_ROLES = 100
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True, slots=True)
class OidcInput:
    """What an admin sets; ``client_secret`` None keeps the stored one (it is write-only)."""

    issuer: str
    client_id: str
    client_secret: str | None
    jit_role: Role | None
    groups_claim: str | None = None
    group_roles: dict[str, Role] = field(default_factory=dict)
    allowed_domains: list[str] = field(default_factory=list)

    def checked(self, *, allow_http: bool) -> OidcInput:
        """The normalized input, or ValidationFailed naming every field to fix."""
        problems: list[Problem] = []
        issuer = self.issuer.strip().rstrip("/")
        schemes = ("https", "http") if allow_http else ("https",)
        if not _issuer_url(issuer, schemes):
            problems.append(
                Problem(("issuer",), "the issuer is the provider's https:// URL, e.g. https://login.example.org")
            )
        elif len(issuer) > 500:
            problems.append(Problem(("issuer",), "the issuer URL is longer than 500 characters"))
        client_id = self.client_id.strip()
        if not 1 <= len(client_id) <= 300:
            problems.append(Problem(("clientId",), "give the client id the provider issued (1 to 300 characters)"))
        if self.client_secret is not None and not 1 <= len(self.client_secret) <= 1000:
            problems.append(Problem(("clientSecret",), "give the client secret the provider issued"))
        claim = (self.groups_claim or "").strip() or None
        if claim is not None and len(claim) > 100:
            problems.append(Problem(("groupsClaim",), "the groups claim name is longer than 100 characters"))
        if len(self.group_roles) > MAX_GROUP_ROLES:
            problems.append(Problem(("groupRoles",), f"map at most {MAX_GROUP_ROLES} groups"))
        if any(not 1 <= len(g) <= 200 for g in self.group_roles):
            problems.append(Problem(("groupRoles",), "group names have 1 to 200 characters"))
        if self.group_roles and claim is None:
            problems.append(Problem(("groupsClaim",), "name the claim that holds the groups to map them to roles"))
        domains = sorted({d.strip().lower() for d in self.allowed_domains if d.strip()})
        bad = [d for d in domains if not _DOMAIN.match(d)]
        if bad:
            problems.append(Problem(("allowedDomains",), f"not a domain name: {', '.join(bad[:5])}"))
        if problems:
            raise ValidationFailed(problems)
        return OidcInput(issuer, client_id, self.client_secret, self.jit_role, claim, dict(self.group_roles), domains)


def _issuer_url(issuer: str, schemes: tuple[str, ...]) -> bool:
    """Whether ``issuer`` is an absolute URL of these schemes with a host, and no credentials, query or fragment."""
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    plain = not (parts.query or parts.fragment or parts.username or parts.password)
    return parts.scheme in schemes and bool(host) and plain and not any(c.isspace() for c in issuer)


async def get_config(s: AsyncSession, tenant_id: uuid.UUID) -> models.OidcConfig | None:
    return await s.scalar(sa.select(models.OidcConfig).where(models.OidcConfig.tenant_id == tenant_id))


async def config_for_slug(s: AsyncSession, slug: str) -> models.OidcConfig | None:
    """The provider of the tenant with this slug, or None (no such tenant, or no provider: alike)."""
    return await s.scalar(
        sa.select(models.OidcConfig)
        .join(models.Tenant, models.Tenant.id == models.OidcConfig.tenant_id)
        .where(models.Tenant.slug == slug.strip().lower())
    )


async def set_config(
    s: AsyncSession, tenant_id: uuid.UUID, given: OidcInput, box: SecretBox, actor: str, *, allow_http: bool
) -> models.OidcConfig:
    """Create or replace the tenant's provider. The secret is sealed; a first configuration needs one."""
    given = given.checked(allow_http=allow_http)
    row = await get_config(s, tenant_id)
    if row is None and given.client_secret is None:
        raise ValidationFailed.one(["clientSecret"], "give the client secret the provider issued")
    if row is None:
        row = models.OidcConfig(tenant_id=tenant_id)
        s.add(row)
    row.issuer = given.issuer
    row.client_id = given.client_id
    if given.client_secret is not None:
        row.client_secret = box.seal(given.client_secret)
    row.jit_role = given.jit_role
    row.groups_claim = given.groups_claim
    row.group_roles = {group: role.value for group, role in given.group_roles.items()}
    row.allowed_domains = list(given.allowed_domains)
    row.updated_by = actor
    data = {
        "issuer": given.issuer,
        "clientId": given.client_id,
        "secretChanged": given.client_secret is not None,  # never the secret itself
        "jitRole": given.jit_role.value if given.jit_role else None,
        "groupsClaim": given.groups_claim,
        "groupRoles": row.group_roles,
        "allowedDomains": row.allowed_domains,
    }
    audit.record(s, tenant_id, actor, "oidc.configure", ("tenant", tenant_id), data)
    await s.flush()
    return row


async def delete_config(s: AsyncSession, tenant_id: uuid.UUID, actor: str) -> None:
    row = await get_config(s, tenant_id)
    if row is None:
        raise NotFound("single sign-on configuration", tenant_id)
    await s.delete(row)
    audit.record(s, tenant_id, actor, "oidc.delete", ("tenant", tenant_id), {"issuer": row.issuer})
    await s.flush()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingLogin:
    state: str
    nonce: str
    code_verifier: str


async def begin_login(s: AsyncSession, tenant_id: uuid.UUID) -> PendingLogin:
    """A new sign-in under way: fresh state, nonce and PKCE verifier (the state stored only as a hash)."""
    now = utcnow()
    await s.execute(sa.delete(models.OidcLogin).where(models.OidcLogin.expires_at <= now))
    pending = PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))
    s.add(
        models.OidcLogin(
            tenant_id=tenant_id,
            state_hash=_digest(pending.state),
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
            expires_at=now + LOGIN_TTL,
        )
    )
    await s.flush()
    return pending


async def take_login(s: AsyncSession, state: str) -> models.OidcLogin | None:
    """The sign-in this ``state`` began, removed so that it works once; None when unknown, used or expired."""
    row = await s.scalar(sa.select(models.OidcLogin).where(models.OidcLogin.state_hash == _digest(state)))
    if row is None:
        return None
    taken = await s.execute(sa.delete(models.OidcLogin).where(models.OidcLogin.id == row.id))
    if taken.rowcount != 1 or row.expires_at <= utcnow():  # type: ignore[attr-defined]
        return None  # another callback took it first, or it expired
    return row


async def issue_code(s: AsyncSession, user: models.User) -> str:
    """A one-time code for ``user``'s token, valid CODE_TTL; only its hash is stored."""
    now = utcnow()
    await s.execute(sa.delete(models.SignInCode).where(models.SignInCode.expires_at <= now))
    code = secrets.token_urlsafe(32)
    s.add(
        models.SignInCode(tenant_id=user.tenant_id, code_hash=_digest(code), user_id=user.id, expires_at=now + CODE_TTL)
    )
    await s.flush()
    return code


async def take_code(s: AsyncSession, code: str) -> models.User | None:
    """The active user a sign-in code names, the code removed; None when unknown, used or expired."""
    if not 1 <= len(code) <= 200:
        return None
    row = await s.scalar(sa.select(models.SignInCode).where(models.SignInCode.code_hash == _digest(code)))
    if row is None:
        return None
    taken = await s.execute(sa.delete(models.SignInCode).where(models.SignInCode.id == row.id))
    if taken.rowcount != 1 or row.expires_at <= utcnow():  # type: ignore[attr-defined]
        return None
    user = await tenants.get_user(s, row.tenant_id, row.user_id)
    return user if user is not None and user.active else None


class Refused(Exception):
    """An SSO sign-in that must not go on; the message is for the person signing in (no token, no claim values
    beyond what they typed themselves)."""


def mapped_role(config: models.OidcConfig, groups: object) -> Role | None:
    """The highest role the user's groups map to, or None (no mapping, or no group of theirs mapped)."""
    if not config.groups_claim or not config.group_roles:
        return None
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return None
    roles = [Role(config.group_roles[g]) for g in groups if isinstance(g, str) and g in config.group_roles]
    return max(roles, key=lambda r: r.rank) if roles else None


async def sso_user(s: AsyncSession, config: models.OidcConfig, email: str, groups: object) -> models.User:
    """The user a verified email signs in: an existing active one (its role set from the groups when they map),
    or a new one with the group role or the default role (just-in-time); Refused otherwise."""
    email = tenants.normalize_email(email)
    domain = email.rpartition("@")[2]
    if config.allowed_domains and domain not in config.allowed_domains:
        raise Refused("your email's domain may not sign in to this workspace")
    role = mapped_role(config, groups)
    actor = "sso"
    user = await tenants.user_by_email(s, config.tenant_id, email)
    if user is None:
        if config.jit_role is None:
            raise Refused("you have no account in this workspace: ask an admin to add you")
        try:
            user = await tenants.create_user(s, config.tenant_id, email, None, role or config.jit_role, actor)
        except ValidationFailed as exc:
            raise Refused("the provider's email claim is not an email address") from exc
        except Conflict as exc:  # the same person's other sign-in created the account a moment ago
            raise Refused("your account was being created by another sign-in: sign in again") from exc
        return user
    if not user.active:
        raise Refused("your account in this workspace is disabled")
    if role is not None and role is not user.role:
        try:
            async with s.begin_nested():
                await tenants.set_role(s, config.tenant_id, user.id, role, actor)
        except Conflict:  # the last admin keeps the role: signing in still works
            await s.refresh(user)
    return user
