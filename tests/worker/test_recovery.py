"""Worker processes that die or are stopped mid-step: runs move to another worker and nothing is lost.

Services mode only (the embedded mode has no worker process to stop; its in-process engine shares the
API's fate and drains on shutdown the same way). Recovery never waits for a step's timeout:

- ``kill -9``: the run's lease expires after ``run_lease_s`` and another worker's sweep takes it over;
- SIGTERM: the worker starts no new step, finishes the running ones within ``shutdown_grace_s`` and hands
  the run over at once; a step still running after the grace is cancelled and the lease released, so the
  other worker re-runs it (as an interruption, which spends no retry budget) without waiting for the lease.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.types import RunStatus
from tests.conftest import SERVICES, TenantFixture, Workers
from tests.nodes_plugin import sink_lines
from tests.worker.engine_harness import Finished, assert_events_contiguous, chain, load, publish, wait_for

pytestmark = [
    pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass (make test)"),
    pytest.mark.slow,
]


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` until it is true; returns the monotonic time it became so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Scenario:
    """before → slow (a sleep, one attempt allowed) → after, each recording its executions at a sink."""

    def __init__(self, state: AppState, tenant: TenantFixture, tmp_path: Path, seconds: float) -> None:
        self.state, self.tenant, self.seconds = state, tenant, seconds
        self.sink = str(tmp_path / "sink")
        self.definition = chain(
            {"id": "before", "type": "test.count", "config": {"sink": self.sink}},
            {
                "id": "slow",
                "type": "test.sleep",
                "config": {"seconds": seconds, "sink": self.sink},
                "retry": {"max_attempts": 1},
            },
            {"id": "after", "type": "test.count", "config": {"sink": self.sink}},
        )
        self.run_id: uuid.UUID

    def calls(self) -> list[tuple[Any, Any]]:
        return [(line["step"], line["what"]) for line in sink_lines(self.sink)]

    async def start_and_find_the_worker(self, workers: Workers) -> subprocess.Popen[bytes]:
        workflow_id = await publish(self.state, self.tenant, self.definition)
        run, _ = await self.state.control.start_run(self.tenant.id, "test", workflow_id)
        self.run_id = run.id
        await until(lambda: self.calls().count(("slow", "start")) == 1, 20, "the slow step to start")
        owner = (await load(self.state, self.tenant.id, self.run_id)).run.lease_owner
        assert owner is not None, "a running run holds a lease"
        pid = int(owner.split(":")[1])
        return next(p for p in workers.procs if p.pid == pid)

    async def finished(self) -> Finished:
        done = await wait_for(self.state, self.tenant.id, self.run_id, timeout=30)
        assert done.run.status is RunStatus.SUCCEEDED, done.run.error
        calls = self.calls()
        assert calls.count(("before", "call")) == 1, "a finished step is not run again"
        assert calls.count(("after", "call")) == 1
        assert calls.count(("slow", "done")) == 1
        assert done.steps["slow"].output == {"slept": self.seconds}
        assert_events_contiguous(done)
        return done


async def stop_worker(workers: Workers, victim: subprocess.Popen[bytes], sig: signal.Signals) -> float:
    os.kill(victim.pid, sig)
    started = time.monotonic()
    await until(lambda: victim.poll() is not None, 30, f"the worker to exit after {sig.name}")
    workers.procs.remove(victim)
    return time.monotonic() - started


async def survivor_counts(url: str) -> dict[str, float]:
    """A worker's recovery counters (tests/gql/test_metrics.py tests the rest of its series)."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    counts = {"studio_runs_recovered_total": 0.0, "studio_steps_interrupted_total": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in counts:
                counts[sample.name] += sample.value
    return counts


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        sys.stdout.write(f"\n{line}\n")


@pytest.fixture
def replace_workers(workers: Workers) -> Any:
    """Whatever a test stops, the next test finds two workers again."""
    yield workers
    while len(workers.procs) < 2:
        workers.start()


