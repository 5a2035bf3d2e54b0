"""Test runs of a workflow's draft: the whole draft (``test_run``), one node of it (``test_step``), or an earlier run's
trigger payload replayed against it (``test_replay``).

Every test run executes a test snapshot (``studio_shared.store.pins.snapshot_draft``: the draft at its revision with
the pins in effect) and is started through ``Control.start_run``, so it passes the same admission as every start
(the tenant's start pace, its cap on live runs, idempotency keys) and runs on the same engine, with the same
credentials and side effects. It is marked ``test`` on the run and on its run-level events, touches no trigger,
schedule, webhook or published version, and counts against the per-workflow test-run retention.

A **test step** is a one-node test run: the node runs; its ancestors start SUCCEEDED with their outputs filled in
(from the hand-typed ``upstream`` JSON, else the chosen earlier run's steps, else pins, and the trigger's output is
the run input), and every other node starts SKIPPED. Its direct parents' branches are widened to the edges into the
node, so "run this step" runs it whatever branch the data took. A missing ancestor output is refused, naming it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio_shared.db import models
from studio_shared.db.jsondata import NotStorable, encode
from studio_shared.db.types import utcnow
from studio_shared.definition import Definition, parse_definition
from studio_shared.errors import NotFound, ValidationFailed
from studio_shared.store import pins as pins_store
from studio_shared.types import StepStatus
from studio_worker.engine.records import lookups

if TYPE_CHECKING:
    from studio_worker.control import Control

TEST_KEY_PREFIX = "test:"  # a test run's idempotency key, as stored
MAX_UPSTREAM_BYTES = 4_000_000  # hand-typed upstream outputs of a test step, as JSON


@dataclass(frozen=True)
class TestStart:
    """What makes a start a test run: the test snapshot it runs, and steps filled in before it starts (a test step:
    column values by step id)."""

    snapshot_id: uuid.UUID
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)


async def start_test_run(
    control: Control,
    tenant_id: uuid.UUID,
    actor: str | None,
    workflow_id: uuid.UUID,
    *,
    input: Any = None,
    idempotency_key: str | None = None,
    use_pins: bool = True,
    started_by: uuid.UUID | None = None,
    trigger: str = "manual",
    trigger_data: dict[str, Any] | None = None,
) -> tuple[models.Run, bool]:
    """Run the draft's current revision as a test run; an invalid draft is refused with its problems.

    Its idempotency key is stored as ``test:<key>``: test runs and live runs of a workflow never answer each
    other's keys."""
    async with control.sessions.begin() as s:
        snapshot = await pins_store.snapshot_draft(s, tenant_id, workflow_id, control.registry, use_pins=use_pins)
    if input is None:  # a pinned trigger output is the test input
        input = _pinned_input(parse_definition(snapshot.definition, control.registry), snapshot.pins or {})
    return await control.start_run(
        tenant_id,
        actor,
        workflow_id,
        input=input,
        idempotency_key=f"{TEST_KEY_PREFIX}{idempotency_key}" if idempotency_key is not None else None,
        trigger=trigger,
        trigger_data=trigger_data,
        started_by=started_by,
        test=TestStart(snapshot.id),
    )


async def start_test_replay(
    control: Control, tenant_id: uuid.UUID, actor: str | None, run_id: uuid.UUID, started_by: uuid.UUID | None
) -> tuple[models.Run, bool]:
    """Replay an earlier top-level run's trigger payload (its input and trigger data: a webhook delivery, a message,
    a schedule's fire) against the workflow's current draft, as a test run."""
    async with (control.reads or control.sessions)() as s:
        original = await lookups.load(s, tenant_id, run_id)
    if original is None or original.parent_run_id is not None:
        raise NotFound("run", run_id)
    return await start_test_run(
        control,
        tenant_id,
        actor,
        original.workflow_id,
        input=original.input,
        started_by=started_by,
        trigger=original.trigger,
        trigger_data={**(original.trigger_data or {}), "replay_of": str(original.id)},
    )


