"""Resume URLs of ``wait.event`` steps: ``{STUDIO_PUBLIC_URL}/hooks/resume/<token>``.

The token names the tenant, the run and the step, and carries an HMAC-SHA256 over them under a key derived from
``STUDIO_SECRET_KEY`` for this purpose alone (HKDF, info ``studio:resume``). It is deterministic, so the URL is
known before the step runs (earlier steps' templates read it as ``run.resume_urls.<step id>``) and the same for
every worker. A token nobody minted is refused before anything is looked up, compared in constant time against
every configured key (``STUDIO_SECRET_KEY=new,old`` keeps old URLs working during a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

from studio_shared.crypto import derive_keys
from studio_shared.settings import Settings

PURPOSE = b"resume"
MAX_TOKEN = 200  # 32 bytes of ids + a 64-character step id, base64, then the MAC: well under it
_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ResumeTarget:
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    step_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ResumeLinks:
    def __init__(self, keys: list[bytes], public_url: str) -> None:
        if not keys:
            raise ValueError("no key to sign resume URLs with")
        self._keys = keys
        self.base = public_url.rstrip("/") + "/hooks/resume/"

    @classmethod
    def from_settings(cls, settings: Settings) -> ResumeLinks:
        return cls(derive_keys(settings, PURPOSE), settings.public_url)

    @staticmethod
    def _subject(tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> bytes:
        return tenant_id.bytes + run_id.bytes + step_id.encode()

    @staticmethod
    def _mac(key: bytes, subject: bytes) -> bytes:
        return hmac.new(key, b"resume\n" + subject, hashlib.sha256).digest()

    def token(self, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> str:
        subject = self._subject(tenant_id, run_id, step_id)
        return f"{_b64(subject)}.{_b64(self._mac(self._keys[0], subject))}"

    def url(self, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> str:
        return self.base + self.token(tenant_id, run_id, step_id)

    def parse(self, token: str) -> ResumeTarget | None:
        """The target a genuine token names; None for anything else (malformed, forged, or signed by a key that is
        no longer configured). Every configured key is tried, whichever matches, so the time taken says nothing
        about which one did."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            return None
        encoded_subject, encoded_mac = token.split(".")
        try:
            subject, presented = _unb64(encoded_subject), _unb64(encoded_mac)
        except (binascii.Error, ValueError):
            return None
        # Only the spelling the studio mints: base64's last character carries bits a decoder drops, so other
        # spellings of the same bytes exist, and a URL is one string (a test flipping a character of the MAC found
        # one of them accepted).
        if _b64(subject) != encoded_subject or _b64(presented) != encoded_mac or len(subject) <= 32:
            return None
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(self._mac(key, subject), presented)
        if not found:
            return None
        try:
            step_id = subject[32:].decode()
        except UnicodeDecodeError:  # pragma: no cover - only tokens we minted get here
            return None
        if not _STEP_ID.match(step_id):  # pragma: no cover - likewise
            return None
        return ResumeTarget(uuid.UUID(bytes=subject[:16]), uuid.UUID(bytes=subject[16:32]), step_id)
