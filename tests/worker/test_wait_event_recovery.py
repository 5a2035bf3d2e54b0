"""``kill -9`` of a worker around a wait.event step: the run is not lost and its resume is applied exactly once.

Services mode only, with the harness of tests/worker/test_recovery.py (two ``studio worker`` processes; a killed
worker's runs move on after ``run_lease_s``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_gql.state import AppState
from studio_shared.store.event_waits import ResumeRefused
from studio_shared.types import RunStatus, StepStatus
from tests.conftest import SERVICES, TenantFixture, Workers
from tests.nodes_plugin import sink_lines
from tests.worker.engine_harness import assert_events_contiguous, chain, load, wait_for
from tests.worker.test_recovery import stop_worker, until
from tests.worker.test_wait_event import event_flow, start, waiting

pytestmark = [
    pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass (make test)"),
    pytest.mark.slow,
]


@pytest.fixture
def replace_workers(workers: Workers) -> Iterator[Workers]:
    """Whatever a test kills, the next test finds two workers again."""
    yield workers
    while len(workers.procs) < 2:
        workers.start()


async def test_kill_9_while_the_run_is_parked_loses_nothing(
    state: AppState, tenant: TenantFixture, replace_workers: Workers
) -> None:
    run_id = await start(state, tenant, event_flow())
    parked = await waiting(state, tenant, run_id)
    assert parked.run.lease_owner is None, "parked: no worker holds it"
    for victim in list(replace_workers.procs):  # every worker that ever saw the run dies
        await stop_worker(replace_workers, victim, signal.SIGKILL)
    replace_workers.start()

    await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"after": "kill"}, via="url")
    done = await wait_for(state, tenant.id, run_id, timeout=30)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["got"].output == {"after": "kill"}
    assert [e.kind for e in done.events].count("step.event_received") == 1
    assert_events_contiguous(done)


async def test_kill_9_of_the_worker_holding_the_run_during_the_resume_applies_it_once(
    state: AppState, tenant: TenantFixture, replace_workers: Workers, tmp_path: Path
) -> None:
    """The resume is accepted while a driver holds the run (a slow step runs beside the wait); that worker is killed
    before it applies the resume. The next worker applies it, once, with the first payload; a repeat is refused."""
    sink = str(tmp_path / "sink")
    definition = chain(
        {"id": "slow", "type": "test.sleep", "config": {"seconds": 2.0, "sink": sink}, "retry": {"max_attempts": 1}},
        {"id": "wait", "type": "wait.event", "config": {}},
        {"id": "got", "type": "transform", "config": {"value": "{{ steps.wait.output.payload }}"}},
        edges=[("start", "slow"), ("start", "wait"), ("wait", "got", "received")],
    )
    run_id = await start(state, tenant, definition)

    async def holding() -> bool:
        found = await load(state, tenant.id, run_id)
        return found.steps["wait"].status is StepStatus.WAITING and found.run.lease_owner is not None

    await until(lambda: [line["what"] for line in sink_lines(sink)].count("start") == 1, 20, "the slow step to start")
    for _ in range(500):
        if await holding():
            break
    else:
        raise AssertionError("the wait step never waited while the slow step ran")
    owner = (await load(state, tenant.id, run_id)).run.lease_owner
    assert owner is not None
    victim = next(p for p in replace_workers.procs if p.pid == int(owner.split(":")[1]))

    await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"n": 1}, via="url")
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    with pytest.raises(ResumeRefused) as repeat:
        await state.control.resume_wait(tenant.id, run_id, step_id="wait", payload={"n": 2}, via="url")
    assert repeat.value.code == "ALREADY_RESUMED"

    done = await wait_for(state, tenant.id, run_id, timeout=40)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["wait"].output["payload"] == {"n": 1} and done.steps["got"].output == {"n": 1}
    kinds = [e.kind for e in done.events]
    assert kinds.count("step.event_received") == 1 and kinds.count("step.succeeded") == 4
    assert done.steps["slow"].interruptions == 1, "the killed worker's step ran again elsewhere, as an interruption"
    assert_events_contiguous(done)
