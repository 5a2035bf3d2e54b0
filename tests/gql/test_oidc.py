"""Single sign-on with OpenID Connect, against a real provider on 127.0.0.1 (tests/gql/oidc_provider.py).

A browser (an httpx client with cookies) starts at ``/auth/oidc/<tenant>/login``, follows the redirect to the
provider, comes back to ``/auth/oidc/callback`` and exchanges the one-time code for its access token. The corpus
breaks one thing at a time (the ID token's issuer, audience, nonce, expiry or signature, an unverified email, a
replayed code, a state from elsewhere): each is refused with a page that says why, and no user or code is made.
"""

from __future__ import annotations

import html
import itertools
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey
from starlette.applications import Starlette

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import tenants
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, Provider, serve, unsigned

SET_OIDC = """mutation($i: OidcConfigInput!) { setOidcConfig(input: $i) {
  oidcConfig { issuer clientId clientSecretSet jitRole groupsClaim groupRoles { group role } allowedDomains
               redirectUri updatedAt }
  errors { path message code } } }"""
EXCHANGE = """mutation($c: String!) { exchangeSignInCode(code: $c) { token user { email role } errors { code } } }"""
SSO = "query($t: String!) { singleSignOn(tenant: $t) { loginUrl } }"
ME = "{ me { user { email } role tenant { slug } } }"
_ADDRESSES = itertools.count(1)


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[Provider]:
    made = Provider()
    server, task = await serve(made)
    yield made
    server.should_exit = True
    await task


@pytest.fixture
def oidc_config(provider: Provider) -> dict[str, Any]:
    return {
        "issuer": provider.url,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "jitRole": "VIEWER",
        "groupsClaim": "groups",
        "groupRoles": [{"group": "studio-admins", "role": "ADMIN"}],
    }


@pytest.fixture
async def sso(gql: GraphQLClient, make_tenant: Any, oidc_config: dict[str, Any]) -> TenantFixture:
    """A tenant of its own whose admin configured the provider."""
    tenant: TenantFixture = await make_tenant()
    data = await gql.data(SET_OIDC, {"i": oidc_config}, tenant.token(Role.ADMIN))
    assert data["setOidcConfig"]["errors"] == [], data
    return tenant


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Browsers: clients of the studio that keep cookies."""
    opened: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        # Each from an address of its own (198.18.0.0/15, set aside for tests): sign-in starts are limited per address.
        n = next(_ADDRESSES) + 256 * (uuid.uuid4().int % 200)
        transport = httpx.ASGITransport(app=app, client=(f"198.19.{n // 256 % 256}.{n % 256}", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://studio.test")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


Tamper = Callable[[dict[str, Any], dict[str, Any]], str | None]


async def to_provider(browser: httpx.AsyncClient, slug: str) -> str:
    """Start a sign-in: the provider's authorization URL the studio redirects to."""
    started = await browser.get(f"/auth/oidc/{slug}/login")
    assert started.status_code == 302, started.text
    return started.headers["location"]


async def at_provider(provider: Provider, authorize_url: str, person: Person, tamper: Tamper | None = None) -> str:
    """The provider approves ``person``: the callback URL (path and query) it sends the browser back to."""
    provider.next_login, provider.tamper = person, tamper
    async with httpx.AsyncClient() as client:
        approved = await client.get(authorize_url)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert back.path == "/auth/oidc/callback"
    return f"{back.path}?{back.query}"


async def sign_in(
    browser: httpx.AsyncClient, provider: Provider, slug: str, person: Person, tamper: Tamper | None = None
) -> httpx.Response:
    callback = await at_provider(provider, await to_provider(browser, slug), person, tamper)
    return await browser.get(callback)


def sign_in_code(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    target = urlsplit(response.headers["location"])
    assert target.path == "/login" and not target.query, "nothing but the one-time code, and in the fragment"
    [code] = parse_qs(target.fragment)["sso_code"]
    return code


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    assert "sso_code" not in response.headers.get("location", "")
    assert "eyJ" not in response.text, "a refusal never carries a token"
    start = response.text.index("<p id=reason>") + len("<p id=reason>")
    return html.unescape(response.text[start : response.text.index("</p>", start)])


def person(tenant: TenantFixture, **kwargs: Any) -> Person:
    return Person(email=f"sso-{secrets.token_hex(5)}@{tenant.slug}.example", **kwargs)


async def user_count(state: AppState, tenant: TenantFixture) -> int:
    async with state.sessions() as s:
        n = await s.scalar(
            sa.select(sa.func.count()).select_from(models.User).where(models.User.tenant_id == tenant.id)
        )
    return int(n or 0)


async def codes_outstanding(state: AppState) -> int:
    async with state.sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(models.SignInCode)) or 0)


# ------------------------------------------------------------------------------------------- signing in


