"""Redis going away: a started run is never lost, and a worker keeps polling instead of exiting."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from studio_gql.state import AppState
from studio_shared.types import RunStatus
from studio_worker import jobs
from tests.conftest import TenantFixture
from tests.worker.engine_harness import chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")


async def test_a_run_whose_dispatch_fails_is_still_started_and_runs(
    state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workflow_id = await publish(state, tenant, chain({"id": "t", "type": "transform", "config": {"value": 1}}))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("Redis is restarting")

    with monkeypatch.context() as patch:
        patch.setattr(state.control.queue, "enqueue_advance", broken)
        run, created = await state.control.start_run(tenant.id, "test", workflow_id)
    assert created
    assert "the sweep will dispatch it" in caplog.text
    finished = await wait_for(state, tenant.id, run.id, timeout=state.settings.requeue_after_s + 20)
    assert finished.run.status is RunStatus.SUCCEEDED


async def test_a_worker_keeps_polling_while_redis_is_away(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    async def poll(self: Any) -> None:
        calls.append("poll")
        if len(calls) <= 2:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(jobs.ClaimingWorker, "poll", poll)  # arq's iteration, under WakingWorker's backoff
    monkeypatch.setattr(jobs, "REDIS_RETRY_MAX_S", 0.01)
    worker = jobs.WakingWorker(
        functions=[jobs.func(jobs.advance_run, name="advance")],
        redis_settings=None,
        idle_poll_s=0.01,
        handle_signals=False,
    )
    caplog.set_level(logging.WARNING, "studio.worker")
    for _ in range(3):
        await worker._poll_iteration()  # what arq's loop calls: raises nothing while Redis is down
    assert calls == ["poll", "poll", "poll"]
    assert caplog.text.count("Redis unavailable") == 2
    assert worker._redis_down_for == 0.0, "back to normal polling once Redis answers"
