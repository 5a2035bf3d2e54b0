"""Child runs of a step (foreach, subworkflow, loop): spawn them, watch their outcomes, cancel them.

A child is a run of its own in the parent's tenant, linked by ``parent_run_id``, ``parent_step_id`` and
``item_index``, one level deeper than its parent. Its identity is its idempotency key
``<parent run>:<step>:<generation>:<index>`` (unique per tenant and workflow), so spawning is naturally
idempotent. When a child finishes, the same transaction pokes the parent (``signal`` bumped, a WAITING
parent made due): no completion is lost even if the process dies right after the commit.

Children are admitted like any run: they must fit under the tenant's cap on live runs (else the step fails, and
nothing waits for room: a parent waiting for a place for its children could wait on itself), and they are spawned
held, so that the held-run dispatch gives them the tenant's free concurrency slots, oldest first, as slots free.
A fan-out of ten thousand children puts ten thousand rows in the database and at most the tenant's free slots of
jobs in the queue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_shared.db import models
from studio_shared.db.jsondata import Encoded, NotStorable, encode
from studio_shared.db.types import utcnow
from studio_shared.definition import check_run_input
from studio_shared.errors import TooManyLiveRuns, ValidationFailed
from studio_shared.metrics import metrics
from studio_worker.admission import check_live_room
from studio_worker.engine import records
from studio_worker.engine.quotas import REFUSE_FRESH_S, size_text
from studio_worker.engine.records import bus_messages, children
from studio_worker.engine.records.cancels import cancel_children
from studio_worker.engine.records.new_runs import Parent, insert_new_runs, new_run
from studio_worker.nodes.base import ChildOutcome, NodeError
from studio_worker.nodes.children import Target

if TYPE_CHECKING:
    from studio_shared.definition import Definition
    from studio_worker.engine.runtime import RunEngine

log = logging.getLogger("studio.engine.children")

versions = models.WorkflowVersion.__table__
workflows = models.Workflow.__table__

PAGE = 500


class Children:
    """The child runs of one step of one run (``generation`` separates the step's resumes by retryRun): the
    engine's ``ChildRuns`` (studio_worker.nodes.children), what flow nodes may ask of their children."""

    def __init__(
        self,
        engine: RunEngine,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        step_id: str,
        generation: int,
        depth: int,
        started_by: uuid.UUID | None = None,
        test: bool = False,
    ) -> None:
        self.engine, self.tenant_id, self.run_id, self.step_id = engine, tenant_id, run_id, step_id
        self.test = test  # the children of a test run's step are part of the test (they run published versions)
        self.generation, self.depth = generation, depth
        self.started_by = started_by  # the root run's person: every descendant inherits it (self-approval)
        self.prefix = f"{run_id}:{step_id}:{generation}:"

    @property
    def max_foreach_items(self) -> int:
        return self.engine.settings.max_foreach_items

    def key(self, index: int) -> str:
        return f"{self.prefix}{index}"

    # -- the target ------------------------------------------------------------------------------------

    async def resolve(self, workflow: Any, version: Any) -> Target:
        """The workflow (by id) and version (a number, or null for the latest published) in this tenant."""
        try:
            workflow_id = uuid.UUID(str(workflow))
        except ValueError:
            raise NodeError("WorkflowNotFound", f"workflow {workflow!r} is not a workflow id") from None
        if self.depth + 1 > self.engine.settings.max_run_depth:
            raise NodeError(
                "RecursionLimit",
                f"child runs may nest {self.engine.settings.max_run_depth} levels deep; this one would be "
                f"level {self.depth + 1} (a workflow that calls itself?)",
            )
        query = (
            sa.select(versions.c.id, versions.c.version, workflows.c.archived)
            .join(
                workflows,
                sa.and_(workflows.c.tenant_id == versions.c.tenant_id, workflows.c.id == versions.c.workflow_id),
            )
            .where(
                versions.c.tenant_id == self.tenant_id,
                versions.c.workflow_id == workflow_id,
                versions.c.test.is_(False),  # a child runs a published version, never a test snapshot
            )
        )
        query = (
            query.order_by(versions.c.version.desc()).limit(1)
            if version is None
            else query.where(versions.c.version == int(version))
        )
        async with self.engine.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            what = "has no published version" if version is None else f"has no version {version}"
            raise NodeError("WorkflowNotFound", f"workflow {workflow_id} does not exist or {what}")
        if row.archived:
            raise NodeError("WorkflowArchived", f"workflow {workflow_id} is archived")
        return Target(workflow_id, row.id, row.version)

    async def definition(self, target: Target) -> Definition:
        """The parsed definition of the target version (cached: published versions never change)."""
        definition = self.engine.definitions.get(target.version_id)
        if definition is None:
            async with self.engine.reader.connect() as conn:
                document = await records.load_definition(conn, self.tenant_id, target.version_id)
            definition = self.engine.definitions.remember(target.version_id, document)
        return definition

    # -- spawning --------------------------------------------------------------------------------------

    async def _admitted_inputs(self, inputs: Sequence[tuple[int, Any]]) -> list[Encoded]:
        """The children's inputs encoded, once they fit the tenant's stored-output quota (each child is a run of
        its own: its later outputs count against its own run quota)."""
        encoded: list[Encoded] = []
        for index, child_input in inputs:
            try:
                encoded.append(encode(child_input))
            except NotStorable as exc:
                raise NodeError(exc.kind, f"item {index}: {exc.at('input')}") from None
        size = sum(e.size for e in encoded)
        quotas = self.engine.quotas
        usage = await quotas.usage(self.tenant_id)
        if usage.tenant_limit and usage.stored + size > usage.tenant_limit:
            usage = await quotas.usage(self.tenant_id, max_age_s=REFUSE_FRESH_S)
            if usage.stored + size > usage.tenant_limit:
                raise NodeError(
                    "OutputQuotaExceeded",
                    f"your tenant's runs have stored {size_text(usage.stored)} of step outputs and the inputs of "
                    f"{len(inputs)} child runs would add {size_text(size)}, past the tenant's limit of "
                    f"{size_text(usage.tenant_limit)} ({usage.tenant_limit_name}): delete runs you no longer need "
                    "(deleteRun) or raise the limit",
                )
        quotas.admitted(usage, size)
        return encoded

    async def spawn(self, target: Target, inputs: Sequence[tuple[int, Any]]) -> None:
        """Create one held QUEUED child per (index, input) in one transaction, if they fit under the tenant's cap
        on live runs; then dispatch the tenant's oldest held runs into its free slots."""
        if not inputs:
            return
        definition = await self.definition(target)
        for index, child_input in inputs:
            try:
                check_run_input(definition, child_input)
            except ValidationFailed as exc:
                problem = exc.problems[0]
                raise NodeError(
                    "InvalidChildInput",
                    f"item {index}: the input does not fit the workflow's input schema at "
                    f"{'.'.join(problem.path)}: {problem.message}",
                ) from None
        encoded = await self._admitted_inputs(inputs)
        now = utcnow()
        new = [
            new_run(
                tenant_id=self.tenant_id,
                workflow_id=target.workflow_id,
                version_id=target.version_id,
                version=target.version,
                definition=definition,
                input=child_input,
                stored_input=child_input,  # its input counts against the stored-output quotas
                trigger="parent",
                trigger_data=Parent(self.run_id, self.step_id, index).link(),
                now=now,
                idempotency_key=self.key(index),
                created_by=f"run:{self.run_id}",
                started_by=self.started_by,
                test=self.test,
                held=True,  # admitted like any run: dispatched when the tenant has a free slot
                parent=Parent(self.run_id, self.step_id, index),
                depth=self.depth + 1,
            )
            for (index, _), child_input in zip(inputs, encoded, strict=True)
        ]
        try:
            async with self.engine.db.begin() as conn:
                await check_live_room(conn, self.tenant_id, len(new), self.engine.settings.max_live_runs_per_tenant)
                await insert_new_runs(conn, new)
        except TooManyLiveRuns as exc:
            # Fails the step (not retried by default: the same fan-out would meet the same cap).
            raise NodeError(
                "TooManyLiveRuns",
                f"this step would start {exc.adding} child run{'s' if exc.adding != 1 else ''}, but the tenant may "
                f"have at most {exc.limit} live runs (queued, running or waiting, child runs included) and has "
                f"{exc.live if exc.live < exc.limit else f'{exc.limit} already'}: lower the fan-out (items, "
                "max_concurrency) or raise the cap (STUDIO_MAX_LIVE_RUNS_PER_TENANT, or the tenant's max_live_runs)",
            ) from None
        for _ in new:  # committed
            metrics.run_started(self.tenant_id, "parent", self.test)
        try:
            await self.engine.bus.publish_many(bus_messages([n.event for n in new]))
        except Exception:  # committed; subscribers read the database
            log.warning("publishing the queued events of %d child runs failed", len(new), exc_info=True)
        await self.engine.dispatch_held(self.tenant_id)

    # -- watching --------------------------------------------------------------------------------------

    async def exists(self, target: Target, index: int) -> bool:
        """Is there a child at ``index``? (A lookup by idempotency key: the unique index answers it.)"""
        async with self.engine.reader.connect() as conn:
            return await children.exists(conn, self.tenant_id, target.workflow_id, self.key(index))

    async def spawned(self) -> int:
        """How many children this generation has (indexes 0..n-1 are spawned in order)."""
        async with self.engine.reader.connect() as conn:
            return await children.count(conn, self.tenant_id, self.run_id, self.step_id, self.prefix)

    async def outcomes(self, indexes: Sequence[int]) -> dict[int, ChildOutcome]:
        """The finished children among ``indexes`` (the ones still active are left out)."""
        if not indexes:
            return {}
        async with self.engine.reader.connect() as conn:
            rows = await children.finished(conn, self.tenant_id, self.run_id, self.step_id, self.prefix, indexes)
        return {r.item_index: _outcome(r) for r in rows}

    async def all_outcomes(self) -> list[ChildOutcome]:
        """One outcome per item index in order, read a page at a time, over every generation of the step:
        a child that succeeded (in any generation) wins, else the newest one."""
        found: list[ChildOutcome] = []
        after = -1
        async with self.engine.reader.connect() as conn:
            while True:
                rows = await children.page_by_index(conn, self.tenant_id, self.run_id, self.step_id, after, PAGE)
                for row in rows:
                    if not found or found[-1].index != row.item_index:
                        found.append(_outcome(row))
                if len(rows) < PAGE:
                    return found
                after = rows[-1].item_index

    async def succeeded_indexes(self) -> set[int]:
        """Items a child of an earlier generation already did: a resumed foreach keeps their outputs."""
        async with self.engine.reader.connect() as conn:
            return await children.succeeded_indexes(conn, self.tenant_id, self.run_id, self.step_id)

    # -- cancelling ------------------------------------------------------------------------------------

    async def cancel_active(self) -> None:
        """Ask this step's active children to cancel (every generation); their drivers do the rest."""
        async with self.engine.db.begin() as conn:
            await children.request_cancel(conn, self.tenant_id, self.run_id, self.step_id, utcnow())
        await cancel_children(self.engine.db, self.engine.bus, self.engine.queue, self.tenant_id, self.run_id)


def _outcome(row: Any) -> ChildOutcome:
    return ChildOutcome(
        index=row.item_index, run_id=str(row.id), status=str(row.status), output=row.output, error=row.error
    )