async def test_a_new_user_signs_in_just_in_time_with_pkce_and_a_one_time_code(
    browser: Callable[[], httpx.AsyncClient], gql: GraphQLClient, provider: Provider, sso: TenantFixture
) -> None:
    who = person(sso)
    client = browser()
    authorize = await to_provider(client, sso.slug)
    assert authorize.startswith(f"{provider.url}/authorize?")
    asked = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["client_id"] == CLIENT_ID and asked["redirect_uri"].endswith("/auth/oidc/callback")
    assert "openid" in asked["scope"].split() and asked["state"] and asked["nonce"]

    callback = await at_provider(provider, authorize, who)
    done = await client.get(callback)
    # The provider checked the PKCE verifier against the challenge (it refuses a wrong one).
    assert provider.token_requests[-1]["code_verifier"]
    code = sign_in_code(done)

    answer = (await gql.data(EXCHANGE, {"c": code}))["exchangeSignInCode"]
    assert answer["errors"] == [] and answer["user"] == {"email": who.email, "role": "VIEWER"}
    me = (await gql.data(ME, token=answer["token"]))["me"]
    assert me == {"user": {"email": who.email}, "role": "VIEWER", "tenant": {"slug": sso.slug}}
    # The code works once.
    again = (await gql.data(EXCHANGE, {"c": code}))["exchangeSignInCode"]
    assert again["token"] is None and [e["code"] for e in again["errors"]] == ["INVALID_CODE"]


async def test_an_existing_user_signs_in_and_the_group_claim_sets_the_role(
    browser: Callable[[], httpx.AsyncClient],
    gql: GraphQLClient,
    state: AppState,
    provider: Provider,
    sso: TenantFixture,
) -> None:
    who = person(sso, groups=["unrelated", "studio-admins"])
    async with state.sessions.begin() as s:
        await tenants.create_user(s, sso.id, who.email, None, Role.EDITOR)
    before = await user_count(state, sso)
    code = sign_in_code(await sign_in(browser(), provider, sso.slug, who))
    answer = (await gql.data(EXCHANGE, {"c": code}))["exchangeSignInCode"]
    assert answer["user"] == {"email": who.email, "role": "ADMIN"}
    assert await user_count(state, sso) == before, "the existing account, not a new one"


async def test_an_unknown_email_is_refused_when_just_in_time_creation_is_off(
    browser: Callable[[], httpx.AsyncClient],
    gql: GraphQLClient,
    state: AppState,
    provider: Provider,
    sso: TenantFixture,
    oidc_config: dict[str, Any],
) -> None:
    off = {**oidc_config, "jitRole": None, "clientSecret": None}  # the stored secret is kept
    assert (await gql.data(SET_OIDC, {"i": off}, sso.token(Role.ADMIN)))["setOidcConfig"]["errors"] == []
    before = await user_count(state, sso)
    reason = refusal(await sign_in(browser(), provider, sso.slug, person(sso)))
    assert "no account in this workspace" in reason
    assert await user_count(state, sso) == before


async def test_a_rotated_signing_key_is_fetched_once_the_token_names_it(
    browser: Callable[[], httpx.AsyncClient],
    gql: GraphQLClient,
    state: AppState,
    provider: Provider,
    sso: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state.oidc, "refetch_keys_after_s", 0.0)
    assert sign_in_code(await sign_in(browser(), provider, sso.slug, person(sso)))  # the set is cached now
    old = provider.key
    provider.key = RSAKey.generate_key(2048, parameters={"kid": f"key-{secrets.token_hex(3)}", "alg": "RS256"})
    try:
        fetches = provider.jwks_fetches
        code = sign_in_code(await sign_in(browser(), provider, sso.slug, person(sso)))
        assert provider.jwks_fetches == fetches + 1
        assert (await gql.data(EXCHANGE, {"c": code}))["exchangeSignInCode"]["token"]
    finally:
        provider.key = old


# --------------------------------------------------------------------------------------------- the corpus


def _set(name: str, value: Any) -> Tamper:
    def tamper(header: dict[str, Any], claims: dict[str, Any]) -> None:
        claims[name] = value

    return tamper


def _expired(header: dict[str, Any], claims: dict[str, Any]) -> None:
    claims["iat"] -= 3600
    claims["exp"] = claims["iat"] + 300


def _rogue_key(header: dict[str, Any], claims: dict[str, Any]) -> None:
    header["kid"] = "rogue"  # signed with a key the JWKS does not hold


def _rogue_key_with_a_published_kid(header: dict[str, Any], claims: dict[str, Any]) -> str:
    from joserfc import jwt

    rogue = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    return jwt.encode(header, claims, rogue)


