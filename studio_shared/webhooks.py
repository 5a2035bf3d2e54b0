"""Webhook signatures: Standard Webhooks (the default), GitHub and Stripe presets. Pure functions.

Every scheme signs the raw body with HMAC-SHA256 and is compared in constant time; the schemes that carry
a timestamp (Standard, Stripe) reject deliveries outside the tolerance both ways, so a captured delivery
cannot be replayed later, and the delivery key stops replays inside the window. The key is always something
the signature covers (``delivery_key``): an unsigned header a replayer can change never names a delivery.
GitHub signs the body alone, with no timestamp: its deliveries are keyed by the body's SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

from studio_shared.types import WebhookAuth

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker of Standard Webhooks secrets, not a secret
TOLERANCE_S = 300
MAX_SIGNATURES = 10  # a header listing more candidates than this is refused, not tried one by one


class SignatureInvalid(Exception):
    """The delivery is not signed by a current secret; the message says what is wrong, never a secret."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    """Standard Webhooks secrets are base64 after the prefix; GitHub/Stripe use the secret string itself."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign_standard(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value a sender computes: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    digest = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a JSON delivery signed as Standard Webhooks (a sender's side: tests, benchmarks, clients)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(secret, message_id, stamp, body),
    }


def sign_github(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_stripe(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(auth: WebhookAuth, candidates: Sequence[str], headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise SignatureInvalid unless ``body`` is signed by one of ``candidates`` (current, then previous secret).

    ``headers`` must have lower-case names.
    """
    if auth is WebhookAuth.NONE:
        return
    if auth is WebhookAuth.STANDARD:
        _standard(candidates, headers, body, now)
    elif auth is WebhookAuth.GITHUB:
        _github(candidates, headers, body)
    elif auth is WebhookAuth.STRIPE:
        _stripe(candidates, headers, body, now)
    else:  # pragma: no cover - the enum is closed
        raise SignatureInvalid(f"unknown signature scheme {auth}")


def _timestamp(raw: str | None, now: float, header: str) -> int:
    if not raw or not raw.isdigit() or len(raw) > 12:
        raise SignatureInvalid(f"the {header} header must be the send time in Unix seconds")
    stamp = int(raw)
    if abs(now - stamp) > TOLERANCE_S:
        raise SignatureInvalid(
            f"the {header} is more than {TOLERANCE_S} s away from the server's clock: send it fresh (and sync clocks)"
        )
    return stamp


def _matches(expected: Sequence[str], presented: Sequence[str]) -> bool:
    # Compare every pair: the time taken does not depend on which one matched.
    found = False
    for want in expected:
        for got in presented:
            found |= hmac.compare_digest(want.encode(), got.encode())
    return found


def _standard(candidates: Sequence[str], headers: Mapping[str, str], body: bytes, now: float) -> None:
    message_id = headers.get("webhook-id")
    signature = headers.get("webhook-signature")
    if not message_id or not signature:
        raise SignatureInvalid("sign the delivery: send webhook-id, webhook-timestamp and webhook-signature headers")
    stamp = _timestamp(headers.get("webhook-timestamp"), now, "webhook-timestamp")
    presented = signature.split()
    if len(presented) > MAX_SIGNATURES:
        raise SignatureInvalid(f"webhook-signature lists more than {MAX_SIGNATURES} signatures")
    expected = [sign_standard(secret, message_id, stamp, body) for secret in candidates]
    if not _matches(expected, presented):
        raise SignatureInvalid("the webhook-signature does not match the body and a current secret of this webhook")


def _github(candidates: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
    signature = headers.get("x-hub-signature-256")
    if not signature:
        raise SignatureInvalid("sign the delivery: send the X-Hub-Signature-256 header (sha256=<hex HMAC>)")
    if not _matches([sign_github(secret, body) for secret in candidates], [signature.strip()]):
        raise SignatureInvalid("the X-Hub-Signature-256 does not match the body and a current secret of this webhook")


def _stripe(candidates: Sequence[str], headers: Mapping[str, str], body: bytes, now: float) -> None:
    header = headers.get("stripe-signature")
    if not header:
        raise SignatureInvalid("sign the delivery: send the Stripe-Signature header (t=<time>,v1=<hex HMAC>)")
    parts = [part.partition("=") for part in header.split(",")]
    stamp = _timestamp(next((v for k, _, v in parts if k.strip() == "t"), None), now, "Stripe-Signature t")
    presented = [v.strip() for k, _, v in parts if k.strip() == "v1"]
    if not presented or len(presented) > MAX_SIGNATURES:
        raise SignatureInvalid("the Stripe-Signature header needs one to ten v1= signatures")
    expected = [sign_stripe(secret, stamp, body).partition(",v1=")[2] for secret in candidates]
    if not _matches(expected, presented):
        raise SignatureInvalid("the Stripe-Signature does not match the body and a current secret of this webhook")


def body_key(body: bytes) -> str:
    """A delivery key for a signed body that carries no id of its own."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def delivery_key(auth: WebhookAuth, headers: Mapping[str, str], body: bytes, payload: object) -> str | None:
    """The key a delivery is deduplicated by: for a signed scheme, something its signature covers.

    STANDARD: the signed ``webhook-id``. STRIPE: the event id inside the signed body (``evt_…``; Stripe retries an
    event with the same id), else the body's SHA-256. GITHUB: the body's SHA-256, since GitHub signs the body
    and nothing else: ``X-GitHub-Delivery`` is unsigned, so a replay could carry a fresh one. For these an
    ``Idempotency-Key`` header is ignored: it is not signed either. NONE: ``Idempotency-Key``, if sent (nothing
    is signed, so anybody may post anything anyway).
    """
    if auth is WebhookAuth.NONE:
        return headers.get("idempotency-key") or None
    if auth is WebhookAuth.STANDARD:
        return headers.get("webhook-id")
    if auth is WebhookAuth.STRIPE and isinstance(payload, dict) and isinstance(payload.get("id"), str):
        return str(payload["id"])
    return body_key(body)
