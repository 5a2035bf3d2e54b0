"""Drive one run: plan, start steps, record results, until the run finishes or parks.

A driver holds the run's lease while it works. Pure steps (triggers, transform, condition, switch,
fail) run inline and their transitions join the next commit with their neighbours'; other steps are
claimed first (committed RUNNING), then run as tasks, bounded per run. A run with nothing left but
long waits parks as WAITING and releases its lease: it holds no worker until something wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from studio_shared import logs, tracing
from studio_shared.db.errors import STORAGE_REFUSED, unstorable
from studio_shared.db.jsondata import Encoded, NotStorable, encode, stored_size
from studio_shared.db.types import utcnow
from studio_shared.definition import Definition, Node
from studio_shared.events import EventKind
from studio_shared.events.contract import FINAL_EVENT_KINDS
from studio_shared.metrics import metrics
from studio_shared.templates import TemplateError
from studio_shared.types import RunStatus, StepStatus
from studio_worker.engine import envelopes, records
from studio_worker.engine.children import Children
from studio_worker.engine.error_workflows import plain, plan_error_start
from studio_worker.engine.planner import Plan, StepState, plan, sink_outputs
from studio_worker.engine.quotas import REFUSE_FRESH_S, TenantUsage, size_text
from studio_worker.engine.records import STEP_JSON, Batch, EventDraft, LeaseLost, Signalled
from studio_worker.engine.records.cancels import cancel_children
from studio_worker.engine.records.error_runs import ERROR_TRIGGER
from studio_worker.nodes import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.redact import Redactor

if TYPE_CHECKING:
    from studio_worker.engine.runtime import RunEngine

log = logging.getLogger("studio.engine")

WAIT_EVENT = "wait.event"  # steps of this type have a resume URL in every template's run.resume_urls
INLINE_WAIT_S = 2.0  # a wake-up closer than this is slept through; a later one parks the run
MAX_BATCH_ITEMS = 400  # commit at least this often during a long stretch of pure steps
SMALL_OUTPUT_BYTES = 8_000  # events carry a step's output when it is this small (else: read the step)
QUOTA_EXCEEDED = "OutputQuotaExceeded"

Outcome = NodeResult | NodeError


class RunAborted(Exception):
    """The database can never store one of this run's batches as it is: the run was failed instead."""


@dataclass
class Transition:
    """A step's next state as it will be stored: column values (JSON ones encoded), its events, their bytes."""

    status: StepStatus
    values: dict[str, Any]
    events: list[EventDraft]
    size: int = 0  # bytes of the encoded values and event data
    freed: int = 0  # bytes of the stored values they replace
    reserve: int = 0  # bytes the run's output will take for it (a sink step's output, copied when the run ends)


@dataclass
class StepRow:
    status: StepStatus
    node_type: str
    attempt: int
    interruptions: int
    output: Any
    error: dict[str, Any] | None
    branches: tuple[str, ...] | None
    wake_at: datetime | None
    input: dict[str, Any] | None  # the rendered config of the latest attempt
    state: dict[str, Any] | None
    started_at: datetime | None
    generation: int  # bumped by every retryRun that resets the step: part of its idempotency key
    attempt_base: int  # attempts made before the last reset: they do not count against the retry budget

    def view(self) -> StepState:
        return StepState(self.status, self.branches, self.wake_at)


