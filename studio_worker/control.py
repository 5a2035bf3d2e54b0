"""The engine's public API for the API process: start, cancel and resume runs; decide human tasks.

Control never races a driver: it writes only runs nobody holds (taking the lease for its own
transaction, fenced exactly like a driver's batch), and otherwise leaves a request in the database,
bumps the run's signal and nudges the driver.

Every start of a run, whatever its transport, passes its ``Admission`` here: the tenant's start pace and its cap on
live runs (see ``studio_worker.admission``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from studio_shared import logs, tracing
from studio_shared.auth import Principal
from studio_shared.db import Sessions, lone_reads, models
from studio_shared.db.jsondata import NotStorable, encode, stored_size
from studio_shared.db.types import utcnow
from studio_shared.definition import Definition, check_run_input, default_input, parse_definition
from studio_shared.errors import Conflict, NotFound, ValidationFailed
from studio_shared.events import EventBus, EventKind, channels
from studio_shared.metrics import metrics
from studio_shared.schemas import NodeRegistry, UnusableSchema, user_schema
from studio_shared.settings import Settings
from studio_shared.store import audit, event_waits, human_tasks, tenants
from studio_shared.store.event_waits import ResumeRefused
from studio_shared.types import FINAL_RUN_STATUSES, Decision, EventWaitStatus, HumanTaskStatus, RunStatus, StepStatus
from studio_worker import draft_tests
from studio_worker.admission import Admission, refuse_beyond_cap
from studio_worker.draft_tests import TestStart
from studio_worker.engine import envelopes, records
from studio_worker.engine.definitions import Definitions
from studio_worker.engine.planner import StepState, reset_for_retry
from studio_worker.engine.records import Batch, EventRecord, bus_messages, limits, lookups
from studio_worker.engine.records.cancels import cancel_children
from studio_worker.engine.records.new_runs import NewRun, insert_new_runs, new_run
from studio_worker.nodes.base import NodeContext, NodeError
from studio_worker.nodes.human import publish_task_update
from studio_worker.nodes.mcp_tools import list_tools
from studio_worker.nodes.services import NodeServices
from studio_worker.nodes.wait import TYPE as WAIT_EVENT
from studio_worker.nodes.wait import event_name
from studio_worker.queue import JobQueue

_workflows, _versions = models.Workflow.__table__, models.WorkflowVersion.__table__


log = logging.getLogger("studio.control")


def _start_target(*, latest: bool) -> sa.Select[Any]:
    """The workflow's archived flag and the version to run (the newest, or ``b_version``): one row, or none."""
    joined = sa.and_(
        _versions.c.tenant_id == _workflows.c.tenant_id,
        _versions.c.workflow_id == _workflows.c.id,
        _versions.c.test.is_(False),  # test snapshots are never a version to start
    )
    if not latest:
        joined = sa.and_(joined, _versions.c.version == sa.bindparam("b_version"))
    return (
        sa.select(_workflows.c.archived, _versions.c.id.label("version_id"), _versions.c.version)
        .select_from(_workflows.outerjoin(_versions, joined))
        .where(_workflows.c.tenant_id == sa.bindparam("b_tenant"), _workflows.c.id == sa.bindparam("b_workflow"))
        .order_by(_versions.c.version.desc().nulls_last())
        .limit(1)
    )


_LATEST, _VERSION = _start_target(latest=True), _start_target(latest=False)
# A test run's target: a test snapshot of the workflow (its version is 0 on the run: it runs the draft).
_SNAPSHOT = (
    sa.select(_workflows.c.archived, _versions.c.id.label("version_id"), sa.literal(0).label("version"))
    .select_from(
        _workflows.outerjoin(
            _versions,
            sa.and_(
                _versions.c.tenant_id == _workflows.c.tenant_id,
                _versions.c.workflow_id == _workflows.c.id,
                _versions.c.id == sa.bindparam("b_snapshot"),
                _versions.c.test.is_(True),
            ),
        )
    )
    .where(_workflows.c.tenant_id == sa.bindparam("b_tenant"), _workflows.c.id == sa.bindparam("b_workflow"))
)
_DEFINITION = sa.select(_versions.c.definition).where(
    _versions.c.tenant_id == sa.bindparam("b_tenant"), _versions.c.id == sa.bindparam("b_version")
)
_INSERT_AUDIT = models.AuditEntry.__table__.insert()


