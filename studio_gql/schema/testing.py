"""Testing the draft: test runs, test steps, replays against the draft, and pinned node outputs (see
``studio_worker.draft_tests``, started through ``Control``). EDITOR and above (``workflow:test``); an OPERATOR starts
real runs only."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, require_id
from studio_gql.schema.identity import User
from studio_gql.schema.runs import Run, RunPayload
from studio_gql.schema.workflows import Workflow
from studio_shared.db import models
from studio_shared.errors import ValidationFailed
from studio_shared.rbac import Permission
from studio_shared.storage import StorageError
from studio_shared.store import pins as pins_store
from studio_shared.store import runs as runs_store
from studio_shared.store import workflows as workflows_store

log = logging.getLogger("studio.gql.testing")

MAX_WAIT_S = 10.0  # testStep's waitSeconds


@strawberry.type(
    description="A node's pinned output on the draft: test runs and test steps use it instead of running "
    "the node. Pins belong to the draft; a published run never reads one."
)
class NodePin:
    node_id: str
    output: JSON | None
    branches: list[str] | None = strawberry.field(
        description="The branches the pinned output takes; null: every outgoing edge."
    )
    source: str = strawberry.field(description="run: copied from a run's step; manual: typed by hand.")
    source_run_id: strawberry.ID | None = strawberry.field(
        description="The run it was copied from, if it still exists."
    )
    created_at: datetime
    updated_at: datetime
    _created_by: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: models.NodePin) -> NodePin:
        return cls(
            node_id=row.node_id,
            output=row.output,
            branches=row.branches,
            source=row.source,
            source_run_id=strawberry.ID(str(row.source_run_id)) if row.source_run_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _created_by=row.created_by,
        )

    @strawberry.field(description="Who pinned it (null once the user is deleted, or for an API key).")
    async def pinned_by(self, info: Info) -> User | None:
        if self._created_by is None:
            return None
        row = await info.context.loaders.user.load(self._created_by)
        return User.from_model(row) if row else None


async def pins_of(info: Info, workflow_id: uuid.UUID) -> list[NodePin]:
    async with info.context.state.reads() as s:
        rows = await pins_store.list_pins(s, info.context.tenant_id, workflow_id)
    return [NodePin.from_model(row) for row in rows]


@strawberry.type
class NodePinPayload:
    pin: NodePin | None = strawberry.field(
        default=None, description="The pin (unpinNodeOutput: the one removed, or null when there was none)."
    )
    workflow: Workflow | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _run_errors(errors: list[UserError]) -> RunPayload:
    return RunPayload(errors=errors)


async def _retain(info: Info, workflow_id: uuid.UUID) -> None:
    """The test-run retention of the workflow, after a test started: finished test runs beyond the newest
    ``test_runs_kept_per_workflow`` go, with their files. Best effort: the test run is started either way."""
    ctx = info.context
    try:
        async with ctx.state.sessions.begin() as s:
            deleted = await runs_store.prune_test_runs(
                s, ctx.tenant_id, workflow_id, ctx.state.settings.test_runs_kept_per_workflow, "system:retention"
            )
    except Exception:
        log.warning(
            "the test-run retention of workflow %s failed; the next test retries it", workflow_id, exc_info=True
        )
        return
    for gone in deleted:
        try:
            await ctx.state.objects.delete_prefix(f"{ctx.tenant_id}/{gone}/")
        except StorageError:
            log.warning("could not remove the files of pruned test run %s", gone, exc_info=True)


async def _until_final(info: Info, run: models.Run, wait_s: float) -> models.Run:
    """The run once it finished, or as it is when ``wait_s`` ran out (read from the database, backing off)."""
    deadline, pause = time.monotonic() + wait_s, 0.01
    while True:
        async with info.context.state.reads() as s:
            found = await runs_store.get(s, info.context.tenant_id, run.id)
        if found is None:
            return run  # deleted meanwhile
        if found.status.final or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, 0.2)


@strawberry.type
class TestingMutation:
    @strawberry.mutation(
        description="Run the draft's current revision as a test run: the same engine, credentials and side effects as "
        "a real run, with pinned outputs standing in for their nodes (usePins), and no trigger, schedule, webhook or "
        "published version touched. An invalid draft is refused with its problems.",
        extensions=needs(Permission.WORKFLOW_TEST),
        name="testRun",
    )
    @payload(_run_errors)
    async def run_test(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        input: JSON | None = None,
        idempotency_key: str | None = None,
        use_pins: bool = True,
    ) -> RunPayload:
        ctx = info.context
        principal = ctx.require_principal()
        key = require_id(workflow_id, "workflow")
        run, created = await ctx.state.control.start_test_run(
            ctx.tenant_id,
            principal.actor,
            key,
            input=input,
            idempotency_key=idempotency_key,
            use_pins=use_pins,
            started_by=principal.person_id,
        )
        if created:
            await _retain(info, key)
        return RunPayload(run=Run.from_model(run), created=created)

    @strawberry.mutation(
        description="Run one node of the draft as a one-node test run. Its upstream steps are filled in, not run: "
        "from `upstream` (JSON typed by hand: {node id: output}), else from the steps of the run `fromRunId` (of "
        "this workflow), else from pins (usePins); the trigger's output is `input` (default: that run's input). "
        "Subscribe to the returned run, or wait for it (`waitSeconds`, at most 10: the run as it is when it "
        "finished or the wait ended); its step `nodeId` holds the output, error, logs, duration and rendered config "
        "(secrets masked).",
        extensions=needs(Permission.WORKFLOW_TEST),
        name="testStep",
    )
    @payload(_run_errors)
    async def run_test_step(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        node_id: str,
        input: JSON | None = None,
        from_run_id: strawberry.ID | None = None,
        upstream: JSON | None = None,
        use_pins: bool = True,
        wait_seconds: float = 0.0,
    ) -> RunPayload:
        ctx = info.context
        principal = ctx.require_principal()
        key = require_id(workflow_id, "workflow")
        if not 0 <= wait_seconds <= MAX_WAIT_S:
            raise ValidationFailed.one(["waitSeconds"], f"wait 0 to {MAX_WAIT_S:g} seconds", "OUT_OF_RANGE")
        run = await ctx.state.control.start_test_step(
            ctx.tenant_id,
            principal.actor,
            key,
            node_id,
            input=input,
            from_run_id=require_id(from_run_id, "run") if from_run_id is not None else None,
            upstream=upstream,
            use_pins=use_pins,
            started_by=principal.person_id,
        )
        await _retain(info, key)
        if wait_seconds > 0:
            run = await _until_final(info, run, wait_seconds)
        return RunPayload(run=Run.from_model(run), created=True)

    @strawberry.mutation(
        description="Replay an earlier run's trigger payload (its input and the webhook delivery, message or schedule "
        "fire that started it) against the workflow's current draft, as a test run.",
        extensions=needs(Permission.WORKFLOW_TEST),
        name="testReplay",
    )
    @payload(_run_errors)
    async def replay_as_test(self, info: Info, run_id: strawberry.ID) -> RunPayload:
        ctx = info.context
        principal = ctx.require_principal()
        run, created = await ctx.state.control.start_test_replay(
            ctx.tenant_id, principal.actor, require_id(run_id, "run"), principal.person_id
        )
        await _retain(info, run.workflow_id)
        return RunPayload(run=Run.from_model(run), created=created)

    @strawberry.mutation(
        description="Pin a node's output on the draft (replacing its pin): the output of its step in `fromRunId` (a "
        "run of this workflow where it succeeded), or `output` typed by hand. `branches`: the branches it takes "
        "(default: the step's, or those a condition, switch or approval output implies).",
        extensions=needs(Permission.WORKFLOW_TEST),
    )
    @payload(lambda errors: NodePinPayload(errors=errors))
    async def pin_node_output(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        node_id: str,
        from_run_id: strawberry.ID | None = None,
        output: JSON | None = None,
        branches: list[str] | None = None,
    ) -> NodePinPayload:
        ctx = info.context
        key = require_id(workflow_id, "workflow")
        if from_run_id is None and output is None:
            raise ValidationFailed.one(["output"], "give the output to pin, or fromRunId to pin a run's step output")
        async with ctx.state.sessions.begin() as s:
            row = await pins_store.pin(
                s,
                ctx.tenant_id,
                ctx.require_principal(),
                key,
                node_id,
                output=output,
                branches=branches,
                from_run_id=require_id(from_run_id, "run") if from_run_id is not None else None,
            )
            workflow = await workflows_store.require(s, ctx.tenant_id, key)
            pin, owner = NodePin.from_model(row), Workflow.from_model(workflow)
        return NodePinPayload(pin=pin, workflow=owner)

    @strawberry.mutation(
        description="Remove a node's pin from the draft (`pin`: the one removed; null when the node had none).",
        extensions=needs(Permission.WORKFLOW_TEST),
    )
    @payload(lambda errors: NodePinPayload(errors=errors))
    async def unpin_node_output(self, info: Info, workflow_id: strawberry.ID, node_id: str) -> NodePinPayload:
        ctx = info.context
        key = require_id(workflow_id, "workflow")
        async with ctx.state.sessions.begin() as s:
            row = await pins_store.unpin(s, ctx.tenant_id, ctx.require_principal(), key, node_id)
            pin = NodePin.from_model(row) if row is not None else None
            owner = Workflow.from_model(await workflows_store.require(s, ctx.tenant_id, key))
        return NodePinPayload(pin=pin, workflow=owner)
