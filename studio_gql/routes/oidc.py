"""Single sign-on endpoints: ``GET /auth/oidc/{tenant}/login`` sends the browser to the tenant's provider, and
``GET /auth/oidc/callback`` takes it back.

The login keeps its state, nonce and PKCE verifier server-side (a row taken once by the callback) and binds the
state to the browser with a short-lived HttpOnly cookie, so a callback from another browser (login CSRF) or a
replayed one finds nothing. A successful callback hands the web app a one-time sign-in code in the URL fragment
(``/login#sso_code=…``, never sent to a server), which the app exchanges by POST (``exchangeSignInCode``) for its
access token: the token itself never appears in a URL. Every refusal is a page saying what went wrong; no user is
created and nothing is logged with the token.
"""

from __future__ import annotations

import hmac
import html
import logging
import math

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from studio_gql.oidc import SignInFailed
from studio_gql.state import AppState
from studio_shared.crypto import DecryptionFailed
from studio_shared.db import models
from studio_shared.store import oidc
from studio_worker.host import EgressPolicy

log = logging.getLogger("studio.sso")
COOKIE = "studio_sso_state"
STARTS_PER_WINDOW = 30  # sign-ins started per client address per rate-limit window (a minute)
CALLBACK_PATH = "/auth/oidc/callback"


def redirect_uri(state: AppState) -> str:
    """What an admin registers at the provider: ``${STUDIO_PUBLIC_URL}/auth/oidc/callback``."""
    return state.settings.public_url.rstrip("/") + CALLBACK_PATH


def _policy(state: AppState) -> EgressPolicy:
    return EgressPolicy.from_settings(state.settings)


def refused(state: AppState, message: str, status: int = 400) -> HTMLResponse:
    back = html.escape(state.settings.public_url.rstrip("/") + "/login", quote=True)
    page = (
        "<!doctype html><meta charset=utf-8><title>Sign-in refused</title>"
        f"<h1>Single sign-on did not sign you in</h1><p id=reason>{html.escape(message)}</p>"
        f'<p><a href="{back}">Back to sign in</a></p>'
    )
    response = HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, path=CALLBACK_PATH)
    return response


async def login(request: Request) -> Response:
    state: AppState = request.app.state.studio
    slug = request.path_params["tenant"]
    client = request.client
    # Each start writes a row (purged once expired): bounded per address so that nobody can fill the table.
    wait = await state.limiter.hit(f"sso:start:{client.host if client else 'unknown'}", STARTS_PER_WINDOW)
    if wait is not None:
        return refused(state, f"too many sign-ins started from here: try again in {math.ceil(wait)} s", 429)
    async with state.reads() as s:
        config = await oidc.config_for_slug(s, slug)
    if config is None:
        return refused(state, "this workspace has no single sign-on: sign in with your password", 404)
    try:
        provider = await state.oidc.provider(_policy(state), config.issuer)
    except SignInFailed as exc:
        return refused(state, str(exc), 502)
    async with state.sessions.begin() as s:
        pending = await oidc.begin_login(s, config.tenant_id)
    url = state.oidc.authorization_url(
        provider, config.client_id, redirect_uri(state), pending.state, pending.nonce, pending.code_verifier
    )
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        pending.state,
        max_age=int(oidc.LOGIN_TTL.total_seconds()),
        path=CALLBACK_PATH,
        secure=state.settings.public_url.startswith("https://"),
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: Lax cookies go with it
    )
    return response


async def callback(request: Request) -> Response:
    state: AppState = request.app.state.studio
    params = request.query_params
    if params.get("error"):
        reason = params["error"][:60]
        return refused(state, f"the identity provider did not sign you in ('{reason}')")
    given_state, code = params.get("state", ""), params.get("code", "")
    if not given_state or not code:
        return refused(state, "the identity provider's answer lacks its code or state: start again")
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), given_state.encode()):
        return refused(state, "this sign-in was not started in this browser, or it expired: start again")
    async with state.sessions.begin() as s:
        pending = await oidc.take_login(s, given_state)
    if pending is None:
        return refused(state, "this sign-in was already used or it expired: start again")
    async with state.reads() as s:
        config = await oidc.get_config(s, pending.tenant_id)
    if config is None:
        return refused(state, "this workspace no longer has single sign-on")
    try:
        user = await _sign_in(state, config, pending, code)
    except (SignInFailed, oidc.Refused) as exc:
        log.info("SSO sign-in refused for tenant %s: %s", config.tenant_id, exc)
        return refused(state, str(exc))
    async with state.sessions.begin() as s:
        one_time = await oidc.issue_code(s, user)
    target = state.settings.public_url.rstrip("/") + "/login#sso_code=" + one_time
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(COOKIE, path=CALLBACK_PATH)
    return response


async def _sign_in(state: AppState, config: models.OidcConfig, pending: models.OidcLogin, code: str) -> models.User:
    policy = _policy(state)
    provider = await state.oidc.provider(policy, config.issuer)
    try:
        secret = state.box.open(config.client_secret)
    except DecryptionFailed:
        raise SignInFailed("the stored client secret cannot be decrypted: an admin must set it again") from None
    token = await state.oidc.exchange(
        policy,
        provider,
        client_id=config.client_id,
        client_secret=str(secret),
        code=code,
        verifier=pending.code_verifier,
        redirect_uri=redirect_uri(state),
    )
    claims = await state.oidc.verify(policy, provider, token, client_id=config.client_id, nonce=pending.nonce)
    groups = claims.get(config.groups_claim) if config.groups_claim else None
    async with state.sessions.begin() as s:
        return await oidc.sso_user(s, config, claims["email"], groups)
