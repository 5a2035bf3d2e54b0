"""A small but real OpenID Connect provider for the SSO tests, served by uvicorn on 127.0.0.1.

It serves discovery, a JWKS, ``/authorize`` (approves at once, as the person ``next_login`` names) and ``/token``
(checks the client's secret, the redirect URI, the PKCE verifier against the S256 challenge, and that a code is
used once) and issues RS256 ID tokens. ``tamper`` lets a test break one thing in the next ID token: the issuer,
the audience, the nonce, the expiry, the signature (``alg: none``, a key outside the JWKS), or the email's proof.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "studio-test-client"
CLIENT_SECRET = "provider-issued-secret-0123456789abcdef"


@dataclass
class Person:
    email: str
    email_verified: bool = True
    groups: list[str] = field(default_factory=list)
    subject: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class _Grant:
    person: Person
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    tamper: Callable[[dict[str, Any], dict[str, Any]], str | None] | None


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class Provider:
    def __init__(self) -> None:
        self.url = ""  # set once serving
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
        self.rogue = RSAKey.generate_key(2048, parameters={"kid": "rogue", "use": "sig", "alg": "RS256"})
        self.next_login: Person | None = None
        self.tamper: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.jwks_fetches = 0
        self._grants: dict[str, _Grant] = {}
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        person, self.next_login = self.next_login, None
        if person is None:
            return JSONResponse({"error": "nobody to sign in"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            person, params["client_id"], params["redirect_uri"], params["nonce"], params["code_challenge"], self.tamper
        )
        self.tamper = None
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.challenge or form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": grant.person.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": grant.person.email,
            "email_verified": grant.person.email_verified,
            "groups": grant.person.groups,
        }
        header: dict[str, Any] = {"alg": "RS256", "kid": self.key.kid}
        token = grant.tamper(header, claims) if grant.tamper else None
        if token is None:
            key = self.rogue if header.get("kid") == "rogue" else self.key
            token = jwt.encode(header, claims, key)
        return JSONResponse({"access_token": "opaque", "token_type": "Bearer", "id_token": token, "expires_in": 300})


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token of these claims."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@contextlib.contextmanager
def _no_signals() -> Iterator[None]:
    yield


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # pytest keeps its own handlers
        return _no_signals()


async def serve(provider: Provider) -> tuple[_Server, Any]:
    import asyncio

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    provider.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(provider.app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task
