"""Sign-in: one answer (and the same argon2 work) for every failure, hashing off the event loop, back-off per
account and per address, and emails unique per tenant (so no answer reveals another tenant's users).

Each test that counts attempts sends them from an address of its own (``ASGITransport(client=…)``), so the
per-address counts of the rest of the session (all from 127.0.0.1) stay out of it.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import studio_shared.auth
from studio_gql.state import AppState
from studio_shared.rbac import Role
from studio_shared.store import tenants
from tests.conftest import PASSWORD, GraphQLClient, TenantFixture

LOGIN = """mutation($e: String!, $p: String!, $t: String) {
  login(email: $e, password: $p, tenant: $t) { token user { id email } errors { path message code } } }"""
CREATE_USER = """mutation($e: String!, $p: String!) {
  createUser(email: $e, password: $p, role: VIEWER) { user { id email role } errors { path message code } } }"""
_ADDRESSES = itertools.count(1)

Client = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def from_address(app: Starlette) -> AsyncIterator[Client]:
    """Clients that connect from addresses of their own (198.18.0.0/15, set aside for tests)."""
    opened: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        n = next(_ADDRESSES) + 256 * (uuid.uuid4().int % 200)
        transport = httpx.ASGITransport(app=app, client=(f"198.18.{n // 256 % 256}.{n % 256}", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://studio.test")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def login(client: httpx.AsyncClient, email: str, password: str, tenant: str | None = None) -> dict[str, Any]:
    """The whole answer: the payload's ``data.login`` or a top-level error (RATE_LIMITED)."""
    response = await client.post(
        "/graphql", json={"query": LOGIN, "variables": {"e": email, "p": password, "t": tenant}}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def payload(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"]["login"]
    return result


def limited(body: dict[str, Any]) -> float:
    """The retry delay of a RATE_LIMITED answer (fails on any other answer)."""
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", body
    assert error["extensions"]["retryable"] is True
    assert body["data"] is None or body["data"]["login"] is None, body
    retry: float = error["extensions"]["retryAfterS"]
    assert retry >= 1 and f"{retry} s" in error["message"], body
    return retry


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, str]]:
    """Every argon2 verification: (against the dummy hash, the thread it ran in)."""
    calls: list[tuple[bool, str]] = []
    real = studio_shared.auth.verify_password

    def recorded(password_hash: str | None, password: str) -> bool:
        calls.append((password_hash is None, threading.current_thread().name))
        return real(password_hash, password)

    monkeypatch.setattr(studio_shared.auth, "verify_password", recorded)
    return calls


def unknown_email(tenant: TenantFixture) -> str:
    return f"nobody-{secrets.token_hex(5)}@{tenant.slug}.example"


async def new_user(state: AppState, tenant: TenantFixture, email: str | None = None, active: bool = True) -> str:
    address = email or f"u-{secrets.token_hex(5)}@{tenant.slug}.example"
    async with state.sessions.begin() as s:
        row = await tenants.create_user(s, tenant.id, address, PASSWORD, Role.EDITOR)
        row.active = active
    return address


# ------------------------------------------------------------------------------- one answer, the same work


async def test_every_failure_gets_one_answer_after_the_same_argon2_work(
    from_address: Client,
    state: AppState,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    hashing: list[tuple[bool, str]],
) -> None:
    shared = f"shared-{secrets.token_hex(4)}@example.org"  # an account in each of two tenants
    await new_user(state, tenant, shared)
    await new_user(state, other_tenant, shared)
    disabled = await new_user(state, tenant, active=False)
    known = await new_user(state, tenant)
    failures = {
        "unknown email": (unknown_email(tenant), PASSWORD, None),
        "wrong password": (known, PASSWORD + "!", None),
        "disabled account": (disabled, PASSWORD, None),
        "email in two tenants, none named": (shared, PASSWORD, None),
        "unknown tenant": (known, PASSWORD, f"no-such-{secrets.token_hex(3)}"),
        "another tenant named": (known, PASSWORD, other_tenant.slug),
    }
    answers = {}
    for case, (email, password, slug) in failures.items():
        before = len(hashing)
        answers[case] = payload(await login(from_address(), email, password, slug))
        assert len(hashing) == before + 1, f"{case}: one argon2 verification, like every other failure"
    assert len({repr(a) for a in answers.values()}) == 1, answers
    answer = next(iter(answers.values()))
    assert answer["token"] is None and answer["user"] is None
    assert [e["code"] for e in answer["errors"]] == ["INVALID_CREDENTIALS"]
    # Each check ran in the hashing threads, never on the event loop's thread.
    assert all(thread.startswith("argon2") for _, thread in hashing), hashing


