"""Signing webhook deliveries the way a Standard Webhooks sender does, to test a workflow's webhook trigger.

``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the secret's bytes: a
``whsec_`` secret is base64 after its prefix (any other secret is used as its UTF-8 bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 signature>``."""
    digest = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, body: bytes, *, message_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a signed delivery of ``body`` (a fresh id and the current time unless given)."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def signed_request(secret: str, payload: Any, **options: Any) -> tuple[bytes, dict[str, str]]:
    """``payload`` as a JSON body with its signed headers (and ``content-type``), ready for ``httpx.post``."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"content-type": "application/json", **signed_headers(secret, body, **options)}