class RunDriver:
    def __init__(self, engine: RunEngine, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        self.engine, self.tenant_id, self.run_id = engine, tenant_id, run_id
        self.cancel = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[Outcome]] = {}
        self.contexts: dict[str, NodeContext] = {}  # steps started in this driver, until recorded
        self.configs: dict[str, dict[str, Any]] = {}  # their rendered configs
        self.rows: dict[str, StepRow] = {}
        self.definition: Definition
        self.run: dict[str, Any] = {}
        self.scope_steps: dict[str, dict[str, Any]] = {}
        self.pins: dict[str, Any] = {}  # a test run's pinned outputs (from its test snapshot); never a live run's
        self.used = 0  # the run's stored bytes: committed (runs.stored_bytes) plus admitted since
        self.reserved = 0  # bytes the run's output will copy from sink steps that succeeded
        self._urls: dict[Any, dict[str, str]] = {}  # the resume URLs of the loaded definition (see _resume_urls)
        self.usage: TenantUsage

    # -- entry -------------------------------------------------------------------------------------------

    async def drive(self) -> None:
        """Advance the run as far as it goes; return when it finishes, parks, or another driver owns it."""
        token = logs.bind(tenant_id=self.tenant_id, run_id=self.run_id)  # every log line of this run (and its steps)
        try:
            while True:
                try:
                    if not await self._load():
                        return
                    await self._loop()
                    return
                except Signalled:
                    await self._stop_tasks()  # reload: the poke (cancel, decision) is in the database now
                    continue
        except LeaseLost:
            log.warning("lost the lease of run %s; another worker continues it", self.run_id)
        except RunAborted:
            pass
        except asyncio.CancelledError:
            # Shutdown past its grace (or the job was aborted): let another process resume the run now.
            await self._stop_tasks()
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wait_for(self.engine.release(self.tenant_id, self.run_id), 2.0))
            raise
        finally:
            await self._stop_tasks()
            logs.unbind(token)

    async def _load(self) -> bool:
        eng = self.engine
        limit = eng.settings.max_concurrent_runs_per_tenant
        # The claim is one conditional UPDATE, atomic on its own: on PostgreSQL it runs in autocommit, and so does
        # the read after it (two round trips; a transaction around them took four), and its commit does not wait
        # for the disk (``unflushed_statements``: a claim a database crash loses is swept and dispatched again).
        # SQLite takes its one write lock for the claim alone. Holding the lease, nobody else writes this run's
        # steps, so a read after the claim sees what the claim saw.
        async with eng.claims.begin() as conn:
            run = await records.claim_run(conn, self.tenant_id, self.run_id, eng.owner, eng.lease_s, limit)
        if run is None:
            return False
        if not self.run and run["status"] == RunStatus.RUNNING:
            # Claimed (committed) while RUNNING by this driver's first load: the previous driver stopped without
            # parking or ending it (its lease expired, or it handed the run over). A reload after a poke is not one.
            metrics.runs_recovered.inc()
        async with eng.lone_reads.connect() as conn:
            definition, rows = await self._read_run(conn, run)
        self.run, self.definition = run, definition
        self.rows = {r["step_id"]: _row(r) for r in rows}
        self.scope_steps = {
            sid: {"output": row.output} for sid, row in self.rows.items() if row.status is StepStatus.SUCCEEDED
        }
        self.usage = await eng.quotas.usage(self.tenant_id)
        self.used = int(run["stored_bytes"] or 0)
        self.reserved = sum(
            stored_size(self.rows[sid].output)
            for sid in definition.sinks()
            if sid in self.rows and self.rows[sid].status is StepStatus.SUCCEEDED
        )
        now = utcnow()
        for row in self.rows.values():
            spec = eng.handlers.get(row.node_type)
            if row.status is StepStatus.WAITING and spec is not None and spec.resume_on_poke:
                row.wake_at = now  # in memory: look at its children now (a poke may be why we are here)
        self.cancel.clear()
        if run["cancel_requested_at"] is not None:
            self.cancel.set()
        return True

    async def _read_run(self, conn: Any, run: Mapping[str, Any]) -> tuple[Definition, list[dict[str, Any]]]:
        eng = self.engine
        definition = eng.definitions.get(run["workflow_version_id"])
        if definition is None:
            document = await records.load_definition(conn, self.tenant_id, run["workflow_version_id"])
            definition = eng.definitions.remember(run["workflow_version_id"], document)
        # Pins are read for test runs only: a published run never reads a pin, whatever its version holds.
        self.pins = await records.load_pins(conn, self.tenant_id, run["workflow_version_id"]) if run["test"] else {}
        return definition, await records.load_steps(conn, self.tenant_id, self.run_id)

    # -- the loop ----------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        batch = self._batch()
        status = RunStatus(self.run["status"])
        if status is RunStatus.QUEUED:
            batch.run_values.update(status=RunStatus.RUNNING, started_at=utcnow(), wake_at=None)
            batch.event(EventKind.RUN_STARTED, status=RunStatus.RUNNING, **self._marks())
        elif status is RunStatus.WAITING:
            batch.run_values.update(status=RunStatus.RUNNING, wake_at=None)
            batch.event(EventKind.RUN_RESUMED, status=RunStatus.RUNNING, **self._marks())
        for sid, row in self.rows.items():
            if row.status is StepStatus.RUNNING:  # its driver died mid-step: run it again, no retry budget spent
                self._set(batch, sid, StepStatus.PENDING, interruptions=row.interruptions + 1, wake_at=None)
                batch.event(EventKind.STEP_INTERRUPTED, sid, StepStatus.PENDING, attempt=row.attempt)

        while True:
            if self.cancel.is_set():
                await self._finish_cancelled(batch)
                return
            current = await self._advance_in_memory(batch)
            if current.run_failed:
                await self._finish_failed(batch, current)
                return
            if current.finished and not self.tasks:
                await self._finish(batch, RunStatus.SUCCEEDED)
                return
            starting = [sid for sid in self.contexts if sid not in self.tasks]
            batch = await self._commit(batch)  # claims are durable before any side effect starts
            for sid in starting:
                spec = self.engine.handlers.get(self.definition.node(sid).type)
                if spec is not None:
                    self.tasks[sid] = asyncio.create_task(
                        self._execute_task(sid, spec), name=f"step:{self.run_id}:{sid}"
                    )
            if not self.tasks:
                draining = self.engine.draining.is_set()
                if draining and current.ready:
                    await self._hand_over(batch)
                    return
                wake = current.next_wake_at
                delay = (wake - utcnow()).total_seconds() if wake else None
                if delay is not None and delay <= INLINE_WAIT_S and not draining:
                    await self._sleep(delay)
                    continue
                await self._park(batch, wake)
                return
            await self._wait_for_tasks(batch, current.next_wake_at)

    async def _advance_in_memory(self, batch: Batch) -> Plan:
        """Apply skips, run pure steps and claim the others until nothing changes; return the last plan."""
        while True:
            current = plan(self.definition, self._views(), utcnow())
            if current.run_failed:
                return current
            changed = False
            for sid in current.skip:
                now = utcnow()
                envelope = self._envelope(sid, StepStatus.SKIPPED, self.rows[sid].attempt, None, None, [], now)
                self._set(batch, sid, StepStatus.SKIPPED, finished_at=now, envelope=envelope)
                batch.event(EventKind.STEP_SKIPPED, sid, StepStatus.SKIPPED)
                changed = True
            for sid in current.due:
                await self._resume(batch, sid)
                changed = True
            capacity = 0 if self.engine.draining.is_set() else self.engine.max_parallel_steps - len(self.contexts)
            for sid in current.ready:
                node = self.definition.node(sid)
                spec = self.engine.handlers.get(node.type)
                if spec is not None and not spec.pure:
                    if capacity <= 0:
                        continue
                    capacity -= 1
                await self._start(batch, node, spec)
                changed = True
            if not changed or len(batch) >= MAX_BATCH_ITEMS:
                return plan(self.definition, self._views(), utcnow()) if changed else current

    # -- steps -------------------------------------------------------------------------------------------

    async def _start(self, batch: Batch, node: Node, spec: NodeSpec | None) -> None:
        sid, row = node.id, self.rows[node.id]
        attempt = row.attempt + 1
        now = utcnow()
        self._set(batch, sid, StepStatus.RUNNING, attempt=attempt, started_at=now, finished_at=None, wake_at=None)
        row.started_at = now
        batch.event(EventKind.STEP_STARTED, sid, StepStatus.RUNNING, attempt=attempt)
        pin = self.pins.get(sid)
        if isinstance(pin, dict):  # a test run: the pinned output stands in for running the node
            branches = pin.get("branches")
            pinned = NodeResult(output=pin.get("output"), branches=tuple(branches) if branches is not None else None)
            await self._record(batch, sid, pinned)
            return
        if spec is None:
            missing = NodeError("UnknownNodeType", f"no implementation for node type {node.type!r}")
            await self._record(batch, sid, missing)
            return
        try:
            config = encode(self._render(node, spec))
        except TemplateError as exc:
            await self._record(batch, sid, NodeError("TemplateError", str(exc)))
            return
        except NotStorable as exc:
            await self._record(batch, sid, NodeError(exc.kind, str(exc.at(f"steps.{sid}.input"))))
            return
        freed = self._freed(batch, sid, "input")
        refusal = await self._over_quota(config.size - freed)
        if refusal is not None:  # its rendered config alone would pass a quota: the step stores none of it
            await self._record(batch, sid, NodeError(QUOTA_EXCEEDED, refusal))
            return
        batch.freed_bytes += freed
        self._set(batch, sid, StepStatus.RUNNING, input=config)
        ctx = self._context(node, attempt)
        self.contexts[sid], self.configs[sid] = ctx, config.value
        if spec.pure:
            await self._record(batch, sid, await self._call(spec, ctx, config.value, node.timeout_s))

    async def _execute_task(self, sid: str, spec: NodeSpec) -> Outcome:
        node = self.definition.node(sid)
        return await self._call(spec, self.contexts[sid], self.configs[sid], node.timeout_s)

    async def _resume(self, batch: Batch, sid: str) -> None:
        """A WAITING step's deadline passed (a delay ended, an approval expired): let its node finish it."""
        node, row = self.definition.node(sid), self.rows[sid]
        spec = self.engine.handlers.get(node.type)
        self._set(batch, sid, StepStatus.RUNNING, wake_at=None)
        if spec is None or spec.resume is None:
            await self._record(batch, sid, NodeError("NotResumable", f"{node.type} steps cannot resume after waiting"))
            return
        ctx = self._context(node, row.attempt)
        ctx.state = {k: v for k, v in (row.state or {}).items() if k != "config"}
        # The rendered config of the attempt that started waiting is the step's input (kept out of the state,
        # which is rewritten on every resume of a long wait such as a foreach over thousands of items).
        config = dict(row.input if row.input is not None else (row.state or {}).get("config") or {})
        self.contexts[sid], self.configs[sid] = ctx, config
        await self._record(batch, sid, await self._call(spec, ctx, config, node.timeout_s, resume=True))

    async def _call(
        self, spec: NodeSpec, ctx: NodeContext, config: dict[str, Any], timeout_s: float | None, resume: bool = False
    ) -> Outcome:
        if not tracing.enabled():
            with logs.bound(step_id=ctx.step_id):
                return await self._call_node(spec, ctx, config, timeout_s, resume)
        attributes: dict[str, str | int | bool] = {
            "studio.run_id": str(self.run_id),
            "studio.step_id": ctx.step_id,
            "studio.node_type": spec.type,
            "studio.attempt": ctx.attempt,
            "studio.resume": resume,
        }
        # A child of the run's start span, read from the run's row: the same trace whichever worker runs the step.
        with (
            logs.bound(step_id=ctx.step_id),
            tracing.span(f"step {ctx.step_id}", attributes, parent=self.run.get("traceparent")) as current,
        ):
            outcome = await self._call_node(spec, ctx, config, timeout_s, resume)
            if isinstance(outcome, NodeError):
                tracing.failed(current, outcome.type)
            return outcome

    async def _call_node(
        self, spec: NodeSpec, ctx: NodeContext, config: dict[str, Any], timeout_s: float | None, resume: bool
    ) -> Outcome:
        handler = spec.resume if resume and spec.resume else spec.run
        try:
            if timeout_s is None:
                result = await handler(ctx, config)
            else:
                async with asyncio.timeout(timeout_s):
                    result = await handler(ctx, config)
        except NodeError as exc:
            return exc
        except TimeoutError:
            return NodeError("Timeout", f"the step did not finish within timeout_s={timeout_s:g}", retryable=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected library error: recorded, never raised into the engine
            log.exception("node %s of run %s raised", ctx.step_id, ctx.run_id)
            return NodeError("InternalError", f"{type(exc).__name__} in the {spec.type} node", retryable=True)
        if not (result.wait or result.wait_until):
            problems = self.engine.registry.validate_output(spec.type, result.output)
            if problems:
                detail = "; ".join(f"{p.dotted or 'output'}: {p.message}" for p in problems[:3])
                return NodeError("InvalidOutput", f"the node produced an output that breaks its schema: {detail}")
        return result

    async def _record(self, batch: Batch, sid: str, outcome: Outcome) -> None:
        """Turn an outcome into the step's next state: done, waiting, retrying or failed.

        What the step stores is encoded first: a value JSON cannot hold (Infinity, NaN, not data) fails the step
        with an error naming it, and a result that would pass a stored-output quota fails it with
        OutputQuotaExceeded; either way the step keeps none of that result and the error alone is stored.
        """
        ctx = self.contexts.pop(sid, None)
        self.configs.pop(sid, None)
        logs = ctx.logs if ctx else []
        if ctx is not None and ctx.secrets:
            outcome, logs = _redacted(ctx, outcome)
        node_events = ctx.events if ctx else []
        artifacts = ctx.artifacts if ctx else []
        now = utcnow()
        try:
            change = self._transition(batch, sid, outcome, logs, node_events, now, artifacts)
        except NotStorable as exc:
            outcome = NodeError(exc.kind, str(exc))
            change = self._transition(batch, sid, outcome, logs, [], now, artifacts)
        refusal = await self._over_quota(change.size - change.freed, change.reserve)
        if refusal is not None:
            change = self._transition(batch, sid, NodeError(QUOTA_EXCEEDED, refusal), [], [], now, artifacts)
        else:
            self.reserved += change.reserve
        batch.freed_bytes += change.freed
        self._set(batch, sid, change.status, **change.values)
        batch.events.extend(change.events)
        if change.status is StepStatus.SUCCEEDED:
            self.scope_steps[sid] = {"output": self.rows[sid].output}

    def _transition(
        self,
        batch: Batch,
        sid: str,
        outcome: Outcome,
        logs: list[str],
        node_events: list[tuple[EventKind, dict[str, Any]]],
        now: datetime,
        artifacts: Sequence[str] = (),
    ) -> Transition:
        """The step's next state for ``outcome``, encoded; NotStorable when part of it cannot be stored."""
        node, row = self.definition.node(sid), self.rows[sid]
        events = [EventDraft(kind, sid, StepStatus.RUNNING, data or None) for kind, data in node_events]
        if isinstance(outcome, NodeResult):
            if outcome.wait or outcome.wait_until:
                # What resume needs besides the step's input (its rendered config): the node's own state and the
                # resume generation.
                state = {**(outcome.state or {}), "generation": row.generation, "attempt_base": row.attempt_base}
                values: dict[str, Any] = {"wake_at": outcome.wait_until, "state": state}
                data: dict[str, Any] = {"wake_at": _iso(outcome.wait_until)}
                events.append(EventDraft(EventKind.STEP_WAITING, sid, StepStatus.WAITING, data))
                return self._encoded(batch, sid, Transition(StepStatus.WAITING, values, events))
            output = self._encode_value(sid, "output", outcome.output)
            envelope = self._envelope(
                sid, StepStatus.SUCCEEDED, row.attempt, outcome.output, None, logs, now, artifacts
            )
            branches = list(outcome.branches) if outcome.branches is not None else None
            values = {"output": output, "branches": branches, "error": None, "envelope": envelope, "finished_at": now}
            data = {"attempt": row.attempt}
            if sid in self.pins:
                envelope["pinned"] = data["pinned"] = True
            if branches is not None:
                data["branches"] = branches
            if output.size <= SMALL_OUTPUT_BYTES:
                data["output"] = outcome.output
            events.append(EventDraft(EventKind.STEP_SUCCEEDED, sid, StepStatus.SUCCEEDED, data))
            change = self._encoded(batch, sid, Transition(StepStatus.SUCCEEDED, values, events))
            if not self.definition.outgoing(sid):  # a sink: the run's output will hold a copy
                change.reserve = output.size
            return change
        error = outcome.as_dict()
        spent = row.attempt - row.attempt_base - row.interruptions
        if outcome.retryable and spent < node.retry.max_attempts:
            # Drawn once, here: the stored wake_at is when the retry runs, whoever resumes the run.
            draw = random.random()  # noqa: S311 - spreads retries in time, guards no secret
            retry_at = now + timedelta(seconds=node.retry.wait_after(spent, draw))
            data = {"attempt": row.attempt, "error": error, "retry_at": _iso(retry_at)}
            events.append(EventDraft(EventKind.STEP_RETRYING, sid, StepStatus.PENDING, data))
            values = {"error": error, "wake_at": retry_at}
            return self._encoded(batch, sid, Transition(StepStatus.PENDING, values, events))
        envelope = self._envelope(sid, StepStatus.FAILED, row.attempt, None, error, logs, now, artifacts)
        events.append(
            EventDraft(EventKind.STEP_FAILED, sid, StepStatus.FAILED, {"attempt": row.attempt, "error": error})
        )
        values = {"error": error, "envelope": envelope, "finished_at": now}
        return self._encoded(batch, sid, Transition(StepStatus.FAILED, values, events))

    def _encoded(self, batch: Batch, sid: str, change: Transition) -> Transition:
        """Encode the transition's JSON values and event data, and count their bytes and the bytes they replace."""
        for column, value in change.values.items():
            if column in STEP_JSON and value is not None:
                encoded = change.values[column] = self._encode_value(sid, column, value)
                change.size += encoded.size
            if column in STEP_JSON:
                change.freed += self._freed(batch, sid, column)
        for draft in change.events:
            if draft.data is not None:
                try:
                    draft.encoded = encode(draft.data)
                except NotStorable as exc:
                    raise exc.at(f"steps.{sid}.events.{draft.kind}") from None
                change.size += draft.encoded.size
        return change

    @staticmethod
    def _encode_value(sid: str, column: str, value: Any) -> Encoded:
        try:
            return encode(value)
        except NotStorable as exc:
            raise exc.at(f"steps.{sid}.{column}") from None

    def _freed(self, batch: Batch, sid: str, column: str) -> int:
        """Bytes the step's stored ``column`` takes, now to be overwritten (0 when this batch already wrote it: then
        it was counted when first overwritten). A stored envelope is never overwritten: only retryRun resets one."""
        if column == "envelope" or column in batch.step_values.get(sid, ()):
            return 0
        old = getattr(self.rows[sid], column)
        if column == "branches" and old is not None:
            old = list(old)
        return stored_size(old)

    async def _over_quota(self, size: int, reserve: int = 0) -> str | None:
        """Why storing ``size`` more bytes (and reserving ``reserve`` for the run's output) would pass a stored-output
        quota, as the message the step fails with; None when it fits, and then it is counted."""
        usage = self.usage
        wanted = size + reserve
        if wanted > 0 and usage.run_limit and self.used + self.reserved + wanted > usage.run_limit:
            held = self.used + self.reserved
            return (
                f"this run has stored {size_text(held)} of step outputs and this step would add {size_text(wanted)}, "
                f"past the run's limit of {size_text(usage.run_limit)} ({usage.run_limit_name}): keep bulky data out "
                "of step outputs (write it as an artifact) or raise the limit"
            )
        if wanted > 0 and usage.tenant_limit and usage.stored + wanted > usage.tenant_limit:
            usage = await self.engine.quotas.usage(self.tenant_id, max_age_s=REFUSE_FRESH_S)
            if usage.stored + wanted > usage.tenant_limit:
                return (
                    f"your tenant's runs have stored {size_text(usage.stored)} of step outputs and this step would add "
                    f"{size_text(wanted)}, past the tenant's limit of {size_text(usage.tenant_limit)} "
                    f"({usage.tenant_limit_name}): delete runs you no longer need (deleteRun) or raise the limit"
                )
        self.used += size
        self.engine.quotas.admitted(usage, size + reserve)
        return None

    async def _wait_for_tasks(self, batch: Batch, wake: datetime | None) -> None:
        cancel_wait = asyncio.create_task(self.cancel.wait())
        timeout = max(0.0, (wake - utcnow()).total_seconds()) if wake else None
        try:
            done, _ = await asyncio.wait(
                [*self.tasks.values(), cancel_wait], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cancel_wait.cancel()
        for sid, task in list(self.tasks.items()):
            if task in done:
                del self.tasks[sid]
                await self._record(batch, sid, task.result())

    # -- run outcomes ------------------------------------------------------------------------------------

    async def _finish(self, batch: Batch, status: RunStatus, error: dict[str, Any] | None = None) -> None:
        now = utcnow()
        output = sink_outputs(self.definition, {k: v["output"] for k, v in self.scope_steps.items()}, self._views())
        batch.run_values.update(status=status, output=output, error=error, finished_at=now, wake_at=None)
        batch.event(EventKind.run_finished(status), status=status, error=error, **self._marks())
        batch.expect_signal = self.run["signal"]
        await self._end(batch, status)

    async def _end(self, batch: Batch, status: RunStatus, *, aborting: bool = False) -> None:
        """Commit the run's final batch (lease released, parent poked, children cancelled unless it succeeded),
        then dispatch what it freed. An aborting run's batch is committed as it is: a refusal now is not handled
        again."""
        batch.release_lease = True
        parent = self.run.get("parent_run_id")
        batch.poke_parent = parent
        batch.cancel_children = status is not RunStatus.SUCCEEDED
        if status is RunStatus.FAILED:
            await self._stage_error_run(batch)
        if aborting:
            await self.engine.committer.submit(batch)
            self._observe(batch)
        else:
            await self._submit(batch)
        start = batch.error_start
        if start is not None and start.started and start.new is not None:
            metrics.run_started(self.tenant_id, ERROR_TRIGGER, bool(start.new.run.get("test")))
            try:  # committed with this run's final state; the held-run dispatch below may give it a slot now
                await self.engine.bus.publish_many(records.bus_messages([start.new.event]))
            except Exception:
                log.warning("publishing the queued event of error run %s failed", start.new.id, exc_info=True)
        if parent is not None and batch.parent_poked:  # a parent that already ended (cancelled, say) needs no job
            await self.engine.queue.enqueue_advance(self.tenant_id, parent)
        if batch.cancel_children:
            await cancel_children(self.engine.db, self.engine.bus, self.engine.queue, self.tenant_id, self.run_id)
        await self.engine.dispatch_held(self.tenant_id)  # this run's slot is free

    async def _stage_error_run(self, batch: Batch) -> None:
        """A failed live run starts its error workflow in its final transaction (or says there why it starts none);
        nothing here fails the run's own commit."""
        error = plain(batch.run_values.get("error"))
        error = error if isinstance(error, dict) else None
        sid = error.get("step_id") if error else None
        failed_step = None
        if isinstance(sid, str) and sid in self.rows:
            failed_step = {"id": sid, "type": self.rows[sid].node_type, "error": self.rows[sid].error}
        try:
            start = await plan_error_start(self.engine, self.tenant_id, self.run, error, failed_step)
        except Exception:
            log.exception("run %s failed; its error workflow could not be prepared", self.run_id)
            return
        if start is not None:
            start.stage(batch)

    async def _finish_failed(self, batch: Batch, current: Plan) -> None:
        await self._stop_tasks()
        self._cancel_unfinished(batch, reason="the run failed")
        first = current.failed[0]
        row = self.rows[first]
        error = {"step_id": first, **(row.error or {"type": "Failed", "message": "the step failed"})}
        await self._finish(batch, RunStatus.FAILED, error)

    async def _finish_cancelled(self, batch: Batch) -> None:
        await self._stop_tasks()
        self._cancel_unfinished(batch, reason="the run was cancelled")
        await self._finish(batch, RunStatus.CANCELLED, {"type": "Cancelled", "message": "the run was cancelled"})

    def _cancel_unfinished(self, batch: Batch, reason: str) -> None:
        now = utcnow()
        for sid, row in self.rows.items():
            if not row.status.final:
                envelope = self._cancelled(sid, reason, now)
                self._set(batch, sid, StepStatus.CANCELLED, finished_at=now, wake_at=None, envelope=envelope)
                batch.event(EventKind.STEP_CANCELLED, sid, StepStatus.CANCELLED, reason=reason)

    async def _park(self, batch: Batch, wake: datetime | None) -> None:
        """Nothing runs and the next thing is far away (or up to someone else): release the run."""
        batch.run_values.update(status=RunStatus.WAITING, wake_at=wake)
        batch.event(EventKind.RUN_WAITING, status=RunStatus.WAITING, wake_at=_iso(wake), **self._marks())
        batch.release_lease = True
        batch.expect_signal = self.run["signal"]
        await self._submit(batch)
        if wake is not None:
            await self.engine.schedule_wake(self.tenant_id, self.run_id, wake)
        # A WAITING run holds no slot: a parent that parks to wait for its children frees one for them.
        await self.engine.dispatch_held(self.tenant_id)

    async def _hand_over(self, batch: Batch) -> None:
        """This process is shutting down: commit what is done, release the lease, and queue the run again."""
        batch.release_lease = True
        batch.expect_signal = self.run["signal"]
        await self._submit(batch)
        await self.engine.queue.enqueue_advance(self.tenant_id, self.run_id)
        log.info("handed run %s over to another worker (shutting down)", self.run_id)

    # -- helpers -----------------------------------------------------------------------------------------

    async def _commit(self, batch: Batch) -> Batch:
        await self._submit(batch)
        return self._batch()

    async def _submit(self, batch: Batch) -> None:
        """Commit a batch; one the database can never store as it is ends the run FAILED instead (RunAborted)."""
        try:
            await self.engine.committer.submit(batch)
        except (LeaseLost, Signalled):
            raise
        except Exception as exc:
            refused = unstorable(exc)
            if refused is None:
                raise
            await self._abort(batch, refused)
            raise RunAborted(str(refused)) from exc
        self._observe(batch)
        if batch.stored_total is not None:
            self.used = batch.stored_total

    def _observe(self, batch: Batch) -> None:
        """Count what a batch that just committed did (studio_shared/metrics.py): the lease fences every batch, so a
        transition is committed, and counted, once."""
        for event in batch.events:
            kind = event.kind
            if kind in FINAL_EVENT_KINDS:
                status = batch.run_values.get("status", event.status)
                metrics.run_finished(self.tenant_id, str(status), str(self.run["trigger"]), bool(self.run["test"]))
            elif kind in (EventKind.STEP_SUCCEEDED, EventKind.STEP_FAILED) and event.step_id in self.rows:
                row = self.rows[event.step_id]
                finished = batch.step_values.get(event.step_id, {}).get("finished_at")
                if isinstance(finished, datetime) and isinstance(row.started_at, datetime):
                    with contextlib.suppress(TypeError):  # a naive time (never expected): no observation
                        seconds = (finished - row.started_at).total_seconds()
                        metrics.step_finished(row.node_type, str(event.status), seconds)
            elif kind is EventKind.STEP_INTERRUPTED and event.step_id in self.rows:
                metrics.steps_interrupted.labels(metrics.node_types(self.rows[event.step_id].node_type)).inc()

    async def _abort(self, refused_batch: Batch, refused: NotStorable) -> None:
        """End the run FAILED after its batch was refused: a write retried as it is would fail forever.

        Nothing of the refused batch was stored, so every step is back at the status the database holds; the one
        whose value was refused fails with that error, the other unfinished ones are cancelled.
        """
        await self._stop_tasks()
        culprit = refused.path.split(".")[1] if refused.path.startswith("steps.") else None
        if refused.kind == STORAGE_REFUSED:
            message = f"the database refused to store this run's data: {refused.problem}"
        else:
            message = str(refused)
        error: dict[str, Any] = {"type": refused.kind, "message": message, "retryable": False}
        log.error("run %s failed: a batch could not be stored (%s)", self.run_id, refused)
        batch, now = self._batch(), utcnow()
        for sid, row in self.rows.items():
            row.status = refused_batch.expected.get(sid, row.status)  # what the database holds
            if row.status.final:
                continue
            if sid == culprit:
                envelope = self._envelope(sid, StepStatus.FAILED, row.attempt, None, error, [], now)
                self._set(batch, sid, StepStatus.FAILED, error=error, finished_at=now, wake_at=None, envelope=envelope)
                batch.event(EventKind.STEP_FAILED, sid, StepStatus.FAILED, attempt=row.attempt, error=error)
            else:
                envelope = self._cancelled(sid, "the run failed", now)
                self._set(batch, sid, StepStatus.CANCELLED, finished_at=now, wake_at=None, envelope=envelope)
                batch.event(EventKind.STEP_CANCELLED, sid, StepStatus.CANCELLED, reason="the run failed")
        run_error = {"step_id": culprit, **error} if culprit else error
        batch.run_values.update(status=RunStatus.FAILED, output=None, error=run_error, finished_at=now, wake_at=None)
        batch.event(EventKind.RUN_FAILED, status=RunStatus.FAILED, error=run_error, **self._marks())
        await self._end(batch, RunStatus.FAILED, aborting=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cancel.wait(), timeout=max(0.0, seconds))

    async def _stop_tasks(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        self.contexts.clear()
        self.configs.clear()

    def _batch(self) -> Batch:
        return Batch(self.tenant_id, self.run_id, parent_run_id=self.run.get("parent_run_id"))

    def _set(self, batch: Batch, sid: str, status: StepStatus, **values: Any) -> None:
        """Stage a step's new column values (JSON ones may come encoded) and mirror them in memory."""
        row = self.rows[sid]
        batch.step(sid, row.status, status=status, **values)
        row.status = status
        for key in ("attempt", "interruptions", "output", "error", "wake_at", "state", "started_at", "input"):
            if key in values:
                value = values[key]
                setattr(row, key, value.value if type(value) is Encoded else value)
        if "branches" in values:
            branches = values["branches"]
            branches = branches.value if type(branches) is Encoded else branches
            row.branches = tuple(branches) if branches is not None else None

    def _marks(self) -> dict[str, Any]:
        """What every run-level event of a test run carries: ``test: true``."""
        return {"test": True} if self.run.get("test") else {}

    def _views(self) -> dict[str, StepState]:
        return {sid: row.view() for sid, row in self.rows.items()}

    def _scope(self) -> dict[str, Any]:
        run = self.run
        return {
            "input": run["input"],
            "steps": self.scope_steps,
            "run": {
                "id": str(self.run_id),
                "workflow": str(run["workflow_id"]),
                "version": run["version"],
                "trigger": run["trigger"],
                "resume_urls": self._resume_urls(),
            },
        }

    def _resume_urls(self) -> dict[str, str]:
        """The resume URL of every ``wait.event`` step of the run (signed, deterministic: known before it runs)."""
        version = self.run["workflow_version_id"]
        urls = self._urls.get(version)
        if urls is None:
            waits = [node.id for node in self.definition if node.type == WAIT_EVENT]
            links = self.engine.services.resume_links if waits else None
            urls = {sid: links.url(self.tenant_id, self.run_id, sid) for sid in waits} if links else {}
            self._urls = {version: urls}
        return urls

    def _render(self, node: Node, spec: NodeSpec) -> dict[str, Any]:
        registry_type = self.engine.registry.get(node.type)
        config = registry_type.with_defaults(node.config) if registry_type else dict(node.config)
        raw = {k: v for k, v in config.items() if k in spec.raw_fields}
        cooked = {k: v for k, v in config.items() if k not in spec.raw_fields}
        rendered = self.engine.templates.render(cooked, self._scope(), path=("config",))
        return {**rendered, **raw}

    def _context(self, node: Node, attempt: int) -> NodeContext:
        generation = self.rows[node.id].generation
        return NodeContext(
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            step_id=node.id,
            node_type=node.type,
            attempt=attempt,
            idempotency_key=f"{self.run_id}:{node.id}:{generation}",
            scope=self._scope(),
            raw_config=node.config,
            cancelled=self.cancel,
            render=self._render_with,
            services=self.engine.services,
            children=Children(
                self.engine,
                self.tenant_id,
                self.run_id,
                node.id,
                generation,
                int(self.run.get("depth") or 0),
                self.run.get("started_by_user"),
                bool(self.run.get("test")),
            ),
        )

    def _render_with(self, value: Any, extra: Mapping[str, Any], path: Sequence[str]) -> Any:
        """Render a raw config value with extra names in scope (foreach's item and index, loop's previous)."""
        try:
            return self.engine.templates.render(value, {**self._scope(), **extra}, path=tuple(path))
        except TemplateError as exc:
            raise NodeError("TemplateError", str(exc)) from exc

    def _envelope(
        self,
        sid: str,
        status: StepStatus,
        attempt: int,
        output: Any,
        error: dict[str, Any] | None,
        logs: list[str],
        finished_at: datetime,
        artifacts: Sequence[str] = (),
    ) -> dict[str, Any]:
        row = self.rows[sid]
        return envelopes.envelope(
            self.run_id,
            sid,
            row.node_type,
            status,
            attempt=attempt,
            started_at=row.started_at,
            finished_at=finished_at,
            output=output,
            error=error,
            artifacts=artifacts,
            logs=logs,
        )

    def _cancelled(self, sid: str, reason: str, finished_at: datetime) -> dict[str, Any]:
        row = self.rows[sid]
        return envelopes.cancelled(
            self.run_id,
            sid,
            row.node_type,
            attempt=row.attempt,
            started_at=row.started_at,
            finished_at=finished_at,
            reason=reason,
        )


def _row(r: Mapping[str, Any]) -> StepRow:
    state = r["state"] or {}
    return StepRow(
        status=StepStatus(r["status"]),
        node_type=r["node_type"],
        attempt=r["attempt"],
        interruptions=r["interruptions"],
        output=r["output"],
        error=r["error"],
        branches=tuple(r["branches"]) if r["branches"] is not None else None,
        wake_at=r["wake_at"],
        input=r["input"],
        state=r["state"],
        started_at=r["started_at"],
        generation=int(state.get("generation", 0)),
        attempt_base=int(state.get("attempt_base", 0)),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _redacted(ctx: NodeContext, outcome: Outcome) -> tuple[Outcome, list[str]]:
    """The outcome, logs and node events of a step with every secret it saw masked."""
    redact = Redactor(ctx.secrets)
    ctx.events[:] = [(kind, redact(data)) for kind, data in ctx.events]
    logs = [redact.text(line) for line in ctx.logs]
    if isinstance(outcome, NodeError):
        return NodeError(outcome.type, redact.text(outcome.message), retryable=outcome.retryable), logs
    return replace(outcome, output=redact(outcome.output), state=redact(outcome.state)), logs
