"""One admission for every kind of start, as each transport answers it: startRun, replayRun, webhook deliveries and
messages share their tenant's start pace (GraphQL ``RATE_LIMITED`` with ``retryAfterS``, HTTP 429 with
``Retry-After``) and its cap on live runs (``TOO_MANY_LIVE_RUNS``); a refused start stores nothing; a repeated
delivery is answered without taking a turn."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.types import RunStatus
from studio_worker.admission import START_TURN_WAIT_S
from tests.conftest import GraphQLClient, TenantFixture
from tests.gql.test_messaging import SEND, listener
from tests.gql.test_webhooks import Hook, make_hook
from tests.worker.engine_harness import actor, chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")

START = """mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code } } }"""
REPLAY = """mutation($id: ID!) { replayRun(id: $id) { run { id } errors { code } } }"""
LIMIT = 3


async def runs_of(state: AppState, tenant: TenantFixture) -> list[models.Run]:
    async with state.sessions() as s:
        return list(await s.scalars(sa.select(models.Run).where(models.Run.tenant_id == tenant.id)))


def refused_body(response: httpx.Response, error: str) -> dict[str, Any]:
    """A refused HTTP start: 429, ``Retry-After`` in whole seconds, a JSON body that says why and when."""
    assert response.status_code == 429, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["error"] == error and body["retry_after_s"] > 0, body
    assert int(response.headers["retry-after"]) >= max(1, int(body["retry_after_s"])), response.headers
    return body


async def test_webhook_deliveries_and_start_run_share_one_start_pace(
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A webhook flood is paced with the tenant's startRun calls and replayRuns, out of one budget: a second's
    worth at once, then evenly spaced turns waited for up to a second; beyond that, 429 with Retry-After.
    (Deliveries used to skip the pace altogether: 300 at 93/s were all accepted while startRun was paced.)"""
    monkeypatch.setattr(state.settings, "run_starts_per_tenant_per_s", LIMIT)
    hook = await make_hook(gql, state, tenant, http)
    first = await hook.post(b'{"n": 0}', hook.standard(b'{"n": 0}'))
    assert first.status_code == 202
    await asyncio.sleep(1.2)  # the pace is idle again: a full burst is available

    async def deliver(n: int) -> httpx.Response:
        body = f'{{"n": {n}}}'.encode()
        return await hook.post(body, hook.standard(body))

    answers = await asyncio.gather(
        *(deliver(n) for n in range(1, 3 * LIMIT + 1)),
        *(gql.raw(START, {"w": str(hook.workflow_id)}, tenant.token()) for _ in range(2 * LIMIT)),
        *(gql.raw(REPLAY, {"id": first.json()["run_id"]}, tenant.token()) for _ in range(LIMIT)),
    )
    deliveries = [a for a in answers if isinstance(a, httpx.Response)]
    calls = [a for a in answers if isinstance(a, dict)]
    accepted = [r for r in deliveries if r.status_code == 202]
    started = [c for c in calls if not c.get("errors")]
    limited = [c for c in calls if c.get("errors")]
    # One budget for all three kinds: a burst of LIMIT, then a turn every 1/LIMIT s for up to START_TURN_WAIT_S.
    paced = int(START_TURN_WAIT_S * LIMIT)
    admitted = len(accepted) + len(started)
    assert LIMIT + paced <= admitted <= LIMIT + paced + 1, (len(accepted), len(started))
    refused = [r for r in deliveries if r.status_code != 202]
    assert refused, "deliveries beyond the pace are refused"
    for response in refused:
        body = refused_body(response, "rate_limited")
        assert f"at most {LIMIT} runs per second" in body["message"], body
    for call in limited:
        (error,) = call["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryable"] is True
        assert 0 < error["extensions"]["retryAfterS"] <= 1 / LIMIT + 0.05
    assert len(await runs_of(state, tenant)) == 1 + admitted, "a refused start stores nothing"

    # A delivery sent again (its key known) is answered at once, beyond the pace: it starts nothing and takes no turn.
    again = await hook.post(b'{"n": 0}', hook.standard(b'{"n": 0}', msg_id=_msg_id(first)))
    assert again.status_code == 202 and again.headers.get("idempotent-replayed") == "true", again.text
    assert len(await runs_of(state, tenant)) == 1 + admitted


def _msg_id(response: httpx.Response) -> str:
    msg_id = response.request.headers["webhook-id"]
    assert isinstance(msg_id, str)
    return msg_id


async def test_messages_are_admitted_with_every_run_they_start_or_not_at_all(
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state.settings, "run_starts_per_tenant_per_s", LIMIT)
    channel = f"chat-{uuid.uuid4().hex[:6]}"
    await publish(state, tenant, listener(channel), name="one")
    await publish(state, tenant, listener(channel), name="two")
    key = (
        await gql.data(
            'mutation { createApiKey(name: "chat", role: OPERATOR) { key } }', token=tenant.token(Role.ADMIN)
        )
    )["createApiKey"]["key"]
    await state.control.admission.take_turns(tenant.id, 3 * LIMIT)  # the tenant's next turn is over a second away
    posted = await http.post(f"/messages/{channel}", json={"text": "hi"}, headers={"Authorization": f"Bearer {key}"})
    body = refused_body(posted, "rate_limited")
    assert f"at most {LIMIT} runs per second" in body["message"]
    sent = await gql.raw(SEND, {"c": channel, "t": "hello"}, tenant.token(Role.OPERATOR))
    (error,) = sent["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfterS"] > 0
    async with state.sessions() as s:
        stored = await s.scalar(sa.select(sa.func.count()).where(models.Message.tenant_id == tenant.id))
    assert stored == 0 and await runs_of(state, tenant) == [], "a refused message stores neither itself nor a run"

    await asyncio.sleep(3.2)  # the turns taken above have passed
    ok = await http.post(f"/messages/{channel}", json={"text": "hi"}, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 202 and len(ok.json()["run_ids"]) == 2, ok.text  # one message, both listeners, two turns


async def test_the_live_run_cap_answers_every_transport_with_too_many_live_runs(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture, http: httpx.AsyncClient
) -> None:
    async with state.sessions.begin() as s:
        await s.execute(sa.update(models.Tenant).where(models.Tenant.id == tenant.id).values(max_live_runs=2))
    parked = await publish(state, tenant, chain({"id": "wait", "type": "delay", "config": {"seconds": 3600}}))
    live = [(await state.control.start_run(tenant.id, "test", parked))[0] for _ in range(2)]
    for run in live:
        await wait_for(state, tenant.id, run.id, {RunStatus.WAITING})
    answer = await gql.raw(START, {"w": str(parked)}, tenant.token())
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_LIVE_RUNS" and error["extensions"]["retryable"] is True, error
    assert "at most 2 live runs" in error["message"] and error["extensions"]["retryAfterS"] > 0, error
    hook: Hook = await make_hook(gql, state, tenant, http)
    body = refused_body(await hook.post(b"{}", hook.standard(b"{}")), "too_many_live_runs")
    assert "at most 2 live runs" in body["message"]
    assert len(await runs_of(state, tenant)) == 2
    for run in live:
        await state.control.cancel_run(tenant.id, actor(tenant), run.id)
    assert (await hook.post(b"{}", hook.standard(b"{}"))).status_code == 202, "room again once runs finished"
