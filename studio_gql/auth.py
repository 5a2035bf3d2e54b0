"""Turn an ``Authorization`` value into a Principal, checking the user or key against the database."""

from __future__ import annotations

from studio_gql.state import AppState, SharedReads
from studio_shared.auth import API_KEY_PREFIX, Principal, decode_access_token, issued_before
from studio_shared.db import tenancy
from studio_shared.db.types import utcnow
from studio_shared.errors import Unauthenticated
from studio_shared.store import api_keys, tenants


def bearer(value: object) -> str | None:
    """The token of a ``Bearer <token>`` value; None when absent; Unauthenticated when malformed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unauthenticated("the authorization value must be a string 'Bearer <token>'")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use the header 'Authorization: Bearer <token>'")
    return token.strip()


async def authenticate(state: AppState, authorization: object) -> Principal | None:
    """None for an anonymous caller; a Principal whose role is the user's *current* role; else Unauthenticated."""
    token = bearer(authorization)
    if token is None:
        return None
    if token.startswith(API_KEY_PREFIX):
        async with state.sessions.begin() as s:  # records the key's last use
            principal = await api_keys.authenticate(s, token)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        tenancy.act_for(principal.tenant_id)
        return principal
    claimed = decode_access_token(state.settings, token)
    async with state.lookups.connect() as conn:
        user = await tenants.user_access(conn, claimed.tenant_id, claimed.user_id) if claimed.user_id else None
    if user is None or not user.active:
        raise Unauthenticated("this account no longer exists or was disabled")
    if issued_before(claimed.issued_at, user.password_changed_at):
        raise Unauthenticated("the password of this account was changed since you logged in: log in again")
    temporary = user.password_expires_at is not None
    if temporary and user.password_expires_at <= utcnow():
        raise Unauthenticated("your temporary password expired: ask an admin to reset it again")
    tenancy.act_for(user.tenant_id)  # from here on, the database admits only this tenant's rows (PostgreSQL)
    # A role changed after the token was issued takes effect at once, in both directions.
    return Principal(
        tenant_id=user.tenant_id,
        role=user.role,
        user_id=user.id,
        issued_at=claimed.issued_at,
        password_change_required=temporary,
    )


class Rechecks:
    """The periodic credential re-check of open websockets: a JWT's signature and expiry are checked on every call
    (no database); the user (or API key) behind a credential is read once per ``ttl_s`` for all its sockets, and a
    refusal is remembered like an answer."""

    def __init__(self, ttl_s: float) -> None:
        self._reads = SharedReads(ttl_s, remember=(Unauthenticated,))

    async def check(self, state: AppState, authorization: object) -> Principal | None:
        token = bearer(authorization)
        if token is None:
            return None
        if not token.startswith(API_KEY_PREFIX):
            decode_access_token(state.settings, token)  # expired or forged: refused now, whatever is cached
        principal: Principal | None = await self._reads.get(token, lambda: authenticate(state, authorization))
        return principal
