"""The arq side's typed context: what the worker's start-up opens, found again by every job."""

from __future__ import annotations

import asyncio
import math
import signal
import uuid
from typing import Any

import pytest

from studio_shared.settings import Settings
from studio_worker import jobs


class _Engine:
    def __init__(self) -> None:
        self.advanced: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.draining = asyncio.Event()

    async def advance(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        self.advanced.append((tenant_id, run_id))


def _context(engine: Any) -> jobs.WorkerContext:
    unused: Any = None  # the parts a job does not touch
    return jobs.WorkerContext(
        db=unused, sql=unused, bus=unused, queue=unused, run_engine=engine, wake_task=unused, heartbeat=unused
    )


async def test_a_job_drives_the_run_with_the_engine_the_start_up_put_in_arqs_context() -> None:
    engine = _Engine()
    ctx: dict[Any, Any] = {"redis": object(), "job_id": "j1", "job_try": 1}  # arq's own keys stay as they are
    _context(engine).put(ctx)
    tenant_id, run_id = uuid.uuid4(), uuid.uuid4()
    await jobs.advance_run(ctx, str(tenant_id), str(run_id))
    assert engine.advanced == [(tenant_id, run_id)]
    assert ctx["job_id"] == "j1" and set(ctx) == {"redis", "job_id", "job_try", jobs.CONTEXT_KEY}


async def test_a_job_without_the_start_up_says_so() -> None:
    assert jobs.WorkerContext.find({"redis": object()}) is None
    assert jobs.WorkerContext.find({jobs.CONTEXT_KEY: "something else"}) is None
    with pytest.raises(RuntimeError, match="start-up has not run"):
        await jobs.advance_run({}, str(uuid.uuid4()), str(uuid.uuid4()))


async def test_a_shutdown_signal_drains_the_engine_of_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    arqs: list[signal.Signals] = []
    monkeypatch.setattr(jobs.ClaimingWorker, "handle_sig_wait_for_completion", lambda _, signum: arqs.append(signum))
    engine = _Engine()
    worker = jobs.WakingWorker(
        functions=[jobs.func(jobs.advance_run, name="advance")],
        redis_settings=None,
        idle_poll_s=0.01,
        handle_signals=False,
    )
    worker.handle_sig_wait_for_completion(signal.SIGTERM)  # before the start-up: nothing to drain, no error
    _context(engine).put(worker.ctx)
    worker.handle_sig_wait_for_completion(signal.SIGTERM)
    assert engine.draining.is_set() and worker.wake.is_set()
    assert arqs == [signal.SIGTERM, signal.SIGTERM]  # arq's own handling follows ours


async def test_the_worker_process_stops_within_a_deadline_and_an_embedded_one_never_exits_its_host(
    settings: Settings,
) -> None:
    """``studio worker`` arms the exit deadline on SIGTERM (studio_shared.shutdown); a WakingWorker built by other
    code (tests, a host application) does not, so its stop can never end the process that hosts it. (Async: arq's
    Worker takes the running loop; in a plain test it would make one that is never closed.)"""
    worker = jobs.build_worker(settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/15"}))
    assert worker.exit_deadline and worker.stop_grace_s == max(1, math.ceil(settings.shutdown_grace_s))
    hosted = jobs.WakingWorker(
        functions=[jobs.func(jobs.advance_run, name="advance")],
        redis_settings=None,
        idle_poll_s=0.01,
        handle_signals=False,
    )
    assert not hosted.exit_deadline
