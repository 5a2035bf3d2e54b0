"""Secrets at rest and signed links, keyed by ``STUDIO_SECRET_KEY``.

``STUDIO_SECRET_KEY`` may hold several keys separated by commas, newest first: the first encrypts and
signs, every one decrypts and verifies. To rotate, put a new key in front, run ``studio rotate-secrets``
(re-encrypts every stored value with the new key), then drop the old key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from studio_shared.settings import Settings


class DecryptionFailed(Exception):
    """A stored value none of the configured keys opens (a key was dropped too early, or the data is corrupt)."""


def _derive(secret: str, purpose: bytes) -> bytes:
    """32 bytes for one purpose from one configured secret (HKDF-SHA256): a key never serves two purposes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"studio:" + purpose).derive(secret.encode())


def derive_keys(settings: Settings, purpose: bytes) -> list[bytes]:
    """One key per configured secret (newest first) for ``purpose``: sign with the first, verify with any."""
    return [_derive(s, purpose) for s in configured_secrets(settings)]


def configured_secrets(settings: Settings) -> list[str]:
    if settings.secret_key is None:
        raise ValueError("no secret key configured: call Settings.with_dev_secrets() or set STUDIO_SECRET_KEY")
    keys = [k.strip() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    if not keys:
        raise ValueError("STUDIO_SECRET_KEY is empty")
    return keys


class SecretBox:
    """Encrypts JSON values for storage (Fernet: AES-128-CBC + HMAC-SHA256, authenticated, timestamped)."""

    def __init__(self, secrets: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(s, b"credentials"))) for s in secrets])
        self._link_keys = [_derive(s, b"links") for s in secrets]

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(configured_secrets(settings))

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise DecryptionFailed("a stored secret cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        """The same value encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise DecryptionFailed("a stored secret cannot be decrypted with the configured keys") from None

    # -- signed links -----------------------------------------------------------------------------------

    def sign(self, subject: str, expires_at: int) -> str:
        return self._mac(self._link_keys[0], subject, expires_at)

    def verify(self, subject: str, expires_at: int, signature: str, now: float | None = None) -> bool:
        """True for an unexpired link signed by any configured key; constant-time comparison."""
        if expires_at < (time.time() if now is None else now):
            return False
        return any(hmac.compare_digest(self._mac(key, subject, expires_at), signature) for key in self._link_keys)

    @staticmethod
    def _mac(key: bytes, subject: str, expires_at: int) -> str:
        digest = hmac.new(key, f"{subject}\n{expires_at}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
