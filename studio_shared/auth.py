"""Access tokens, password hashes and API keys; no HTTP here."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from studio_shared.errors import Unauthenticated
from studio_shared.rbac import Role
from studio_shared.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "tenant_id", "role", "exp", "iat", "iss", "aud"]
API_KEY_PREFIX = "wst_"
MAX_TOKEN_CHARS = 4096
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user (or API key), the tenant it acts in, and its role.

    An API key acts for the user who created it (``creator_id``; a key made with a key belongs to that key's
    creator): its role is the lesser of its own and that user's current one, and it stops with that user.
    """

    tenant_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    # An access token's ``iat`` (seconds): a token older than its user's last password change is refused.
    issued_at: int | None = field(default=None, compare=False)
    # An API key created with trustedDocumentsOnly: it may send trusted GraphQL documents only.
    trusted_documents_only: bool = field(default=False, compare=False)
    # The user signed in with a temporary password: the API admits only setting a new one (and ``me``).
    password_change_required: bool = field(default=False, compare=False)

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"apikey:{self.api_key_id}"

    @property
    def person_id(self) -> uuid.UUID | None:
        """The person behind the call: the user, or the user an API key acts for."""
        return self.user_id if self.user_id is not None else self.creator_id


def encode_access_token(
    settings: Settings, *, subject: uuid.UUID, tenant_id: uuid.UUID, role: Role, ttl_s: int | None = None
) -> str:
    now = int(time.time())
    claims = {
        "sub": str(subject),
        "tenant_id": str(tenant_id),
        "role": role.value,
        "iat": now,
        "exp": now + (ttl_s if ttl_s is not None else settings.access_token_ttl_s),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.jwt_key(), algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> Principal:
    """Verify signature, algorithm, expiry, issuer and audience; every failure is one opaque Unauthenticated."""
    # Strict compact JWS: three base64url segments, no padding. PyJWT also decodes other spellings of the same
    # signature (standard base64, padding): one token must have exactly one accepted form.
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise Unauthenticated("invalid token")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_key(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
        return Principal(
            tenant_id=uuid.UUID(str(claims["tenant_id"])),
            role=Role(claims["role"]),
            user_id=uuid.UUID(str(claims["sub"])),
            issued_at=int(claims["iat"]),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired: log in again") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthenticated("invalid token") from exc


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def issued_before(issued_at: int | None, changed_at: datetime | None) -> bool:
    """Whether a token issued at ``issued_at`` (whole seconds) predates a password change at ``changed_at``.

    ``iat`` has whole seconds, so a token issued in the second of the change (the one handed back by the change
    itself) still counts as issued after it."""
    return changed_at is not None and issued_at is not None and issued_at < int(changed_at.timestamp())


def new_temporary_password() -> str:
    """A password for an admin's reset: four groups of four characters (92 random bits), no look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists: an unknown user verifies against a dummy hash."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _hashing() -> ThreadPoolExecutor:
    # argon2 takes tens of milliseconds of CPU and 64 MiB per hash, and releases the GIL while it works: on the
    # event loop it stalled every request; in threads of their own, as many as there are cores, it bounds both.
    return ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="argon2")


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` in the hashing threads, so that the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(_hashing(), hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """``verify_password`` in the hashing threads, so that the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(_hashing(), verify_password, password_hash, password)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: uuid.UUID
    plaintext: str  # shown once, never stored
    secret_hash: str


def new_api_key() -> NewApiKey:
    """A key ``wst_<id>_<secret>``: the id finds the row, the 256-bit secret is stored only as a SHA-256 hash."""
    key_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key_id, f"{API_KEY_PREFIX}{key_id.hex}_{secret}", _digest(secret))


def parse_api_key(plaintext: str) -> tuple[uuid.UUID, str] | None:
    """Split a presented key into (id, secret hash), or None when it is not shaped like one of ours."""
    if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 200:
        return None
    key_hex, sep, secret = plaintext[len(API_KEY_PREFIX) :].partition("_")
    if not sep or not secret:
        return None
    try:
        key_id = uuid.UUID(hex=key_hex)
    except ValueError:
        return None
    # Only the exact form we issued: UUID parsing forgives case and braces, a key must not.
    return (key_id, _digest(secret)) if key_id.hex == key_hex else None


def api_key_matches(stored_hash: str, presented_hash: str) -> bool:
    return hmac.compare_digest(stored_hash, presented_hash)


def _digest(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: SHA-256 is preimage-resistant at that entropy.
    return hashlib.sha256(secret.encode()).hexdigest()