async def test_password_hashing_never_runs_on_the_event_loop(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real_hash, real_verify = studio_shared.auth.hash_password, studio_shared.auth.verify_password

    def hash_password(password: str) -> str:
        threads.append(threading.current_thread().name)
        return real_hash(password)

    def verify_password(password_hash: str | None, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real_verify(password_hash, password)

    monkeypatch.setattr(studio_shared.auth, "hash_password", hash_password)
    monkeypatch.setattr(studio_shared.auth, "verify_password", verify_password)
    email = f"hashed-{secrets.token_hex(4)}@{tenant.slug}.example"
    made = (await gql.data(CREATE_USER, {"e": email, "p": PASSWORD}, tenant.token(Role.ADMIN)))["createUser"]
    assert made["errors"] == []
    assert (await gql.data(LOGIN, {"e": email, "p": PASSWORD}))["login"]["token"]
    assert len(threads) == 2 and all(t.startswith("argon2") for t in threads), threads
    assert threading.main_thread().name not in threads


# --------------------------------------------------------------------------------------------- back-off


async def test_failures_on_an_account_back_off_and_known_and_unknown_accounts_read_alike(
    from_address: Client, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first lock of 4 s (5 by default): the checks right after a refusal must land inside it even when a sign-in
    # (an argon2 check) takes over a second on a loaded machine, as the fixed 1 s of before did not.
    base = 4
    monkeypatch.setattr(state.settings, "login_lockout_base_s", float(base))
    free = state.settings.login_failures_per_account
    known, unknown = await new_user(state, tenant), unknown_email(tenant)
    refusals = []
    for email in (known, unknown):
        client = from_address()
        for _ in range(free):
            assert payload(await login(client, email, "wrong password"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
        refusal = await login(client, email, "wrong password")
        assert limited(refusal) == base  # the first wait
        refusals.append(refusal)
        # Limited per account: from another address too, and even with the right password.
        limited(await login(from_address(), email, PASSWORD))
    assert refusals[0] == refusals[1], "a limited unknown account reads exactly like a limited known one"

    await asyncio.sleep(base + 0.1)
    client = from_address()
    assert payload(await login(client, known, "wrong again"))["token"] is None  # admitted: the lock passed
    assert limited(await login(client, known, PASSWORD)) == 2 * base  # the wait doubles with each further failure
    await asyncio.sleep(2 * base + 0.1)
    assert payload(await login(client, known, PASSWORD))["token"], "the right password, once the wait is over"
    # A success forgets the account's failures: the free attempts are back.
    for _ in range(free):
        assert payload(await login(client, known, "wrong password"))["token"] is None


async def test_failures_from_an_address_back_off_whatever_the_account(
    from_address: Client, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state.settings, "login_failures_per_address", 4)
    known = await new_user(state, tenant)
    guesser = from_address()
    for _ in range(4):
        assert payload(await login(guesser, unknown_email(tenant), PASSWORD))["token"] is None
    limited(await login(guesser, unknown_email(tenant), PASSWORD))
    limited(await login(guesser, known, PASSWORD))  # the address waits, for every account
    assert payload(await login(from_address(), known, PASSWORD))["token"], "other addresses are not limited"

    # Successes do not count against an address (an office behind one NAT signs in all day).
    office = from_address()
    for _ in range(10):
        assert payload(await login(office, known, PASSWORD))["token"]


async def test_a_burst_of_concurrent_guesses_gets_only_the_free_attempts(
    from_address: Client, state: AppState, tenant: TenantFixture, hashing: list[tuple[bool, str]]
) -> None:
    free = state.settings.login_failures_per_account
    known = await new_user(state, tenant)
    client = from_address()
    bodies = await asyncio.gather(*(login(client, known, f"guess-{i}") for i in range(20)))
    answered = [b for b in bodies if not b.get("errors")]
    assert len(answered) == free, bodies
    assert all(payload(b)["token"] is None for b in answered)
    for body in bodies:
        if body.get("errors"):
            limited(body)
    assert len(hashing) == free, "refused attempts verify nothing"


async def test_the_back_off_doubles_up_to_its_cap(state: AppState) -> None:
    """The limiter's own arithmetic, in the mode of this pass (Redis in services mode, memory embedded)."""
    key = f"test:{uuid.uuid4()}"
    base, cap = 0.2, 0.5

    async def attempt() -> float | None:
        return await state.limiter.attempt({key: 2}, base_s=base, cap_s=cap)

    assert await attempt() is None
    assert await attempt() is None  # the second (the last free one) arms a lock of base
    wait = await attempt()
    assert wait is not None and 0 < wait <= base
    await asyncio.sleep(base + 0.05)
    assert await attempt() is None  # admitted; arms 2 x base, capped
    wait = await attempt()
    assert wait is not None and base < wait <= cap + 0.01
    await state.limiter.forgive(key)
    assert await attempt() is None and await attempt() is None


# ------------------------------------------------------------------------ emails are unique per tenant


async def test_creating_a_user_with_another_tenants_email_reveals_nothing(
    gql: GraphQLClient, from_address: Client, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    """The attack: createUser with an email of another tenant answered that the email exists. Emails are unique
    per tenant now: the call succeeds exactly as with a fresh email, and both people keep their own accounts."""
    admin = tenant.token(Role.ADMIN)
    theirs = other_tenant.emails[Role.VIEWER]
    fresh = f"fresh-{secrets.token_hex(4)}@example.org"
    mine_password = "my own password 123"
    answers = [
        (await gql.data(CREATE_USER, {"e": email, "p": mine_password}, admin))["createUser"]
        for email in (theirs, fresh)
    ]
    for answer, email in zip(answers, (theirs, fresh), strict=True):
        assert answer["errors"] == [], answer
        assert answer["user"]["email"] == email and answer["user"]["role"] == "VIEWER"

    # Each account signs in to its own tenant when the tenant is named ...
    client = from_address()
    own = payload(await login(client, theirs, mine_password, tenant.slug))
    assert own["token"] and own["user"]["id"] == answers[0]["user"]["id"]
    theirs_login = payload(await login(client, theirs, PASSWORD, other_tenant.slug))
    assert theirs_login["token"] and theirs_login["user"]["id"] != own["user"]["id"]
    # ... and without one the email is ambiguous: the one answer of every failure, whichever password.
    ambiguous = payload(await login(client, theirs, PASSWORD))
    wrong = payload(await login(client, unknown_email(tenant), PASSWORD))
    assert ambiguous == wrong and ambiguous["token"] is None
    # Listing users shows only your tenant's.
    listed = await gql.data("{ users(first: 100) { edges { node { id email } } } }", token=admin)
    ids = {e["node"]["id"] for e in listed["users"]["edges"]}
    assert own["user"]["id"] in ids and theirs_login["user"]["id"] not in ids


async def test_an_email_twice_in_your_own_tenant_is_refused(gql: GraphQLClient, tenant: TenantFixture) -> None:
    answer = (await gql.data(CREATE_USER, {"e": tenant.emails[Role.EDITOR].upper(), "p": PASSWORD}, tenant.token()))[
        "createUser"
    ]
    assert answer["user"] is None
    assert [(e["path"], e["code"]) for e in answer["errors"]] == [(["email"], "CONFLICT")], answer
    assert "your tenant already has" in answer["errors"][0]["message"]
