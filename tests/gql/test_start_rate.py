"""One tenant's flood of startRun calls is slowed down (RATE_LIMITED, retryable) without touching other tenants."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, publish

START = """mutation($w: ID!) { startRun(workflowId: $w) { run { id } errors { code } } }"""
LIMIT = 3


async def _runs(state: AppState, tenant: TenantFixture) -> int:
    async with state.sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).where(models.Run.tenant_id == tenant.id)) or 0)


async def test_a_tenant_over_its_start_rate_is_told_when_to_retry_and_others_are_untouched(
    gql: GraphQLClient,
    state: AppState,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state.settings, "run_starts_per_tenant_per_s", LIMIT)
    step = {"id": "a", "type": "transform", "config": {"value": 1}}
    flooding, quiet = await publish(state, tenant, chain(step)), await publish(state, other_tenant, chain(step))
    answers = [await gql.raw(START, {"w": str(flooding)}, tenant.token()) for _ in range(4 * LIMIT)]
    started = [a for a in answers if (a.get("data") or {}).get("startRun")]
    refused = [a for a in answers if a.get("errors")]
    assert refused, "a burst over the limit is refused"
    assert len(started) <= 2 * LIMIT, "at most the limit per one-second window (the burst may straddle two)"
    (error,) = refused[0]["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryable"] is True
    assert 1 <= error["extensions"]["retryAfterS"] <= 1 and f"{LIMIT} runs per second" in error["message"]
    assert await _runs(state, tenant) == len(started), "a refused start stores nothing"
    other = await gql.raw(START, {"w": str(quiet)}, other_tenant.token())
    assert other["data"]["startRun"]["run"]["id"], "another tenant starts at once"