CORPUS: dict[str, tuple[Tamper | None, dict[str, Any], str]] = {
    "wrong iss": (_set("iss", "https://evil.example"), {}, "'iss' claim"),
    "wrong aud": (_set("aud", "another-client"), {}, "'aud' claim"),
    "wrong nonce": (_set("nonce", "not-the-nonce"), {}, "'nonce' claim"),
    "expired": (_expired, {}, "expired"),
    "unsigned (alg none)": (unsigned, {}, "not signed with RS256"),
    "key not in the JWKS": (_rogue_key, {}, "does not publish"),
    "forged with a published kid": (_rogue_key_with_a_published_kid, {}, "signature is not valid"),
    "email not verified": (None, {"email_verified": False}, "not verified"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
async def test_a_bad_id_token_is_refused_and_creates_nothing(
    case: str,
    browser: Callable[[], httpx.AsyncClient],
    state: AppState,
    provider: Provider,
    sso: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state.oidc, "refetch_keys_after_s", 0.0)
    tamper, traits, expected = CORPUS[case]
    who = person(sso, **traits)
    before, outstanding = await user_count(state, sso), await codes_outstanding(state)
    fetches = provider.jwks_fetches
    reason = refusal(await sign_in(browser(), provider, sso.slug, who, tamper))
    assert expected in reason, reason
    assert await user_count(state, sso) == before, "no user created"
    assert await codes_outstanding(state) == outstanding, "no sign-in code issued"
    if case == "key not in the JWKS":
        assert provider.jwks_fetches == fetches + 1, "an unknown key id refetches the set once (rotation), no more"


async def test_a_replayed_callback_and_a_replayed_code_are_refused(
    browser: Callable[[], httpx.AsyncClient], state: AppState, provider: Provider, sso: TenantFixture
) -> None:
    client = browser()
    callback = await at_provider(provider, await to_provider(client, sso.slug), person(sso))
    assert sign_in_code(await client.get(callback))
    # The same callback again (its state was used): refused before the provider is asked.
    used_state = parse_qs(urlsplit(callback).query)["state"][0]
    client.cookies.set("studio_sso_state", used_state, domain="studio.test", path="/auth/oidc/callback")
    asked = len(provider.token_requests)
    assert "already used" in refusal(await client.get(callback))
    assert len(provider.token_requests) == asked
    # The used code with a fresh sign-in's state: the provider refuses the code a second time.
    client.cookies.clear()
    fresh = await at_provider(provider, await to_provider(client, sso.slug), person(sso))
    old_code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh_state = parse_qs(urlsplit(fresh).query)["state"][0]
    before = await user_count(state, sso)
    reason = refusal(await client.get("/auth/oidc/callback", params={"code": old_code, "state": fresh_state}))
    assert "invalid_grant" in reason
    assert await user_count(state, sso) == before


async def test_a_state_mismatch_is_refused(
    browser: Callable[[], httpx.AsyncClient], state: AppState, provider: Provider, sso: TenantFixture
) -> None:
    mine, theirs = browser(), browser()
    callback = await at_provider(provider, await to_provider(mine, sso.slug), person(sso))
    before = await user_count(state, sso)
    # Another browser brings the callback (login CSRF): it has no sign-in of its own under way.
    assert "not started in this browser" in refusal(await theirs.get(callback))
    # This browser, with a state that is not the one it was given.
    query = parse_qs(urlsplit(callback).query)
    forged = {"code": query["code"][0], "state": secrets.token_urlsafe(32)}
    assert "not started in this browser" in refusal(await mine.get("/auth/oidc/callback", params=forged))
    assert await user_count(state, sso) == before
    # The provider's own refusal is shown, not followed.
    assert "access_denied" in refusal(await mine.get("/auth/oidc/callback", params={"error": "access_denied"}))


async def test_an_email_outside_the_allowed_domains_is_refused(
    browser: Callable[[], httpx.AsyncClient],
    gql: GraphQLClient,
    state: AppState,
    provider: Provider,
    sso: TenantFixture,
    oidc_config: dict[str, Any],
) -> None:
    limited = {**oidc_config, "allowedDomains": ["corp.example"]}
    assert (await gql.data(SET_OIDC, {"i": limited}, sso.token(Role.ADMIN)))["setOidcConfig"]["errors"] == []
    before = await user_count(state, sso)
    assert "domain" in refusal(await sign_in(browser(), provider, sso.slug, person(sso)))
    assert await user_count(state, sso) == before


# ------------------------------------------------------------------------------------- the configuration


async def test_the_sign_in_page_learns_only_whether_a_workspace_has_sso(
    gql: GraphQLClient, sso: TenantFixture, tenant: TenantFixture
) -> None:
    assert (await gql.data(SSO, {"t": sso.slug}))["singleSignOn"] == {"loginUrl": f"/auth/oidc/{sso.slug}/login"}
    assert (await gql.data(SSO, {"t": tenant.slug}))["singleSignOn"] is None
    assert (await gql.data(SSO, {"t": f"nope-{secrets.token_hex(3)}"}))["singleSignOn"] is None


async def test_the_client_secret_is_write_only_and_never_audited(
    gql: GraphQLClient, state: AppState, sso: TenantFixture, oidc_config: dict[str, Any]
) -> None:
    admin = sso.token(Role.ADMIN)
    query = """{ oidcConfig { issuer clientId clientSecretSet jitRole groupsClaim groupRoles { group role }
                allowedDomains redirectUri updatedAt } }"""
    shown = (await gql.data(query, token=admin))["oidcConfig"]
    assert shown["clientSecretSet"] is True and shown["redirectUri"].endswith("/auth/oidc/callback")
    assert shown["groupRoles"] == [{"group": "studio-admins", "role": "ADMIN"}]
    async with state.sessions() as s:
        entries = list(await s.scalars(sa.select(models.AuditEntry).where(models.AuditEntry.tenant_id == sso.id)))
        stored = await s.scalar(sa.select(models.OidcConfig.client_secret).where(models.OidcConfig.tenant_id == sso.id))
    assert "oidc.configure" in {e.action for e in entries}
    everything = json.dumps(shown) + json.dumps([e.data for e in entries]) + str(stored)
    assert CLIENT_SECRET not in everything, "the secret is stored sealed, and never shown or audited"
    # An update without a secret keeps the stored one.
    kept = (await gql.data(SET_OIDC, {"i": {**oidc_config, "clientSecret": None}}, admin))["setOidcConfig"]
    assert kept["errors"] == [] and kept["oidcConfig"]["clientSecretSet"] is True


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"issuer": "ftp://login.example.org"}, ["issuer"]),
        ({"issuer": "https://user:pw@login.example.org"}, ["issuer"]),
        ({"clientId": " "}, ["clientId"]),
        ({"groupsClaim": None}, ["groupsClaim"]),  # groups mapped, but no claim named
        ({"allowedDomains": ["not a domain"]}, ["allowedDomains"]),
    ],
    ids=["scheme", "credentials-in-url", "empty-client-id", "groups-without-claim", "bad-domain"],
)
async def test_a_bad_configuration_says_what_to_fix_and_changes_nothing(
    gql: GraphQLClient, make_tenant: Any, oidc_config: dict[str, Any], change: dict[str, Any], path: list[str]
) -> None:
    tenant: TenantFixture = await make_tenant()
    answer = (await gql.data(SET_OIDC, {"i": {**oidc_config, **change}}, tenant.token(Role.ADMIN)))["setOidcConfig"]
    assert answer["oidcConfig"] is None
    assert path in [e["path"] for e in answer["errors"]], answer
    assert (await gql.data("{ oidcConfig { issuer } }", token=tenant.token(Role.ADMIN)))["oidcConfig"] is None


