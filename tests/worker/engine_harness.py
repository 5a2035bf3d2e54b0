"""Helpers to publish a definition, start it through the real control API and wait for its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import workflows
from studio_shared.types import RunStatus
from studio_worker.nodes.base import NodeContext
from studio_worker.nodes.services import NodeServices
from tests.conftest import TenantFixture

TRIGGER = {"id": "start", "type": "trigger.manual", "config": {}}


def actor(tenant: TenantFixture) -> Principal:
    return Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])


def chain(*nodes: dict[str, Any], edges: list[Any] | None = None) -> dict[str, Any]:
    """A definition: the manual trigger, then ``nodes``; without ``edges``, a straight chain in order."""
    all_nodes = [copy.deepcopy(TRIGGER), *nodes]
    if edges is None:
        edges = [(a["id"], b["id"]) for a, b in itertools.pairwise(all_nodes)]
    return {
        "nodes": all_nodes,
        "edges": [
            e if isinstance(e, dict) else dict(zip(("source", "target", "branch"), e, strict=False)) for e in edges
        ],
    }


async def publish(state: AppState, tenant: TenantFixture, definition: dict[str, Any], name: str = "w") -> uuid.UUID:
    async with state.sessions.begin() as s:
        row = await workflows.create(
            s, tenant.id, actor(tenant), state.registry, name=name, description=None, definition=definition
        )
        await workflows.publish(s, tenant.id, actor(tenant), state.registry, row.id, None)
    return row.id


@dataclass
class Finished:
    run: models.Run
    steps: dict[str, models.Step]
    events: list[models.RunEvent]

    def status(self, step_id: str) -> str:
        return self.steps[step_id].status.value


async def load(state: AppState, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Finished:
    async with state.sessions() as s:
        run = await s.scalar(sa.select(models.Run).where(models.Run.tenant_id == tenant_id, models.Run.id == run_id))
        assert run is not None
        steps = {
            st.step_id: st
            for st in await s.scalars(
                sa.select(models.Step).where(models.Step.tenant_id == tenant_id, models.Step.run_id == run_id)
            )
        }
        events = list(
            await s.scalars(
                sa.select(models.RunEvent)
                .where(models.RunEvent.tenant_id == tenant_id, models.RunEvent.run_id == run_id)
                .order_by(models.RunEvent.seq)
            )
        )
    return Finished(run, steps, events)


async def wait_for(
    state: AppState,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    statuses: set[RunStatus] | None = None,
    timeout: float = 30,
) -> Finished:
    """Poll the database (the source of truth) until the run reaches one of ``statuses`` (default: final)."""
    wanted = statuses or {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    deadline = time.monotonic() + timeout
    while True:
        found = await load(state, tenant_id, run_id)
        if found.run.status in wanted:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} still {found.run.status} after {timeout}s; steps: "
                f"{ {k: v.status.value for k, v in found.steps.items()} }"
            )
        await asyncio.sleep(0.02)


async def run_once(
    state: AppState, tenant: TenantFixture, definition: dict[str, Any], input: Any = None, timeout: float = 30
) -> Finished:
    workflow_id = await publish(state, tenant, definition)
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input=input)
    return await wait_for(state, tenant.id, run.id, timeout=timeout)


def assert_events_contiguous(finished: Finished) -> None:
    seqs = [e.seq for e in finished.events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert finished.run.last_seq == len(seqs)
    kinds = [e.kind for e in finished.events]
    since = len(kinds) - kinds[::-1].index("run.retried") if "run.retried" in kinds else 0
    finals = [k for k in kinds[since:] if k in {"run.succeeded", "run.failed", "run.cancelled"}]
    assert finals == [kinds[-1]], "exactly one final event since the last resume, and it is the last event"


StepMaker = Callable[..., Awaitable[NodeContext]]


@contextlib.asynccontextmanager
async def direct_steps(
    state: AppState, tenant: TenantFixture, node_type: str, step_id: str
) -> AsyncIterator[StepMaker]:
    """Contexts for calling a node's handler directly, each the step of a real run (an effect's record refers to
    it), with the test's changes to the settings (``make(settings_changes, key=idempotency key)``)."""
    made: list[NodeServices] = []

    async def make(settings_changes: dict[str, Any] | None = None, key: str | None = None) -> NodeContext:
        finished = await run_once(state, tenant, chain({"id": "noop", "type": "transform", "config": {"value": 1}}))
        services = NodeServices(state.settings.model_copy(update=settings_changes or {}), state.db_engine)
        made.append(services)
        return NodeContext(
            tenant_id=tenant.id,
            run_id=finished.run.id,
            step_id=step_id,
            node_type=node_type,
            attempt=1,
            idempotency_key=key or f"{finished.run.id}:{step_id}:0",
            scope={},
            raw_config={},
            services=services,
        )

    try:
        yield make
    finally:
        for services in made:
            await services.close()