@dataclass(frozen=True, slots=True)
class Resumed:
    """A resume a ``wait.event`` step accepted."""

    run_id: uuid.UUID
    step_id: str
    event: str
    via: str
    at: datetime


@dataclass
class _Start:
    """A start's rows: the new run's (``records.new_runs``) and its audit entry."""

    new: NewRun
    audit: dict[str, Any]
    behind_held: bool  # the tenant has runs waiting for a slot: this one joins them instead of being dispatched

    async def insert(self, s: AsyncSession) -> None:
        await insert_new_runs(s, [self.new])
        await s.execute(_INSERT_AUDIT, self.audit)


@dataclass
class Control:
    sessions: Sessions
    bus: EventBus
    queue: JobQueue
    registry: NodeRegistry
    admission: Admission  # every start takes a turn of its tenant's pace and fits under its cap on live runs
    reads: Sessions | None = None  # a read-only factory (see studio_shared.db.read_only); default: sessions
    allow_self_approval: bool = True  # Settings.allow_self_approval: may a run's starter decide its tasks?
    owner: str = f"control:{uuid.uuid4().hex[:12]}"
    definitions: Definitions | None = None  # the run engine's, when this process hosts one

    def __post_init__(self) -> None:
        self.db = self.sessions.kw["bind"]
        self._lookups = lone_reads(self.db)  # single queries outside a transaction (autocommit on PostgreSQL)
        self._definitions = self.definitions if self.definitions is not None else Definitions(self.registry)

    # -- start -------------------------------------------------------------------------------------------

    async def start_run(
        self,
        tenant_id: uuid.UUID,
        actor: str | None,
        workflow_id: uuid.UUID,
        *,
        version: int | None = None,
        input: Any = None,
        idempotency_key: str | None = None,
        trigger: str = "manual",
        trigger_data: dict[str, Any] | None = None,
        started_by: uuid.UUID | None = None,
        admitted: bool = False,
        test: TestStart | None = None,
    ) -> tuple[models.Run, bool]:
        """Create a QUEUED run with every step PENDING and enqueue it; (run, created). A known key returns its run.

        Every transport's start passes here, so this is where a run's trace begins: the ``run.start`` span (a child
        of the request's span, or a root for a schedule's fire), whose traceparent the run row keeps (see
        ``records.new_runs``) and whose ``run.enqueue`` child hands it to a worker. See ``_start_run``.
        """
        with (
            logs.bound(tenant_id=tenant_id),
            tracing.span(
                "run.start",
                {"studio.tenant_id": str(tenant_id), "studio.workflow_id": str(workflow_id), "studio.trigger": trigger},
            ) as current,
        ):
            run, created = await self._start_run(
                tenant_id,
                actor,
                workflow_id,
                version=version,
                input=input,
                idempotency_key=idempotency_key,
                trigger=trigger,
                trigger_data=trigger_data,
                started_by=started_by,
                admitted=admitted,
                test=test,
            )
            if current is not None:
                current.set_attributes({"studio.run_id": str(run.id), "studio.created": created})
            return run, created

    async def _start_run(
        self,
        tenant_id: uuid.UUID,
        actor: str | None,
        workflow_id: uuid.UUID,
        *,
        version: int | None = None,
        input: Any = None,
        idempotency_key: str | None = None,
        trigger: str = "manual",
        trigger_data: dict[str, Any] | None = None,
        started_by: uuid.UUID | None = None,
        admitted: bool = False,
        test: TestStart | None = None,
    ) -> tuple[models.Run, bool]:
        """``start_run`` inside its span and log binding.

        Admission, in this order: a known key answers at once (a repeat takes no turn); then the start waits for its
        turn of the tenant's pace (``RateLimited`` when it is too far away), outside any transaction, so a waiting
        start holds no connection; then the start's own transaction checks the tenant's cap on live runs
        (``TooManyLiveRuns``). ``admitted``: the caller took this start's turn and room already (``admit``).

        ``started_by``: the person on whose authority it starts (the user, an API key's user, the user who made the
        webhook or schedule); its child runs inherit it, and it may not approve their tasks when self-approval is
        off.

        ``test``: a test run of the draft (see ``studio_worker.draft_tests``): it runs that test snapshot instead of a
        published version, through the same admission, and its steps may start filled in (a test step).
        """
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
            raise ValidationFailed.one(["idempotencyKey"], "an idempotency key has 1 to 200 characters")
        if idempotency_key is not None:
            existing = await self._by_key(tenant_id, workflow_id, idempotency_key)
            if existing is not None:
                return existing, False
        if not admitted:
            await self.admission.take_turns(tenant_id)

        # On SQLite, read and check outside the write transaction: it holds the database's one write lock. On
        # PostgreSQL one transaction does both: three round trips fewer (BEGIN, the tenant's declaration, ROLLBACK).
        async def start(s: AsyncSession) -> _Start:
            return await self._start_rows(
                s,
                tenant_id,
                actor,
                workflow_id,
                version,
                input,
                idempotency_key,
                trigger,
                trigger_data,
                admitted,
                started_by,
                test,
            )

        try:
            if self.db.dialect.name == "sqlite":
                async with (self.reads or self.sessions)() as s:
                    found = await start(s)
                async with self.sessions.begin() as s:
                    await found.insert(s)
            else:
                async with self.sessions.begin() as s:
                    found = await start(s)
                    await found.insert(s)
        except IntegrityError:
            # A concurrent start with the same key won the race: answer with its run.
            if idempotency_key is not None:
                existing = await self._by_key(tenant_id, workflow_id, idempotency_key)
                if existing is not None:
                    return existing, False
            raise
        values, event, behind_held = found.new.run, found.new.event, found.behind_held
        metrics.run_started(tenant_id, trigger, test is not None)  # committed; a repeated key returned above
        if behind_held:  # a finishing run of the tenant (or the sweep) dispatches it when its turn comes
            await self._published([event])
        else:
            # Both at once: the run's start waits for one round trip to Redis, not two. A subscriber that gets the
            # worker's first event before this one reads the gap from the database, as after any lost message.
            await asyncio.gather(self._published([event]), self._dispatch(tenant_id, values["id"]))
        return models.Run(**values), True

    async def admit(self, tenant_id: uuid.UUID, runs: int) -> None:
        """Admit ``runs`` starts at once, before the caller stores anything (a message that starts every workflow
        listening on its channel): their turns of the tenant's pace, and room for them under its cap. The caller
        then starts each with ``admitted=True``."""
        if runs <= 0:
            return
        await self.admission.take_turns(tenant_id, runs)
        async with self._lookups.connect() as conn:
            await self.admission.check_room(conn, tenant_id, runs)

    async def _dispatch(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        with tracing.span("run.enqueue", {"studio.run_id": str(run_id)}) as current:
            try:
                await self.queue.enqueue_advance(tenant_id, run_id)
            except Exception as exc:  # the run is committed: the sweep dispatches QUEUED runs nobody picked up
                tracing.failed(current, type(exc).__name__)
                log.warning(
                    "run %s is stored but its dispatch failed; the sweep will dispatch it", run_id, exc_info=True
                )

    async def _start_rows(
        self,
        s: AsyncSession,
        tenant_id: uuid.UUID,
        actor: str | None,
        workflow_id: uuid.UUID,
        version: int | None,
        input: Any,
        idempotency_key: str | None,
        trigger: str,
        trigger_data: dict[str, Any] | None,
        admitted: bool,
        started_by: uuid.UUID | None = None,
        test: TestStart | None = None,
    ) -> _Start:
        """The rows of a new run, after every check (its key is new, or the unique constraint says otherwise)."""
        params = {"b_tenant": tenant_id, "b_workflow": workflow_id, "b_version": version}
        if test is not None:
            query, params["b_snapshot"] = _SNAPSHOT, test.snapshot_id
        else:
            query = _LATEST if version is None else _VERSION
        target = (await s.execute(query, params)).first()
        if target is None:
            raise NotFound("workflow", workflow_id)
        if target.archived:
            raise Conflict("the workflow is archived; it can no longer start runs", ["workflowId"])
        if target.version_id is None and test is not None:
            raise NotFound("test snapshot", test.snapshot_id)
        if target.version_id is None:
            if version is None:
                raise ValidationFailed.one(["workflowId"], "publish the workflow before starting runs", "NOT_PUBLISHED")
            raise ValidationFailed.one(["version"], f"the workflow has no version {version}", "NOT_FOUND")
        behind_held, live, cap = await limits.start_room(s, tenant_id, self.admission.settings.max_live_runs_per_tenant)
        if not admitted:
            refuse_beyond_cap(live, cap, 1)
        definition = self._definitions.get(target.version_id)
        if definition is None:
            document = await s.scalar(_DEFINITION, {"b_tenant": tenant_id, "b_version": target.version_id})
            definition = self._definitions.remember(target.version_id, document)
        if input is None:  # omitted: the trigger's input_schema defaults, as the start dialog pre-fills them
            input = default_input(definition)
        check_run_input(definition, input)
        now = utcnow()
        new = new_run(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            version_id=target.version_id,
            version=target.version,
            definition=definition,
            input=input,
            trigger=trigger,
            trigger_data=trigger_data,
            now=now,
            idempotency_key=idempotency_key,
            created_by=actor,
            started_by=started_by,
            test=test is not None,
            held=behind_held,  # the oldest held run is dispatched first, as slots free
            filled=test.steps if test is not None else None,
        )
        entry = {
            "tenant_id": tenant_id,
            "actor": actor,
            "action": "run.test" if test is not None else "run.start",
            "target_kind": "run",
            "target_id": str(new.id),
            "data": {"workflow": str(workflow_id)},
            "at": now,
        }
        return _Start(new, entry, behind_held)

    async def _by_key(self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, key: str) -> models.Run | None:
        """The run an idempotency key started, if any: one query on its own, before the start takes a turn."""
        async with self._lookups.connect() as conn:
            return await lookups.by_key(conn, tenant_id, workflow_id, key)

    # -- test runs of the draft (studio_worker.draft_tests): started through start_run -----------------------

    start_test_run = draft_tests.start_test_run
    start_test_step = draft_tests.start_test_step
    start_test_replay = draft_tests.start_test_replay

    # -- cancel ------------------------------------------------------------------------------------------

    async def cancel_run(self, tenant_id: uuid.UUID, actor: Principal, run_id: uuid.UUID) -> models.Run:
        """Cancel now when no driver holds the run; otherwise ask its driver (it cancels running steps)."""
        async with self.sessions.begin() as s:
            run = await _run(s, tenant_id, run_id)
            if run.status in FINAL_RUN_STATUSES:
                raise Conflict(f"the run already finished ({run.status.value}); there is nothing to cancel", ["id"])
            now = utcnow()
            run.cancel_requested_at = run.cancel_requested_at or now
            run.signal += 1
            audit.record(s, tenant_id, actor.actor, "run.cancel", ("run", run.id))
            held = run.lease_owner is not None and run.lease_expires_at is not None and run.lease_expires_at > now
            published: list[EventRecord] = []
            if not held:
                run.lease_owner = self.owner
                await s.flush()
                batch = Batch(
                    tenant_id, run_id, release_lease=True, poke_parent=run.parent_run_id, cancel_children=True
                )
                step_rows = await lookups.steps_of(s, tenant_id, run_id)
                reason = "the run was cancelled"
                for step in step_rows:
                    if not step.status.final:
                        envelope = envelopes.cancelled(
                            run_id,
                            step.step_id,
                            step.node_type,
                            attempt=step.attempt,
                            started_at=step.started_at,
                            finished_at=now,
                            reason=reason,
                        )
                        batch.step(
                            step.step_id,
                            step.status,
                            status=StepStatus.CANCELLED,
                            finished_at=now,
                            wake_at=None,
                            envelope=envelope,
                        )
                        batch.event(EventKind.STEP_CANCELLED, step.step_id, StepStatus.CANCELLED, reason=reason)
                batch.run_values.update(
                    status=RunStatus.CANCELLED,
                    finished_at=now,
                    wake_at=None,
                    error={"type": "Cancelled", "message": "the run was cancelled"},
                )
                batch.event(EventKind.RUN_CANCELLED, status=RunStatus.CANCELLED, **_marks(run))
                conn = await s.connection()
                published = await records.apply(conn, batch, self.owner)
        if published:
            metrics.run_finished(tenant_id, RunStatus.CANCELLED, run.trigger, run.test)  # ended by this commit
            await self._published(published)
            await self.queue.enqueue_advance(tenant_id, run_id)  # lets the engine admit the next queued run
            if run.parent_run_id is not None:
                await self.queue.enqueue_advance(tenant_id, run.parent_run_id)
            await cancel_children(self.db, self.bus, self.queue, tenant_id, run_id)
        else:
            await self.bus.publish(channels.control(), {"cancel": str(run_id)})
            await self.queue.enqueue_advance(tenant_id, run_id)
        async with self.sessions() as s:
            return await _run(s, tenant_id, run_id)

    # -- retry -------------------------------------------------------------------------------------------

    async def retry_run(
        self, tenant_id: uuid.UUID, actor: Principal, run_id: uuid.UUID, from_step: str | None
    ) -> models.Run:
        """Resume the same run: the named step (default: every failed or cancelled one) and all downstream.

        A finished run that resumes is live again: it is admitted like a start (a turn of the pace, room under the
        cap), or retrying thousands of finished runs would be a way around both.
        """
        await self.admission.take_turns(tenant_id)
        async with self.sessions.begin() as s:
            run = await _run(s, tenant_id, run_id)
            if run.status not in FINAL_RUN_STATUSES:
                raise Conflict(f"the run is {run.status.value}; retry it once it has finished", ["id"])
            if run.status is RunStatus.SUCCEEDED and from_step is None:
                raise ValidationFailed.one(["fromStep"], "the run succeeded: name the step to run again from")
            await self.admission.check_room(s, tenant_id, 1)
            version = await s.get(models.WorkflowVersion, run.workflow_version_id)
            if version is None or version.tenant_id != tenant_id:
                raise NotFound("workflow version", run.workflow_version_id)
            definition = parse_definition(version.definition, self.registry)
            if from_step is not None and from_step not in definition:
                known = ", ".join(sorted(n.id for n in definition)[:20])
                raise ValidationFailed.one(["fromStep"], f"the workflow has no step {from_step!r} (steps: {known})")
            step_rows = {step.step_id: step for step in await lookups.steps_of(s, tenant_id, run_id)}
            states = {sid: StepState(step.status) for sid, step in step_rows.items()}
            reset = reset_for_retry(definition, states, from_step)
            if not reset:
                raise ValidationFailed.one(["fromStep"], "no step failed or was cancelled: name the step to run again")
            run.lease_owner = self.owner  # final runs are never leased; this makes control the fenced writer
            await s.flush()
            batch = Batch(tenant_id, run_id, release_lease=True)
            for sid in definition.topological_order():
                if sid not in reset:
                    continue
                step = step_rows[sid]
                generation = int((step.state or {}).get("generation", 0)) + 1
                # What the reset clears no longer counts against the stored-output quotas.
                batch.freed_bytes += sum(
                    stored_size(v) for v in (step.output, step.error, step.envelope, step.state, step.branches)
                )
                batch.step(
                    sid,
                    step.status,
                    status=StepStatus.PENDING,
                    output=None,
                    error=None,
                    envelope=None,
                    branches=None,
                    wake_at=None,
                    started_at=None,
                    finished_at=None,
                    interruptions=0,
                    state={"generation": generation, "attempt_base": step.attempt},
                )
            batch.freed_bytes += stored_size(run.output) + stored_size(run.error)
            batch.run_values.update(
                status=RunStatus.QUEUED,
                output=None,
                error=None,
                finished_at=None,
                wake_at=None,
                cancel_requested_at=None,
            )
            ordered = [sid for sid in definition.topological_order() if sid in reset]
            batch.event(
                EventKind.RUN_RETRIED, status=RunStatus.QUEUED, from_step=from_step, steps=ordered, **_marks(run)
            )
            audit.record(s, tenant_id, actor.actor, "run.retry", ("run", run_id), {"from_step": from_step})
            conn = await s.connection()
            published = await records.apply(conn, batch, self.owner)
        metrics.runs_retried.inc()  # committed: the run is live again and will count as finished once more
        await self._published(published)
        await self.queue.enqueue_advance(tenant_id, run_id)
        async with self.sessions() as s:
            return await _run(s, tenant_id, run_id)

    # -- human tasks -------------------------------------------------------------------------------------

    async def decide_human_task(
        self,
        tenant_id: uuid.UUID,
        actor: Principal,
        task_id: uuid.UUID,
        decision: Decision,
        comment: str | None = None,
        data: Any = None,
    ) -> models.HumanTask:
        """Record a user's decision on a task; the decision that resolves it (quorum or rejection) resumes the run.

        Only the transaction whose conditional update closes the task pokes the run, in the same transaction,
        so concurrent decisions resume it exactly once.
        """
        if actor.user_id is None:
            raise human_tasks.DecisionRefused("FORBIDDEN", "API keys cannot decide tasks: decide as a signed-in user")
        async with self.sessions.begin() as s:
            user = await tenants.get_user(s, tenant_id, actor.user_id)
            if user is None or not user.active:
                raise human_tasks.DecisionRefused("FORBIDDEN", "this account no longer exists or was disabled")
            approver = human_tasks.Approver(user.id, user.email, actor.role)
            decided = await human_tasks.decide(
                s, tenant_id, approver, task_id, decision, comment, data, allow_self_approval=self.allow_self_approval
            )
            if decided.resolved is not None:
                await records.poke(await s.connection(), tenant_id, decided.run_id)
        if decided.resolved is not None:
            await self.queue.enqueue_advance(tenant_id, decided.run_id)
        status = decided.resolved or HumanTaskStatus.OPEN
        await publish_task_update(self.bus, tenant_id, decided.task_id, status.value)
        async with (self.reads or self.sessions)() as s:
            task = await human_tasks.get(s, tenant_id, decided.task_id)
        if task is None:  # deleted with its run in the meantime
            raise NotFound("human task", task_id)
        return task

    # -- wait.event ---------------------------------------------------------------------------------------

    async def resume_wait(
        self,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        *,
        step_id: str | None = None,
        event: str | None = None,
        payload: Any = None,
        via: str,
        actor: str | None = None,
    ) -> Resumed:
        """Resume a waiting ``wait.event`` step of the run, named by its step id (its resume URL) or its event name
        (``signalRun``), with ``payload`` as the step's output.

        The first resume wins: the wait leaves WAITING through one conditional update, in the same transaction as
        the run's ``step.event_received`` event and its poke, so concurrent resumes (or a resume racing the timeout)
        resume the step exactly once. Refusals: NotFound (no such run for this tenant, or no such step),
        ValidationFailed (no step listens for ``event``; the payload does not match ``payload_schema``: the step
        keeps waiting), ResumeRefused (ALREADY_RESUMED with the first resume's outcome, or NOT_WAITING).
        """
        async with (self.reads or self.sessions)() as s:
            run = await lookups.load(s, tenant_id, run_id)
            if run is None:
                raise NotFound("run", run_id)
            definition = await self._definition_of(s, tenant_id, run.workflow_version_id)
        sid = self._wait_step(definition, run_id, step_id, event)
        name = event_name(sid, definition.node(sid).config)
        try:
            encode(payload)
        except NotStorable as exc:
            raise ValidationFailed.one(["payload"], str(exc.at("payload")), "INVALID_PAYLOAD") from None
        now = utcnow()
        async with self.sessions.begin() as s:
            wait = await event_waits.latest_of_step(s, tenant_id, run_id, sid)
            if wait is None or wait.status is not EventWaitStatus.WAITING:
                raise _not_taken(wait, sid, name, run.status)
            if wait.expires_at is not None and wait.expires_at <= now:
                raise ResumeRefused(
                    "NOT_WAITING",
                    f"step {sid!r} stopped waiting for event {name!r} at {wait.expires_at:%Y-%m-%d %H:%M:%S} UTC "
                    "(its timeout_s): it takes the timeout branch",
                )
            _check_payload(wait, payload)
            # The run row first, then the wait: the order of a driver's final batch (run, then its waits), so the
            # two never deadlock. Concurrent resumes queue on the run row; the losers' conditional update finds
            # the wait closed and their transaction (poke and event included) rolls back.
            data = {"event": name, "via": via, "at": now.isoformat()}
            record = await records.poke_with_event(
                await s.connection(), tenant_id, run_id, EventKind.STEP_EVENT_RECEIVED, sid, StepStatus.WAITING, data
            )
            if record is None:  # the run ended meanwhile: perhaps because a concurrent resume of this wait won
                await s.refresh(wait)
                if wait.status is not EventWaitStatus.WAITING:
                    raise _not_taken(wait, sid, name, run.status)  # ALREADY_RESUMED with the first outcome
                raise ResumeRefused("NOT_WAITING", f"the run has ended; step {sid!r} is not waiting any more")
            if not await event_waits.receive(s, tenant_id, wait.id, payload, via, actor, now):
                await s.refresh(wait)  # what won, as committed (the session holds the row as first read)
                raise _not_taken(wait, sid, name, run.status)
            audit.record(s, tenant_id, actor, "run.resume", ("run", run_id), {"step": sid, "event": name, "via": via})
        await self._published([record])
        await self._dispatch(tenant_id, run_id)
        return Resumed(run_id, sid, name, via, now)

    async def _definition_of(self, s: AsyncSession, tenant_id: uuid.UUID, version_id: uuid.UUID) -> Definition:
        definition = self._definitions.get(version_id)
        if definition is None:
            document = await s.scalar(_DEFINITION, {"b_tenant": tenant_id, "b_version": version_id})
            definition = self._definitions.remember(version_id, document)
        return definition

    @staticmethod
    def _wait_step(definition: Definition, run_id: uuid.UUID, step_id: str | None, event: str | None) -> str:
        """The wait.event step a resume names: by id (a resume URL) or by its event name (signalRun)."""
        waits = [node for node in definition if node.type == WAIT_EVENT]
        if step_id is not None:
            if not any(node.id == step_id for node in waits):
                raise NotFound("run", run_id)  # a URL for a step that is no wait.event: nothing to tell apart
            return step_id
        found = [node.id for node in waits if event_name(node.id, node.config) == event]
        if not found:
            names = sorted(event_name(node.id, node.config) for node in waits)
            listed = (
                f"its wait.event steps listen for: {', '.join(names[:20])}" if names else "it has no wait.event step"
            )
            raise ValidationFailed.one(
                ["name"], f"no step of this run's workflow waits for event {event!r}; {listed}", "UNKNOWN_EVENT"
            )
        return found[0]

    async def _published(self, events: list[EventRecord]) -> None:
        try:
            await self.bus.publish_many(bus_messages(events))
        except Exception:  # committed already; subscribers read the gap from the database
            log.warning(
                "%d events are committed but their publish failed; subscribers read them from the database",
                len(events),
                exc_info=True,
            )


def _not_taken(wait: models.EventWait | None, sid: str, name: str, run_status: RunStatus) -> ResumeRefused:
    """Why a resume found no WAITING wait: an earlier resume won (with its outcome), or the step is not waiting."""
    if wait is None:
        if run_status in FINAL_RUN_STATUSES:
            return ResumeRefused(
                "NOT_WAITING", f"the run is {run_status.value}; step {sid!r} never waited and never will"
            )
        return ResumeRefused(
            "NOT_WAITING", f"step {sid!r} has not started waiting for event {name!r} yet: resume it once it waits"
        )
    if wait.status is EventWaitStatus.RECEIVED:
        at = f" at {wait.received_at:%Y-%m-%d %H:%M:%S} UTC" if wait.received_at else ""
        return ResumeRefused(
            "ALREADY_RESUMED",
            f"step {sid!r} was already resumed (via {wait.via}{at}); the first resume wins, this one changed nothing",
            event_waits.outcome(wait),
        )
    if wait.status is EventWaitStatus.TIMED_OUT:
        return ResumeRefused(
            "NOT_WAITING", f"step {sid!r} timed out waiting for event {name!r} and took its timeout branch"
        )
    if wait.status is EventWaitStatus.CANCELLED:
        return ResumeRefused("NOT_WAITING", f"the run ended ({run_status.value}); step {sid!r} is not waiting any more")
    return ResumeRefused("NOT_WAITING", f"step {sid!r} is not waiting")


def _check_payload(wait: models.EventWait, payload: Any) -> None:
    """The payload must match the step's payload_schema (through the one validator factory); the step keeps waiting
    when it does not."""
    if wait.payload_schema is None:
        return
    try:
        compiled = user_schema(wait.payload_schema, formats=True)
    except UnusableSchema as exc:
        raise ValidationFailed.one(
            ["payload"], f"the step's payload_schema cannot be used; fix it and publish again: {exc}", "UNUSABLE_SCHEMA"
        ) from None
    problems = compiled.problems(payload, ("payload",), "INVALID_PAYLOAD")
    if problems:
        raise ValidationFailed(problems)


def _marks(run: models.Run) -> dict[str, Any]:
    """What a test run's run-level events carry: ``test: true``."""
    return {"test": True} if run.test else {}


async def _run(s: Any, tenant_id: uuid.UUID, run_id: uuid.UUID) -> models.Run:
    run = await lookups.load(s, tenant_id, run_id)
    if run is None:
        raise NotFound("run", run_id)
    return run


class ToolListUnavailable(Exception):
    """An MCP server's tools could not be listed: ``code`` and ``message`` say why (no URL, no secret in them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


async def list_mcp_tools(
    settings: Settings, db: AsyncEngine, tenant_id: uuid.UUID, entry: dict[str, Any]
) -> list[dict[str, Any]]:
    """The tools an agent's MCP ``entry`` would offer (the inspector's view), listed as the step lists them:
    through the egress policy, with the tenant's credential, narrowed by the allow-list."""
    ctx = NodeContext(
        tenant_id=tenant_id,
        run_id=uuid.uuid4(),
        step_id="inspector",
        node_type="agent",
        attempt=0,
        idempotency_key="inspector",
        scope={},
        raw_config={},
        services=NodeServices(settings, db),
    )
    try:
        tools = await list_tools(ctx, entry, settings.mcp_list_timeout_s)
    except NodeError as exc:
        raise ToolListUnavailable(exc.type, exc.message) from None
    return [{"qualified": t.qualified, **t.state()} for t in tools]
