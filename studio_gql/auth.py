"""Turn an ``Authorization`` value into a Principal, checking the user or key against the database."""

from __future__ import annotations

import asyncio

from studio_gql.state import AppState
from studio_shared.auth import API_KEY_PREFIX, Principal, decode_access_token
from studio_shared.db import tenancy
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
    async with state.reads() as s:
        user = await tenants.get_user(s, claimed.tenant_id, claimed.user_id) if claimed.user_id else None
    if user is None or not user.active:
        raise Unauthenticated("this account no longer exists or was disabled")
    tenancy.act_for(user.tenant_id)  # from here on, the database admits only this tenant's rows (PostgreSQL)
    # A role changed after the token was issued takes effect at once, in both directions.
    return Principal(tenant_id=user.tenant_id, role=user.role, user_id=user.id)


class Rechecks:
    """The periodic credential re-check of open websockets, one database read per credential and ``ttl_s``.

    Every socket re-checks its credential each ``ws_reauth_interval_s``; five hundred sockets of a few users
    would otherwise read the same few user rows a hundred times a second. A JWT's signature and expiry are
    checked on every call (no database); the user (or API key) behind it is read at most once per ``ttl_s``,
    with concurrent checks of one credential sharing that read. A refusal is remembered like an answer; a
    database error is not, so the next check tries again.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._checks: dict[str, tuple[float, asyncio.Task[Principal | None]]] = {}

    async def check(self, state: AppState, authorization: object) -> Principal | None:
        token = bearer(authorization)
        if token is None:
            return None
        if not token.startswith(API_KEY_PREFIX):
            decode_access_token(state.settings, token)  # expired or forged: refused now, whatever is cached
        now = asyncio.get_running_loop().time()
        for stale in [t for t, (expires, read) in self._checks.items() if expires <= now and read.done()]:
            del self._checks[stale]
        found = self._checks.get(token)
        if found is None:
            read = asyncio.create_task(self._read(state, authorization, token), name="ws-recheck")
            read.add_done_callback(lambda task: task.cancelled() or task.exception())  # retrieved, even if unawaited
            found = self._checks[token] = (now + self.ttl_s, read)
        # Shielded: a socket that closes while waiting must not cancel the read the others wait for.
        return await asyncio.shield(found[1])

    async def _read(self, state: AppState, authorization: object, token: str) -> Principal | None:
        try:
            return await authenticate(state, authorization)
        except Unauthenticated:
            raise
        except BaseException:
            self._checks.pop(token, None)  # a database error is not an answer
            raise