async def start_test_step(
    control: Control,
    tenant_id: uuid.UUID,
    actor: str | None,
    workflow_id: uuid.UUID,
    node_id: str,
    *,
    input: Any = None,
    from_run_id: uuid.UUID | None = None,
    upstream: Any = None,
    use_pins: bool = True,
    started_by: uuid.UUID | None = None,
) -> models.Run:
    """Run one node of the draft as a one-node test run, its upstream data filled in (see the module's docstring)."""
    if upstream is not None:
        if not isinstance(upstream, dict):
            raise ValidationFailed.one(["upstream"], "upstream is a JSON object: {node id: that node's output}")
        try:
            size = encode(upstream).size
        except NotStorable as exc:
            raise ValidationFailed.one(["upstream"], str(exc)) from None
        if size > MAX_UPSTREAM_BYTES:
            raise ValidationFailed.one(
                ["upstream"], f"upstream is at most {MAX_UPSTREAM_BYTES} bytes of JSON", "TOO_LARGE"
            )
    async with control.sessions.begin() as s:
        # The snapshot carries no pins: the tested node always runs; the pins it reads are filled in below.
        snapshot = await pins_store.snapshot_draft(s, tenant_id, workflow_id, control.registry, use_pins=False)
        workflow = await s.get(models.Workflow, workflow_id)
        pins = (
            pins_store.pins_document(workflow, await pins_store.list_pins(s, tenant_id, workflow_id))
            if (use_pins and workflow is not None)
            else {}
        )
        earlier: dict[str, models.Step] = {}
        if from_run_id is not None:
            run = await lookups.load(s, tenant_id, from_run_id)
            if run is None or run.workflow_id != workflow_id:
                raise NotFound("run", from_run_id)
            if input is None:
                input = run.input
            earlier = {row.step_id: row for row in await lookups.steps_of(s, tenant_id, run.id)}
        # Checked inside the transaction: a refused test step (unknown node, missing data) leaves no snapshot.
        definition = parse_definition(snapshot.definition, control.registry)
        if node_id not in definition:
            raise ValidationFailed.one(["nodeId"], f"the draft has no node {node_id!r}", "NOT_FOUND")
        if upstream is not None:
            unknown = sorted(k for k in upstream if k not in definition)
            if unknown:
                raise ValidationFailed.one(
                    ["upstream", unknown[0]], f"the draft has no node {unknown[0]!r}", "NOT_FOUND"
                )
            trigger = definition.trigger
            if input is None and trigger.id in upstream:
                input = upstream[trigger.id]
        if input is None:
            input = _pinned_input(definition, pins)
        filled = fill_upstream(definition, node_id, input, upstream or {}, earlier, pins)
    data: dict[str, Any] = {"test_step": node_id}
    if from_run_id is not None:
        data["upstream_run"] = str(from_run_id)
    run, _ = await control.start_run(
        tenant_id,
        actor,
        workflow_id,
        input=input,
        trigger="manual",
        trigger_data=data,
        started_by=started_by,
        test=TestStart(snapshot.id, filled),
    )
    return run


def fill_upstream(
    definition: Definition,
    node_id: str,
    input: Any,
    upstream: dict[str, Any],
    earlier: dict[str, models.Step],
    pins: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The step rows' starting values of a test step of ``node_id``: its ancestors SUCCEEDED (or SKIPPED, as in the
    chosen earlier run) with their outputs, every other node but the tested one SKIPPED."""
    ancestors = definition.upstream_of(node_id)
    now = utcnow()
    filled: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for node in definition:
        sid = node.id
        if sid == node_id:
            continue
        if sid not in ancestors:
            filled[sid] = {"status": StepStatus.SKIPPED, "finished_at": now}
            continue
        step = earlier.get(sid)
        if sid in upstream:
            output, branches, source = upstream[sid], _derived(definition, sid, upstream[sid]), "typed by hand"
        elif step is not None and step.status is StepStatus.SUCCEEDED:
            output, branches, source = step.output, step.branches, "the chosen run"
        elif step is not None and step.status is StepStatus.SKIPPED:
            filled[sid] = {"status": StepStatus.SKIPPED, "finished_at": now}
            continue
        elif isinstance(pins.get(sid), dict):
            output, branches, source = pins[sid].get("output"), pins[sid].get("branches"), "pinned"
        elif node.trigger:
            output, branches, source = input, None, "the run input"
        else:
            missing.append(sid)
            continue
        envelope = {
            "run_id": "",  # set when the run's id is known
            "step_id": sid,
            "node_type": node.type,
            "status": StepStatus.SUCCEEDED.value,
            "attempt": 1,
            "started_at": now.isoformat(),
            "finished_at": now.isoformat(),
            "output": output,
            "error": None,
            "artifacts": [],
            "logs": [f"not run by this test step: output {source}"],
            **({"pinned": True} if source == "pinned" else {}),
        }
        filled[sid] = {
            "status": StepStatus.SUCCEEDED,
            "attempt": 1,
            "output": output,
            "branches": list(branches) if branches is not None else None,
            "envelope": envelope,
            "started_at": now,
            "finished_at": now,
        }
    if missing:
        raise ValidationFailed.one(
            ["upstream"],
            f"no data for upstream step{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} of "
            f"{node_id!r}: pin {'them' if len(missing) > 1 else 'it'}, choose a run where "
            f"{'they' if len(missing) > 1 else 'it'} succeeded, or type the output in upstream",
            "MISSING_UPSTREAM",
        )
    taken = False
    for edge in definition.incoming(node_id):
        parent = filled[edge.source]
        if parent["status"] is not StepStatus.SUCCEEDED:
            continue
        taken = True
        if parent["branches"] is not None and edge.branch is not None and edge.branch not in parent["branches"]:
            parent["branches"] = [*parent["branches"], edge.branch]  # run this step, whatever branch was taken
    if definition.incoming(node_id) and not taken:
        raise ValidationFailed.one(
            ["fromRunId"], f"every step leading to {node_id!r} was skipped in that run: choose another run", "SKIPPED"
        )
    return filled


def _pinned_input(definition: Definition, pins: dict[str, Any]) -> Any:
    """The pinned output of the trigger node (the run input it stands for), or None."""
    pin = pins.get(definition.trigger.id)
    return pin.get("output") if isinstance(pin, dict) else None


def _derived(definition: Definition, sid: str, output: Any) -> list[str] | None:
    node = definition.node(sid)
    return pins_store.derived_branches({"id": sid, "type": node.type, "config": node.config}, output)
