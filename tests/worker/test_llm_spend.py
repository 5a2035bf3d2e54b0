"""Model budgets that stop spending and streamed answers, end to end against the scripted model (tests/servers.py).

Budgets: per step (max_tokens_total, max_cost_usd), per run (settings) and per tenant per day (an ADMIN's
setModelBudget) refuse a call before it is made, with a non-retryable BUDGET_EXCEEDED naming the budget and what is
left; concurrent steps reserve their worst case first, so 20 agents at once cannot overshoot the day. Streaming:
the answer is assembled from SSE chunks (tool calls, usage in the final chunk), ``step.delta`` goes out live but is
never stored, and a stream cut in the middle is retried by the step's retry policy with the whole answer memoized.
"""

from __future__ import annotations

import math
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.rbac import Role
from studio_shared.store import llm_budget
from studio_worker.nodes.base import NodeError
from studio_worker.nodes.llm import complete, model_credential
from tests.conftest import SERVICES, GraphQLClient, TenantFixture, Workers
from tests.gql.wsclient import WsClient
from tests.servers import FakeModel
from tests.worker.engine_harness import actor, chain, direct_steps, load, publish, run_once, wait_for
from tests.worker.test_nodes_io import add_credential
from tests.worker.test_recovery import stop_worker, until

pytestmark = pytest.mark.usefixtures("workers")
HI = [{"role": "user", "content": "hi"}]
SET_BUDGET = """mutation($t: Int, $u: Float) { setModelBudget(dailyMaxTokens: $t, dailyMaxCostUsd: $u) {
  budget { dailyMaxTokens usedTokens reservedTokens tokensLeft } errors { code path message } } }"""


def node(id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "config": config}


@pytest.fixture(autouse=True)
def fresh(model: FakeModel) -> None:
    model.script.clear()
    model.requests.clear()
    model.headers.clear()


