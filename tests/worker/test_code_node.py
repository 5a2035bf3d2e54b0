"""The ``code`` node through real workflow runs, in the mode of this pass (embedded, or PostgreSQL + Redis with
real ``studio worker`` processes): both languages read the input, the earlier steps and the run, return the step's
output, print into its logs, and fail without retries when the code fails. The escape and exhaustion corpus is
test_code_corpus.py."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from studio_gql.state import AppState
from studio_worker.code.python import sandbox_status
from tests.conftest import SERVICES, TenantFixture, Workers, missing_service
from tests.worker.engine_harness import chain, load, publish, run_once, wait_for

pytestmark = pytest.mark.usefixtures("workers")

JS = """
function main(input, steps, run) {
  console.log("items:", input.items.length, {first: input.items[0]});
  const total = input.items.reduce((sum, item) => sum + item.price, 0);
  return { total, doubled: steps.prepare.output.factor * total, run: run.id, template: "{{ input.items }}" };
}
"""

PY = """
def main(input, steps, run):
    print("items:", len(input["items"]), {"first": input["items"][0]})
    total = sum(item["price"] for item in input["items"])
    return {"total": total, "doubled": steps["prepare"]["output"]["factor"] * total, "run": run["id"],
            "template": "{{ input.items }}"}
"""

FAILING = {
    "javascript": "function main(input) {\n  console.log('about to fail');\n  return input.missing.field;\n}\n",
    "python": "def main(input, steps, run):\n    print('about to fail')\n    return input['missing']['field']\n",
}
LOOPING = {
    "javascript": "function main() {\n  while (true) {}\n}\n",
    "python": "def main(input, steps, run):\n    while True:\n        pass\n",
}


def code(language: str, source: str, **config: Any) -> dict[str, Any]:
    return {
        "id": "code",
        "type": "code",
        "config": {"language": language, "source": source, **config},
        "retry": {"max_attempts": 3, "initial_interval_s": 0.05, "jitter": False},
    }


PREPARE = {"id": "prepare", "type": "transform", "config": {"value": {"factor": 2}}}


@pytest.fixture(params=["javascript", "python"])
async def language(request: pytest.FixtureRequest) -> str:
    if request.param == "python":
        status = await sandbox_status()
        if not status.available:
            missing_service("the bubblewrap sandbox", f"bwrap {status.reason}; apt-get install bubblewrap")
    return str(request.param)


async def test_code_returns_its_output_and_prints_into_the_logs(
    state: AppState, tenant: TenantFixture, language: str
) -> None:
    source = JS if language == "javascript" else PY
    items = [{"price": 3}, {"price": 4}]
    finished = await run_once(state, tenant, chain(PREPARE, code(language, source)), input={"items": items})
    step = finished.steps["code"]
    assert finished.run.status.value == "SUCCEEDED", step.error
    assert step.output == {"total": 7, "doubled": 14, "run": str(finished.run.id), "template": "{{ input.items }}"}
    assert finished.run.output == {"code": step.output}  # the sink's output, by step id
    assert step.input["source"] == source  # kept as written: the source is no template
    assert step.envelope is not None
    first = "items: 2 {'first': {'price': 3}}" if language == "python" else 'items: 2 {"first":{"price":3}}'
    assert step.envelope["logs"] == [first]


async def test_an_error_in_the_code_fails_the_step_once_with_the_line(
    state: AppState, tenant: TenantFixture, language: str
) -> None:
    finished = await run_once(state, tenant, chain(code(language, FAILING[language])), input={"x": 1})
    step = finished.steps["code"]
    assert finished.run.status.value == "FAILED"
    assert step.error["type"] == "CodeError" and step.error["retryable"] is False
    assert step.error["message"].endswith("(line 3)"), step.error
    expected = "KeyError: 'missing'" if language == "python" else "TypeError: Cannot read properties of undefined"
    assert step.error["message"].startswith(expected)
    assert step.attempt == 1  # not retried, though the node allows three attempts
    assert step.envelope is not None and step.envelope["logs"] == ["about to fail"]


async def test_a_timeout_fails_the_step_without_retries(state: AppState, tenant: TenantFixture, language: str) -> None:
    finished = await run_once(state, tenant, chain(code(language, LOOPING[language], timeout_s=0.5)))
    step = finished.steps["code"]
    assert finished.run.status.value == "FAILED"
    assert step.error == {
        "type": "CodeTimeout",
        "message": "the code ran past timeout_s=0.5 and was stopped",
        "retryable": False,
    }
    assert step.attempt == 1


async def test_a_step_may_read_what_an_earlier_code_step_returned(state: AppState, tenant: TenantFixture) -> None:
    first = code("javascript", "function main(input) { return { word: input.word.toUpperCase() }; }")
    second = {**code("javascript", "function main(input, steps) { return steps.code.output.word + '!'; }"), "id": "two"}
    finished = await run_once(state, tenant, chain(first, second), input={"word": "hello"})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["two"].error
    assert finished.steps["two"].output == "HELLO!"


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process on this machine: pid -> (parent pid, state); zombies count as gone."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                found[int(entry.name)] = (int(ppid), state)
    return found


def _descendants(pid: int) -> set[int]:
    table = _processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.slow
@pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass (make test)")
async def test_kill_9_of_the_worker_mid_code_step_leaves_no_sandbox_and_loses_no_run(
    state: AppState, tenant: TenantFixture, workers: Workers, language: str
) -> None:
    """The sandbox dies with its worker (--die-with-parent, and V8 with the process); the run's lease expires and
    the other worker executes the step again: a code step has no effect outside itself, so running it twice is
    what recovery means here."""
    source = {
        "javascript": "function main(input) {\n  const end = Date.now() + input.ms;\n  while (Date.now() < end) {}\n"
        "  return 'done';\n}\n",
        "python": "import time\ndef main(input, steps, run):\n    time.sleep(input['ms'] / 1000)\n    return 'done'\n",
    }[language]
    workflow_id = await publish(state, tenant, chain(code(language, source, timeout_s=30)))
    # 8 s: the sandbox must still be alive when a poll sees it (a 2.5 s step ended unseen on a loaded machine).
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"ms": 8000})
    # A worker's first Python step starts with the sandbox's probe (a real, short execution): a child seen at once
    # may be the probe, gone a moment later. The step's own sandbox is the child seen 2 s into the 8 s step.
    victim, running_since = None, None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await load(state, tenant.id, run.id)
        owner = found.run.lease_owner
        if "code" in found.steps and found.steps["code"].status.value == "RUNNING" and owner:
            running_since = running_since or time.monotonic()
            victim = next((p for p in workers.procs if p.pid == int(owner.split(":")[1])), None)
            settled = language == "javascript" or time.monotonic() - running_since >= 2.0
            if victim is not None and settled and (language == "javascript" or _descendants(victim.pid)):
                break
        await asyncio.sleep(0.01)
    assert victim is not None, "the code step started on a worker"
    sandbox = _descendants(victim.pid)
    assert bool(sandbox) is (language == "python")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    workers.procs.remove(victim)
    try:
        for _ in range(1000):
            if not sandbox & set(_processes()):
                break
            await asyncio.sleep(0.01)
        assert not sandbox & set(_processes()), "the sandbox outlived its worker"
        done = await wait_for(state, tenant.id, run.id, timeout=60)
    finally:
        while len(workers.procs) < 2:
            workers.start()
    assert done.run.status.value == "SUCCEEDED", done.steps["code"].error
    assert done.steps["code"].output == "done" and done.steps["code"].interruptions == 1