async def test_kill_9_of_the_worker_running_a_step(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = Scenario(state, tenant, tmp_path, seconds=1.5)
    victim = await scenario.start_and_find_the_worker(replace_workers)
    [survivor] = [replace_workers.metrics_url_of[p.pid] for p in replace_workers.procs if p is not victim]
    before = await survivor_counts(survivor)
    killed_at = time.monotonic()
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    resumed_at = await until(lambda: scenario.calls().count(("slow", "start")) == 2, 30, "the step to run again")
    done = await scenario.finished()
    finished_at = time.monotonic()
    # The survivor's metrics moved: this run taken over after its lease expired, its step interrupted and run again.
    # At least: the session's workers are shared, and the survivor also takes over whatever else a killed worker held
    # (this test's victim, or an earlier test's) as its lease expires. The run's own count is exact (below).
    after = await survivor_counts(survivor)
    assert after["studio_runs_recovered_total"] - before["studio_runs_recovered_total"] >= 1
    assert after["studio_steps_interrupted_total"] - before["studio_steps_interrupted_total"] >= 1

    assert done.run.lease_owner is None and done.steps["slow"].interruptions == 1
    assert [e.kind for e in done.events].count("step.interrupted") == 1, "max_attempts 1: no retry budget spent"
    recovery, lease = resumed_at - killed_at, state.settings.run_lease_s
    assert recovery < lease + 5, f"recovery took {recovery:.1f}s; the lease is {lease}s"
    report(
        capsys,
        f"kill -9 recovery: step re-started {recovery:.2f}s after the kill, run finished after "
        f"{finished_at - killed_at:.2f}s (lease {lease}s, sweep every {state.settings.sweep_interval_s}s)",
    )


async def test_sigterm_lets_the_running_step_finish_then_hands_the_run_over(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grace = state.settings.shutdown_grace_s
    scenario = Scenario(state, tenant, tmp_path, seconds=grace / 2)
    victim = await scenario.start_and_find_the_worker(replace_workers)
    exit_s = await stop_worker(replace_workers, victim, signal.SIGTERM)
    done = await scenario.finished()

    assert victim.returncode == 0, "a drained worker exits cleanly"
    assert scenario.calls().count(("slow", "start")) == 1, "the step finished where it started"
    assert done.steps["slow"].interruptions == 0
    assert "step.interrupted" not in [e.kind for e in done.events]
    assert exit_s < grace + 1, f"the worker took {exit_s:.1f}s to exit; the grace is {grace}s"
    report(capsys, f"SIGTERM drain: worker exited {exit_s:.2f}s after the signal, its step done, run handed over")


async def test_sigterm_past_the_grace_releases_the_run_at_once(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grace, lease = state.settings.shutdown_grace_s, state.settings.run_lease_s
    scenario = Scenario(state, tenant, tmp_path, seconds=grace + 2)
    victim = await scenario.start_and_find_the_worker(replace_workers)
    signalled_at = time.monotonic()
    await stop_worker(replace_workers, victim, signal.SIGTERM)
    resumed_at = await until(lambda: scenario.calls().count(("slow", "start")) == 2, 30, "the step to run again")
    done = await scenario.finished()

    assert done.steps["slow"].interruptions == 1, "cut short by shutdown: an interruption, not a failed attempt"
    recovery = resumed_at - signalled_at
    # Waiting for the lease would take grace + lease (the heartbeat renews it until the process exits).
    assert recovery < grace + lease / 2 + 1, f"the step re-started {recovery:.1f}s after SIGTERM"
    report(capsys, f"SIGTERM past the grace ({grace}s): step re-started elsewhere {recovery:.2f}s after the signal")


async def test_kill_9_during_a_fan_out_loses_no_item_and_runs_none_twice(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = str(tmp_path / "sink")
    child = await publish(
        state, tenant, chain({"id": "nap", "type": "test.sleep", "config": {"seconds": 0.4, "sink": sink}}), name="c"
    )
    parent = chain(
        {
            "id": "each",
            "type": "foreach",
            "config": {"items": "{{ input.items }}", "workflow": str(child), "input": {}, "max_concurrency": 4},
        }
    )
    workflow_id = await publish(state, tenant, parent, name="fan-out")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"items": list(range(16))})
    await until(lambda: [line["what"] for line in sink_lines(sink)].count("start") >= 6, 30, "the fan-out to be busy")
    killed_at = time.monotonic()
    await stop_worker(replace_workers, replace_workers.procs[0], signal.SIGKILL)
    done = await wait_for(state, tenant.id, run.id, timeout=60)
    finished_in = time.monotonic() - killed_at

    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert len(done.steps["each"].output["results"]) == 16 and done.steps["each"].output["errors"] == []
    lines = sink_lines(sink)
    finished_runs = [line["run"] for line in lines if line["what"] == "done"]
    assert len(finished_runs) == 16 and len(set(finished_runs)) == 16, "every item finished once, in its own run"
    async with state.sessions() as s:
        indexes = list(
            await s.scalars(
                sa.select(models.Run.item_index).where(
                    models.Run.tenant_id == tenant.id, models.Run.parent_run_id == run.id
                )
            )
        )
    assert sorted(indexes) == list(range(16)), "one child run per item"
    restarted = len(lines) - 2 * 16
    report(
        capsys,
        f"kill -9 mid-fan-out: 16 items, none lost or repeated; {restarted} interrupted step(s) re-run; "
        f"the fan-out finished {finished_in:.2f}s after the kill",
    )


async def test_kill_9_around_failures_starts_exactly_one_error_run_per_failed_run(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twelve runs fail one after another while a worker is killed: each failed run starts exactly one error run,
    whether its final transaction committed before the kill (the error run's rows with it) or after, on the other
    worker (a run re-driven to its failure)."""
    sink, handled = str(tmp_path / "sink"), str(tmp_path / "handled")
    handler = await publish(
        state, tenant, chain({"id": "note", "type": "test.count", "config": {"sink": handled}}), name="on-error"
    )
    failing = await publish(
        state,
        tenant,
        chain(
            {"id": "nap", "type": "test.sleep", "config": {"seconds": 0.5, "sink": sink}, "retry": {"max_attempts": 1}},
            {"id": "boom", "type": "fail", "config": {"message": "broken"}},
        ),
        name="failing",
    )
    async with state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Workflow).where(models.Workflow.id == failing).values(error_workflow_id=handler)
        )
    runs = []
    for _ in range(12):
        run, _ = await state.control.start_run(tenant.id, "test", failing)
        runs.append(run.id)
    await until(lambda: [line["what"] for line in sink_lines(sink)].count("done") >= 3, 30, "the first failures")
    await stop_worker(replace_workers, replace_workers.procs[0], signal.SIGKILL)
    failed = [await wait_for(state, tenant.id, run_id, timeout=60) for run_id in runs]

    assert all(f.run.status is RunStatus.FAILED for f in failed)
    async with state.sessions() as s:
        error_runs = list(
            await s.scalars(
                sa.select(models.Run).where(models.Run.tenant_id == tenant.id, models.Run.workflow_id == handler)
            )
        )
    assert len(error_runs) == 12, "exactly one error run per failed run"
    assert sorted(r.idempotency_key or "" for r in error_runs) == sorted(f"error:{run_id}" for run_id in runs)
    assert {f.run.error_run_id for f in failed} == {r.id for r in error_runs}
    for f in failed:
        assert [e.data["started"] for e in f.events if e.kind == "run.error_workflow"] == [True]
    done = [await wait_for(state, tenant.id, r.id, timeout=60) for r in error_runs]
    assert all(d.run.status is RunStatus.SUCCEEDED for d in done)
    assert {line["run"] for line in sink_lines(handled)} == {str(r.id) for r in error_runs}
    interrupted = sum(f.steps["nap"].interruptions for f in failed)
    report(capsys, f"kill -9 around 12 failures: 12 error runs, one each; {interrupted} failing step(s) re-run")
