"""The relying party of OpenID Connect sign-in: discovery, the code exchange with PKCE, and the ID token's checks.

Everything the studio fetches from a provider (discovery, JWKS, the token endpoint) goes through the egress policy,
like any outbound request: a provider on a private address needs ``STUDIO_HTTP_ALLOWED_HOSTS``. Discovery documents
and key sets are cached; a token signed with a key id the cached set lacks refetches the set once (key rotation).

An ID token is accepted only when all of these hold: compact JWS signed RS256 by a key of the provider's JWKS; ``iss``
the configured issuer; ``aud`` holding the client id (and ``azp`` the client id when there are several); ``exp`` in
the future; ``nonce`` the one this sign-in sent; an ``email`` claim with ``email_verified`` true. A refusal says
which check failed and never carries the token or a claim's value.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from studio_worker.host import EgressError, EgressPolicy, guarded_client, send

ALGORITHMS = ["RS256"]
CACHE_S = 3600.0
REFETCH_KEYS_AFTER_S = 30.0  # an unknown key id refetches the set at most this often per provider
MAX_DOCUMENT_BYTES = 512 * 1024
LEEWAY_S = 60
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class SignInFailed(Exception):
    """An SSO sign-in refused; the message is safe to show the person signing in."""


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass
class _Keys:
    keys: KeySet
    fetched_at: float


@dataclass
class OidcProviders:
    """Discovery documents and key sets of every tenant's provider, cached per process."""

    timeout_s: float = 10.0
    refetch_keys_after_s: float = REFETCH_KEYS_AFTER_S
    _providers: dict[str, tuple[Provider, float]] = field(default_factory=dict)
    _keys: dict[str, _Keys] = field(default_factory=dict)

    async def _get_json(self, policy: EgressPolicy, url: str, form: dict[str, str] | None = None) -> Any:
        try:
            async with guarded_client(policy, timeout=httpx.Timeout(self.timeout_s)) as client:
                if form is None:
                    request = client.build_request("GET", url, headers={"Accept": "application/json"})
                else:
                    request = client.build_request("POST", url, data=form, headers={"Accept": "application/json"})
                response = await send(client, request, max_response_bytes=MAX_DOCUMENT_BYTES, follow_redirects=False)
        except EgressError as exc:
            raise SignInFailed(f"the identity provider may not be reached from here ({exc})") from None
        except httpx.HTTPError:
            raise SignInFailed("the identity provider did not answer: try again later") from None
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if response.status >= 400 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
            reason = f"'{error[:60]}'" if error else f"HTTP {response.status}"
            raise SignInFailed(f"the identity provider refused the request ({reason})")
        return body

    async def provider(self, policy: EgressPolicy, issuer: str) -> Provider:
        """The provider's endpoints from its discovery document, whose ``issuer`` must be the configured one."""
        cached = self._providers.get(issuer)
        if cached is not None and time.monotonic() - cached[1] < CACHE_S:
            return cached[0]
        doc = await self._get_json(policy, f"{issuer}/.well-known/openid-configuration")
        endpoints = [doc.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
        if doc.get("issuer") != issuer or not all(isinstance(e, str) and e.startswith("http") for e in endpoints):
            raise SignInFailed("the identity provider's discovery document does not match the configured issuer")
        found = Provider(issuer, *endpoints)
        self._providers[issuer] = (found, time.monotonic())
        return found

    async def _key_set(self, policy: EgressPolicy, provider: Provider, refresh: bool) -> KeySet:
        cached = self._keys.get(provider.jwks_uri)
        now = time.monotonic()
        fresh_enough = cached is not None and now - cached.fetched_at < (
            self.refetch_keys_after_s if refresh else CACHE_S
        )
        if cached is not None and fresh_enough:
            return cached.keys
        doc = await self._get_json(policy, provider.jwks_uri)
        try:
            keys = KeySet.import_key_set(doc)
        except (JoseError, ValueError, KeyError, TypeError):
            raise SignInFailed("the identity provider's key set (JWKS) cannot be read") from None
        self._keys[provider.jwks_uri] = _Keys(keys, now)
        return keys

    def authorization_url(
        self, provider: Provider, client_id: str, redirect_uri: str, state: str, nonce: str, verifier: str
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in provider.authorization_endpoint else "?"
        return f"{provider.authorization_endpoint}{separator}{urlencode(query)}"

    async def exchange(
        self,
        policy: EgressPolicy,
        provider: Provider,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        verifier: str,
        redirect_uri: str,
    ) -> str:
        """The ID token the token endpoint gives for ``code`` (client_secret_post, with the PKCE verifier)."""
        body = await self._get_json(
            policy,
            provider.token_endpoint,
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "client_secret": client_secret,
                "code_verifier": verifier,
            },
        )
        token = body.get("id_token")
        if not isinstance(token, str):
            raise SignInFailed("the identity provider sent no ID token")
        return token

    async def verify(
        self, policy: EgressPolicy, provider: Provider, token: str, *, client_id: str, nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims once every check holds; SignInFailed naming the first that does not."""
        if len(token) > 16_384 or not _COMPACT.fullmatch(token):
            raise SignInFailed("the ID token is not a signed JWT")
        header = _header(token)
        if header.get("alg") not in ALGORITHMS:
            raise SignInFailed("the ID token is not signed with RS256")
        kid = header.get("kid")
        key = _find_key(await self._key_set(policy, provider, refresh=False), kid)
        if key is None:  # perhaps the provider rotated its keys
            key = _find_key(await self._key_set(policy, provider, refresh=True), kid)
        if key is None:
            raise SignInFailed("the ID token is signed with a key the identity provider does not publish")
        try:
            claims = jwt.decode(token, key, algorithms=ALGORITHMS).claims
        except BadSignatureError:
            raise SignInFailed("the ID token's signature is not valid") from None
        except (JoseError, ValueError):
            raise SignInFailed("the ID token cannot be read") from None
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SignInFailed("the ID token has expired: sign in again") from None
        except (InvalidClaimError, MissingClaimError) as exc:
            raise SignInFailed(f"the ID token's '{exc.claim}' claim is missing or wrong") from None
        except JoseError:
            raise SignInFailed("the ID token's claims are not valid") from None
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise SignInFailed("the ID token's 'azp' claim is missing or wrong")
        if not isinstance(claims.get("email"), str):
            raise SignInFailed("the identity provider sent no email address: allow the 'email' scope")
        if claims.get("email_verified") is not True:
            raise SignInFailed("your email address is not verified at the identity provider")
        return claims


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise SignInFailed("the ID token is not a signed JWT") from None
    if not isinstance(header, dict):
        raise SignInFailed("the ID token is not a signed JWT")
    return header


def _find_key(keys: KeySet, kid: object) -> Any:
    if kid is not None and not isinstance(kid, str):
        return None
    candidates = [k for k in keys.keys if k.key_type == "RSA" and (kid is None or k.kid == kid)]
    return candidates[0] if len(candidates) == 1 else None
