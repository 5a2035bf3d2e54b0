"""Sign-in: one answer for every failure, password hashing off the event loop, back-off per account and address.

Every failure (unknown email, wrong password, disabled account, an email with accounts in several tenants and no
tenant named, an unknown tenant) reads one lookup and verifies one argon2 hash (a dummy one when there is no
account), then gives the same answer: neither the answer nor its timing says whether an account exists.

Attempts are limited per account (the email as typed, normalized, whether or not it exists) and per client
address, counted before the outcome is known so that a burst of concurrent guesses gets only the free attempts.
Beyond them each attempt waits, from ``login_lockout_base_s`` doubling up to ``login_lockout_max_s``; a refusal
says when to retry and is the same for a known and an unknown email. A success forgets the account's failures and
uncounts the address's attempt. The address is the connecting client's (``studio serve`` trusts
``X-Forwarded-For`` from the addresses in uvicorn's ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default, so run a
reverse proxy there or list it).
"""

from __future__ import annotations

import hashlib
import math

from studio_gql.state import AppState
from studio_shared.auth import verify_password_off_loop
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.store import tenants

BAD_LOGIN = "unknown email or wrong password (an email with accounts in several workspaces needs the workspace too)"


class TooManyAttempts(Exception):
    """Sign-in refused before any check: too many recent failures for this account or from this address."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many failed sign-ins: try again in {self.retry_after_s} s")


def _keys(email: str, address: str | None) -> tuple[str, str]:
    # The email is hashed: the limiter's store (Redis) never holds who tried to sign in.
    account = hashlib.sha256(tenants.normalize_email(email).encode()).hexdigest()[:32]
    return f"login:account:{account}", f"login:address:{address or 'unknown'}"


async def sign_in(
    state: AppState, email: str, password: str, tenant: str | None, address: str | None
) -> models.User | None:
    """The user these credentials sign in, or None (one answer for every failure); TooManyAttempts when limited."""
    settings = state.settings
    account, place = _keys(email, address)
    wait = await state.limiter.attempt(
        {account: settings.login_failures_per_account, place: settings.login_failures_per_address},
        base_s=settings.login_lockout_base_s,
        cap_s=settings.login_lockout_max_s,
    )
    if wait is not None:
        raise TooManyAttempts(wait)
    async with state.reads() as s:
        found = await tenants.login_candidates(s, email, tenant)
    user = found[0] if len(found) == 1 else None  # several accounts and no tenant named: ambiguous, refused
    # The same argon2 work with or without an account (a dummy hash then), in the hashing threads.
    ok = await verify_password_off_loop(user.password_hash if user else None, password)
    if user is None or not ok or not user.active or temporary_password_expired(user):
        return None
    await state.limiter.forgive(account)
    await state.limiter.refund(place, settings.login_failures_per_address)
    async with state.sessions.begin() as s:
        await tenants.record_login(s, user)
    return user


def temporary_password_expired(user: models.User) -> bool:
    """Whether ``user`` holds a temporary password (an admin's reset) that no longer works."""
    return user.password_expires_at is not None and user.password_expires_at <= utcnow()


async def verify_current_password(state: AppState, user: models.User, password: str, address: str | None) -> bool:
    """Whether ``password`` is ``user``'s current one, under sign-in's limits: a wrong one counts as a failed
    sign-in of the account and the address (TooManyAttempts once they are used up), a right one forgives them.
    Without it a stolen session could guess the password at the speed of the API."""
    settings = state.settings
    account, place = _keys(user.email, address)
    wait = await state.limiter.attempt(
        {account: settings.login_failures_per_account, place: settings.login_failures_per_address},
        base_s=settings.login_lockout_base_s,
        cap_s=settings.login_lockout_max_s,
    )
    if wait is not None:
        raise TooManyAttempts(wait)
    if not await verify_password_off_loop(user.password_hash, password):
        return False
    await state.limiter.forgive(account)
    await state.limiter.refund(place, settings.login_failures_per_address)
    return True