async def test_sign_in_starts_are_limited_per_address(
    browser: Callable[[], httpx.AsyncClient], state: AppState, sso: TenantFixture
) -> None:
    """Each start writes a row: one address cannot start more than STARTS_PER_WINDOW a minute."""
    from studio_gql.routes.oidc import STARTS_PER_WINDOW

    client = browser()
    async with state.sessions() as s:
        before = int(await s.scalar(sa.select(sa.func.count()).select_from(models.OidcLogin)) or 0)
    answers: list[int] = []
    while len(answers) <= 2 * STARTS_PER_WINDOW and 429 not in answers:
        answers.append((await client.get(f"/auth/oidc/{sso.slug}/login")).status_code)
    # A fixed window: at most the limit within one, so twice it if the loop straddles two.
    assert answers[-1] == 429 and set(answers[:-1]) == {302}, answers
    assert STARTS_PER_WINDOW <= len(answers) - 1 <= 2 * STARTS_PER_WINDOW
    async with state.sessions() as s:
        after = int(await s.scalar(sa.select(sa.func.count()).select_from(models.OidcLogin)) or 0)
    assert after - before <= len(answers) - 1, "the refused start wrote nothing"
    assert (await browser().get(f"/auth/oidc/{sso.slug}/login")).status_code == 302, "other addresses go on"


async def test_deleting_the_configuration_stops_sso_at_once(
    browser: Callable[[], httpx.AsyncClient], gql: GraphQLClient, sso: TenantFixture
) -> None:
    deleted = await gql.data("mutation { deleteOidcConfig { errors { code } } }", token=sso.token(Role.ADMIN))
    assert deleted["deleteOidcConfig"]["errors"] == []
    assert (await gql.data(SSO, {"t": sso.slug}))["singleSignOn"] is None
    started = await browser().get(f"/auth/oidc/{sso.slug}/login")
    assert started.status_code == 404 and "no single sign-on" in started.text