async def openai(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    await add_credential(state, tenant, "llm", "openai", {"api_key": "k-1", "base_url": f"{model.url}/v1"})


async def calls_of(state: AppState, run_id: uuid.UUID) -> list[models.LlmCall]:
    async with state.sessions() as s:
        return list(await s.scalars(sa.select(models.LlmCall).where(models.LlmCall.run_id == run_id)))


async def today(state: AppState, tenant: TenantFixture) -> llm_budget.Spent:
    scope = llm_budget.day_scope(utcnow().date())
    async with state.db_engine.connect() as conn:
        return (await llm_budget.spent(conn, tenant.id, [scope]))[scope]


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        sys.stdout.write(f"\n{line}\n")


# -- budgets -------------------------------------------------------------------------------------------------


async def test_a_step_budget_refuses_the_call_before_it_is_made(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, max_tokens=100, max_tokens_total=50)
    chat["retry"] = {"max_attempts": 3, "initial_interval_s": 0.01}
    finished = await run_once(state, tenant, chain(chat))
    error = finished.steps["chat"].error
    assert finished.run.status.value == "FAILED"
    assert error["type"] == "BUDGET_EXCEEDED" and error["retryable"] is False
    assert "max_tokens_total (50 tokens)" in error["message"] and "50 tokens left" in error["message"]
    assert model.requests == [], "the call was not made"
    assert finished.steps["chat"].attempt == 1, "not retried: waiting does not refill a budget"


async def test_a_step_budget_counts_every_call_of_an_agent(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    """Each call uses 10 + 5 tokens at the scripted model but may use its prompt estimate + max_tokens: the first
    two fit a 130-token step budget, the third (a longer transcript, about 190 tokens) does not."""
    await openai(state, tenant, model)
    model.script += [{"tool_calls": [("nothing", {})]}] * 3
    agent = node("agent", "agent", model="m", credential="llm", instructions="Go.", max_tokens=1, max_tokens_total=130)
    finished = await run_once(state, tenant, chain(agent))
    error = finished.steps["agent"].error
    assert error["type"] == "BUDGET_EXCEEDED", error
    assert len(model.requests) == 2 and "100 tokens left" in error["message"]


async def test_the_tenants_daily_budget_is_set_by_an_admin_and_refuses_calls(
    state: AppState, tenant: TenantFixture, model: FakeModel, gql: GraphQLClient
) -> None:
    await openai(state, tenant, model)
    refused = await gql.raw(SET_BUDGET, {"t": 10}, tenant.token(Role.EDITOR))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await gql.data(SET_BUDGET, {"t": -1}, tenant.token())
    assert bad["setModelBudget"]["errors"][0]["path"] == ["dailyMaxTokens"]
    done = await gql.data(SET_BUDGET, {"t": 200}, tenant.token())
    assert done["setModelBudget"]["budget"]["dailyMaxTokens"] == 200
    async with state.sessions() as s:
        entry = await s.scalar(
            sa.select(models.AuditEntry).where(
                models.AuditEntry.tenant_id == tenant.id, models.AuditEntry.action == "tenant.model_budget"
            )
        )
    assert entry is not None and entry.data == {"daily_max_tokens": 200, "daily_max_cost_usd": None}

    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, max_tokens=60)
    first = await run_once(state, tenant, chain(chat))
    assert first.run.status.value == "SUCCEEDED", first.steps["chat"].error
    budgets = first.steps["chat"].output["usage"]["budgets"]
    assert budgets["tenant_day"] == {
        "tokens": 15,
        "max_tokens": 200,
        "tokens_left": 185,
        "cost_usd": 0.0,
        "max_cost_usd": None,
    }
    assert budgets["step"]["tokens"] == 15 and budgets["step"]["max_tokens"] is None
    seen = await gql.data("{ modelBudget { usedTokens reservedTokens tokensLeft } }", None, tenant.token(Role.VIEWER))
    assert seen["modelBudget"] == {"usedTokens": 15, "reservedTokens": 0, "tokensLeft": 185}

    big = node("chat", "llm.chat", model="m", credential="llm", messages=HI, max_tokens=190)
    second = await run_once(state, tenant, chain(big))
    error = second.steps["chat"].error
    assert error["type"] == "BUDGET_EXCEEDED" and error["retryable"] is False
    assert "the tenant's daily budget (200 tokens)" in error["message"] and "185 tokens left" in error["message"]
    assert len(model.requests) == 1
    assert (await today(state, tenant)).reserved_tokens == 0, "the refused call holds nothing"


async def test_run_budget_and_cost_budgets(state: AppState, tenant: TenantFixture, model: FakeModel) -> None:
    """The run's budget (a setting) counts every step's calls; a cost limit refuses a model without a price."""
    await openai(state, tenant, model)
    async with direct_steps(state, tenant, "llm.chat", "chat") as make:
        ctx = await make({"llm_run_max_tokens": 60})
        credential = await model_credential(ctx, {"credential": "llm"})
        request = {"model": "m", "messages": HI, "max_tokens": 20}
        await complete(ctx, credential, request, index=0)  # reserves 35 (a prompt estimate + 20), uses 15
        await complete(ctx, credential, request, index=1)
        with pytest.raises(NodeError) as refused:
            await complete(ctx, credential, request, index=2)  # 30 used + 35 > 60
        assert refused.value.type == "BUDGET_EXCEEDED" and "the run's budget" in refused.value.message

        priced = await make({"llm_prices": {"m": {"prompt": 1.0, "completion": 2.0}}})
        with pytest.raises(NodeError) as unpriced:
            await complete(priced, credential, {**request, "model": "other"}, config={"max_cost_usd": 0.01})
        assert "model 'other' has no price" in unpriced.value.message
        with pytest.raises(NodeError) as costly:
            await complete(priced, credential, {**request, "max_tokens": 10_000}, config={"max_cost_usd": 0.001})
        assert "max_cost_usd (0.001 USD)" in costly.value.message
        answer = await complete(priced, credential, request, config={"max_cost_usd": 0.001})
        assert answer["usage"]["total_tokens"] == 15
        async with state.sessions() as s:
            cost = await s.scalar(sa.select(models.LlmCall.cost_usd).where(models.LlmCall.run_id == priced.run_id))
        assert cost == pytest.approx((10 * 1.0 + 5 * 2.0) / 1_000_000)


async def test_twenty_concurrent_agents_cannot_overshoot_a_small_daily_budget(
    state: AppState, tenant: TenantFixture, model: FakeModel, gql: GraphQLClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each agent's one call really uses what it may (its max_tokens): 20 at once against a budget for ~6."""
    await openai(state, tenant, model)
    limit, max_tokens = 600, 80
    await gql.data(SET_BUDGET, {"t": limit}, tenant.token())
    usage = {"prompt_tokens": 12, "completion_tokens": max_tokens, "total_tokens": 12 + max_tokens}
    model.script += [{"content": "done", "usage": usage, "delay_s": 0.05, "chunk_chars": 2}] * 20
    agent = node("agent", "agent", model="m", credential="llm", instructions="Go.", max_tokens=max_tokens, stream=True)
    workflow_id = await publish(state, tenant, chain(agent))
    runs = [(await state.control.start_run(tenant.id, "test", workflow_id))[0].id for _ in range(20)]
    finished = [await wait_for(state, tenant.id, run_id, timeout=60) for run_id in runs]
    succeeded = [f for f in finished if f.run.status.value == "SUCCEEDED"]
    refused = [f for f in finished if f.steps["agent"].error and f.steps["agent"].error["type"] == "BUDGET_EXCEEDED"]
    assert len(succeeded) + len(refused) == 20 and succeeded and refused
    spent = await today(state, tenant)
    ledger = 0
    for each in finished:
        ledger += sum(c.prompt_tokens + c.completion_tokens for c in await calls_of(state, each.run.id))
    assert spent.tokens == ledger == len(model.requests) * usage["total_tokens"], "every call charged once"
    assert spent.reserved_tokens == 0, "every reservation settled or released"
    overshoot = spent.tokens - limit
    assert overshoot <= max_tokens, f"overshoot {overshoot} tokens"
    report(
        capsys,
        f"20 concurrent agents vs a {limit}-token daily budget: {len(succeeded)} ran, {len(refused)} refused, "
        f"{spent.tokens} tokens used, worst overshoot {max(0, overshoot)} tokens (bound: one call's max_tokens "
        f"{max_tokens})",
    )


# -- streaming -----------------------------------------------------------------------------------------------


async def test_a_streamed_answer_is_assembled_with_the_usage_of_its_final_chunk(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    usage = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
    model.script.append({"content": "Streams arrive in pieces.", "usage": usage})
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    finished = await run_once(state, tenant, chain(chat))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["chat"].error
    output = finished.steps["chat"].output
    assert output["text"] == "Streams arrive in pieces."
    assert {k: output["usage"][k] for k in usage} == usage
    [request] = model.requests
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    [call] = await calls_of(state, finished.run.id)
    assert (call.prompt_tokens, call.completion_tokens) == (7, 9)
    assert not any(e.kind == "step.delta" for e in finished.events), "deltas are never stored"


async def test_streamed_tool_calls_are_assembled_from_fragments(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script += [{"tool_calls": [("lookup", {"q": "a long query"})]}, {"content": "found"}]
    agent = node("agent", "agent", model="m", credential="llm", instructions="Go.", stream=True)
    finished = await run_once(state, tenant, chain(agent))
    assert finished.steps["agent"].output["answer"] == "found"
    [assistant] = [m for m in model.requests[1]["messages"] if m["role"] == "assistant"]
    [call] = assistant["tool_calls"]
    assert call["function"] == {"name": "lookup", "arguments": '{"q": "a long query"}'}
    assert call["id"] == "call_0_1"


async def test_a_stream_cut_in_the_middle_is_retried_and_the_whole_answer_memoized(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    text = "A whole answer, written out in many small chunks."
    model.script += [{"content": text, "cut": 3}, {"content": text}]
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    chat["retry"] = {"max_attempts": 2, "initial_interval_s": 0.01, "jitter": False}
    finished = await run_once(state, tenant, chain(chat))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["chat"].error
    assert finished.steps["chat"].output["text"] == text
    assert finished.steps["chat"].attempt == 2 and len(model.requests) == 2
    [call] = await calls_of(state, finished.run.id)
    assert call.response["choices"][0]["message"]["content"] == text
    assert (await today(state, tenant)).tokens == 15, "the cut call was not charged"

    model.script.append({"content": text, "cut": 2})
    once = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    failed = await run_once(state, tenant, chain(once))
    error = failed.steps["chat"].error
    assert error["type"] == "ConnectionError" and error["retryable"] is True
    assert await calls_of(state, failed.run.id) == []
    assert (await today(state, tenant)).reserved_tokens == 0


async def test_a_429_with_retry_after_is_honoured_when_streaming(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script += [{"status": 429, "headers": {"Retry-After": "0.2"}}, {"content": "fine"}]
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].output["text"] == "fine"
    assert len(model.requests) == 2
    assert any("retrying in 0.2 s" in line for line in finished.steps["chat"].envelope["logs"])


async def test_a_provider_that_ignores_stream_is_understood(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    await openai(state, tenant, model)
    model.script.append({"content": "all at once", "no_stream": True})
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    finished = await run_once(state, tenant, chain(chat))
    assert finished.steps["chat"].output["text"] == "all at once", finished.steps["chat"].error


DELTAS = """subscription($id: ID!) { runEvents(runId: $id) { seq kind stepId final data } }"""


async def test_the_run_monitor_subscription_sees_the_answer_grow(
    state: AppState, tenant: TenantFixture, model: FakeModel, live_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await openai(state, tenant, model)
    text = "".join(f"word{i} " for i in range(40))
    size = 6
    model.script.append({"content": text, "delay_s": 0.03, "chunk_chars": size})
    chat = node("chat", "llm.chat", model="m", credential="llm", messages=HI, stream=True)
    workflow_id = await publish(state, tenant, chain(chat))
    first_chunk = len(model.chunk_sent_at)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    events: list[dict[str, Any]] = []
    received: list[float] = []
    async with WsClient(live_url, tenant.token(Role.VIEWER)) as ws:
        async for data in ws.results(await ws.subscribe(DELTAS, {"id": str(run.id)}), 30):
            received.append(time.perf_counter())
            events.append(data["runEvents"])
    deltas = [e for e in events if e["kind"] == "STEP_DELTA"]
    assert len(deltas) >= 2, "the answer arrived in more than one piece"
    texts = [d["data"]["text"] for d in deltas]
    assert all(text.startswith(t) for t in texts) and texts == sorted(texts, key=len), "each a longer prefix"
    assert {d["stepId"] for d in deltas} == {"chat"}
    stored = [e for e in events if e["kind"] != "STEP_DELTA"]
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1)), "stored events keep their own seqs"
    done = await wait_for(state, tenant.id, run.id)
    assert done.steps["chat"].output["text"] == text, "a late reader gets the stored final text"
    # Measured, not asserted: from the model server sending the newest chunk a delta holds to the subscription
    # client (a websocket, through the worker, the bus and the API) receiving it; the same clock in this process.
    sent = model.chunk_sent_at[first_chunk:]
    lags = sorted(
        (at - sent[math.ceil(len(e["data"]["text"]) / size) - 1]) * 1000
        for e, at in zip(events, received, strict=True)
        if e["kind"] == "STEP_DELTA"
    )
    report(
        capsys,
        f"streaming latency, model chunk -> runEvents subscriber over websocket: {len(lags)} deltas for "
        f"{len(sent)} chunks, p50 {lags[len(lags) // 2]:.1f} ms, max {lags[-1]:.1f} ms",
    )
    # A late subscriber (after the run) replays only stored events: no deltas.
    async with WsClient(live_url, tenant.token(Role.VIEWER)) as ws:
        late = [d["runEvents"] async for d in ws.results(await ws.subscribe(DELTAS, {"id": str(run.id)}), 30)]
    assert [e["kind"] for e in late if e["kind"] == "STEP_DELTA"] == []


async def test_a_reservation_left_by_a_dead_worker_is_released_when_the_call_runs_again(
    state: AppState, tenant: TenantFixture, model: FakeModel
) -> None:
    """The worker died between reserving and settling: the step's re-execution (same call id) releases the old
    reservation before taking its own, so the day is charged once; a lease releases what nobody runs again."""
    await openai(state, tenant, model)
    async with direct_steps(state, tenant, "llm.chat", "chat") as make:
        ctx = await make({"llm_tenant_daily_max_tokens": 1000})
        credential = await model_credential(ctx, {"credential": "llm"})
        request = {"model": "m", "messages": HI, "max_tokens": 100}
        from studio_worker.nodes import llm_budget as budget
        from studio_worker.nodes.outputs import derived_id

        plan = await budget.plan(ctx, {}, request)
        await budget.reserve(ctx, plan, derived_id(ctx, "llm", "0"), request)  # ... and the worker dies
        assert (await today(state, tenant)).reserved_tokens > 100
        await complete(ctx, credential, request)  # the re-executed step
        spent = await today(state, tenant)
        assert (spent.tokens, spent.reserved_tokens) == (15, 0)

        orphan = uuid.uuid4()
        await budget.reserve(ctx, plan, orphan, request)
        async with state.db_engine.begin() as conn:
            await llm_budget.reserve(conn, tenant.id, uuid.uuid4(), [], 0, 0.0, 1, now=utcnow() + _hour())
        spent = await today(state, tenant)
        assert spent.reserved_tokens == 0, "an expired lease is released by the next reservation"


def _hour() -> Any:
    from datetime import timedelta

    return timedelta(hours=1)


# -- kill -9 of the worker mid-call ----------------------------------------------------------------------------

LONG = "".join(f"piece{i} " for i in range(60))


@pytest.fixture
def replace_workers(workers: Workers) -> Iterator[Workers]:
    """Whatever a test kills, the next test finds two workers again."""
    yield workers
    while len(workers.procs) < 2:
        workers.start()


@pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass")
@pytest.mark.parametrize("moment", ["mid-stream", "in a 429's Retry-After", "mid-stream after a tool call"])
async def test_a_kill_9_mid_call_charges_every_call_once(
    state: AppState, tenant: TenantFixture, model: FakeModel, replace_workers: Workers, moment: str
) -> None:
    """The worker dies during a model call; the survivor re-runs the step: the interrupted call's reservation is
    released (same call id), a memoized earlier call is not asked or charged again, and the day is charged exactly
    what the ledger holds."""
    await openai(state, tenant, model)
    slow = {"content": LONG, "delay_s": 0.1, "chunk_chars": 6}
    if moment == "mid-stream":
        model.script.append(slow)
        step = node("s", "llm.chat", model="m", credential="llm", messages=HI, stream=True, max_tokens=50)
        asked_before_kill, calls = 1, 1
    elif moment == "in a 429's Retry-After":
        model.script.append({"status": 429, "headers": {"Retry-After": "8"}})
        step = node("s", "llm.chat", model="m", credential="llm", messages=HI, stream=True, max_tokens=50)
        asked_before_kill, calls = 1, 1
    else:
        model.script += [{"tool_calls": [("nothing", {})]}, slow]
        step = node("s", "agent", model="m", credential="llm", instructions="Go.", stream=True, max_tokens=50)
        asked_before_kill, calls = 2, 2
    step["retry"] = {"max_attempts": 1}
    await gql_budget(state, tenant, 100_000)
    workflow_id = await publish(state, tenant, chain(step))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    streamed = model.streamed
    await until(lambda: len(model.requests) == asked_before_kill, 20, "the call to start")
    if "stream" in moment:
        await until(lambda: model.streamed >= streamed + 3, 20, "the stream to be under way")
    owner = (await wait_for_lease(state, tenant, run.id)).split(":")
    victim = next(p for p in replace_workers.procs if p.pid == int(owner[1]))
    assert (await today(state, tenant)).reserved_tokens > 0, "the call in flight holds a reservation"
    model.script.append({"content": "done"})
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    done = await wait_for(state, tenant.id, run.id, timeout=60)
    assert done.run.status.value == "SUCCEEDED", done.steps["s"].error
    assert len(model.requests) == asked_before_kill + 1, "only the interrupted call is asked again"
    ledger = await calls_of(state, run.id)
    assert len(ledger) == calls
    spent = await today(state, tenant)
    assert spent.tokens == 15 * calls == sum(c.prompt_tokens + c.completion_tokens for c in ledger)
    assert spent.reserved_tokens == 0, "the dead worker's reservation was released"


async def gql_budget(state: AppState, tenant: TenantFixture, tokens: int) -> None:
    async with state.sessions.begin() as s:
        await llm_budget.set_daily_limits(s, tenant.id, actor(tenant), tokens, None)


async def wait_for_lease(state: AppState, tenant: TenantFixture, run_id: uuid.UUID) -> str:
    owner = (await load(state, tenant.id, run_id)).run.lease_owner
    assert owner is not None, "a running run holds a lease"
    return owner
