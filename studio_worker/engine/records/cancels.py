"""Cancelling child runs: the ones that never started are ended in the database, in bulk; only drivers are nudged.

A parent with thousands of children (a foreach held beyond its tenant's concurrency limit) used to nudge every one
of them: a pub/sub message and a job each, and each job a driver that claimed the run only to cancel it. A QUEUED
run that nobody leases has no driver and nothing running, so it is cancelled where it lies: its run row, its
unfinished steps and their events (``step.cancelled`` per step, then ``run.cancelled``, as a driver would write
them), a chunk of runs per transaction. Only the runs a driver holds or that are parked (RUNNING, WAITING) are
nudged, and those are bounded by the tenant's concurrency limit and the parents among them.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from studio_shared.db import read_only
from studio_shared.db.jsondata import encode
from studio_shared.db.types import utcnow
from studio_shared.events import EventKind, channels
from studio_shared.metrics import metrics
from studio_shared.types import FINAL_STEP_STATUSES, RunStatus, StepStatus
from studio_worker.engine import envelopes
from studio_worker.engine.records import ACTIVE_RUN, EventRecord, bus_messages, events, poke, runs, steps

if TYPE_CHECKING:
    from studio_shared.events import EventBus
    from studio_worker.queue import JobQueue

log = logging.getLogger("studio.engine.cancels")

CHUNK = 500  # runs per transaction: SQLite's one write lock is never held for long
REASON = "the run was cancelled"
ERROR = {"type": "Cancelled", "message": REASON}


async def cancel_children(
    db: AsyncEngine, bus: EventBus, queue: JobQueue, tenant_id: uuid.UUID, run_id: uuid.UUID
) -> None:
    """End the run's children that were asked to cancel: never-started ones at once, the others through their drivers.

    Best effort: the requests are in the database (``cancel_requested_at``), where heartbeats and the sweep find
    them anyway.
    """
    try:
        await cancel_unstarted(db, bus, tenant_id=tenant_id, parent_run_id=run_id)
    except Exception:
        log.warning("could not cancel the queued children of run %s; the sweep will", run_id, exc_info=True)
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(runs.c.id).where(
                    runs.c.tenant_id == tenant_id,
                    runs.c.parent_run_id == run_id,
                    runs.c.status.in_(ACTIVE_RUN),
                    runs.c.cancel_requested_at.is_not(None),
                )
            )
        ).all()
    for (child_id,) in rows:
        try:
            await bus.publish(channels.control(), {"cancel": str(child_id)})
            await queue.enqueue_advance(tenant_id, child_id)
        except Exception:
            log.warning("could not nudge child run %s to cancel; the sweep will", child_id, exc_info=True)


async def cancel_unstarted(
    db: AsyncEngine,
    bus: EventBus,
    *,
    tenant_id: uuid.UUID | None = None,
    parent_run_id: uuid.UUID | None = None,
    limit: int | None = None,
) -> int:
    """Cancel QUEUED runs that were asked to cancel and that nobody leases, a chunk per transaction; how many.

    With ``parent_run_id``: that run's children (the parent ended, or its step gave up on them). Without: any
    tenant's (the sweep's backstop), at most ``limit``.
    """
    done = 0
    reader = read_only(db)
    while limit is None or done < limit:
        chunk = CHUNK if limit is None else min(CHUNK, limit - done)
        # Found with a read first: with nothing to cancel (every sweep, nearly always) no write lock is taken.
        async with reader.connect() as conn:
            chosen = list(
                await conn.scalars(sa.select(runs.c.id).where(*_unstarted(tenant_id, parent_run_id)).limit(chunk))
            )
        if not chosen:
            break
        async with db.begin() as conn:
            records, ended = await _cancel_chunk(conn, tenant_id, parent_run_id, chosen)
        for run_tenant, trigger, test in ended:  # committed: counted once, by the transaction that ended them
            metrics.run_finished(run_tenant, RunStatus.CANCELLED, trigger, test)
        cancelled = len(ended)
        done += cancelled
        if records:
            try:
                await bus.publish_many(bus_messages(records))
            except Exception:  # committed; subscribers read the database
                log.warning("publishing the cancellation of %d queued runs failed", cancelled, exc_info=True)
        if len(chosen) < chunk or not cancelled:  # the rest were leased meanwhile: their drivers end them
            break
    return done


def _unstarted(tenant_id: uuid.UUID | None, parent_run_id: uuid.UUID | None) -> list[sa.ColumnElement[bool]]:
    """QUEUED, asked to cancel, leased by nobody (or by a driver whose lease expired)."""
    found = [
        runs.c.status == RunStatus.QUEUED,
        runs.c.cancel_requested_at.is_not(None),
        sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < utcnow()),
    ]
    if tenant_id is not None:
        found.append(runs.c.tenant_id == tenant_id)
    if parent_run_id is not None:
        found.append(runs.c.parent_run_id == parent_run_id)
    return found


async def _cancel_chunk(
    conn: AsyncConnection, tenant_id: uuid.UUID | None, parent_run_id: uuid.UUID | None, chosen: list[uuid.UUID]
) -> tuple[list[EventRecord], list[tuple[uuid.UUID, str, bool]]]:
    """The cancellation's event records, and (tenant id, trigger, test) of each run it ended."""
    now = utcnow()
    unfinished_steps = (
        sa.select(sa.func.count())
        .where(
            steps.c.tenant_id == runs.c.tenant_id,
            steps.c.run_id == runs.c.id,
            steps.c.status.not_in(FINAL_STEP_STATUSES),
        )
        .correlate(runs)
        .scalar_subquery()
    )
    # The run row first: the conditional update is the claim (a driver that leased the run meanwhile wins, and
    # its run is left to it). The run's seqs are allocated here too: one per unfinished step, one for the run.
    cancelled = (
        await conn.execute(
            runs.update()
            .where(runs.c.id.in_(chosen), *_unstarted(tenant_id, parent_run_id))
            .values(
                status=RunStatus.CANCELLED,
                finished_at=now,
                updated_at=now,
                wake_at=None,
                held_since=None,
                lease_owner=None,  # a driver whose lease expired finds its fence gone
                lease_expires_at=None,
                error=ERROR,
                last_seq=runs.c.last_seq + 1 + unfinished_steps,
            )
            .returning(runs.c.tenant_id, runs.c.id, runs.c.last_seq, runs.c.parent_run_id, runs.c.test, runs.c.trigger)
        )
    ).all()
    if not cancelled:
        return [], []
    ids = [r.id for r in cancelled]
    tenants = {r.tenant_id for r in cancelled}
    pending: dict[uuid.UUID, list[str]] = defaultdict(list)
    step_rows = (
        await conn.execute(
            sa.select(
                steps.c.tenant_id,
                steps.c.run_id,
                steps.c.step_id,
                steps.c.node_type,
                steps.c.attempt,
                steps.c.started_at,
            )
            .where(steps.c.tenant_id.in_(tenants), steps.c.run_id.in_(ids), steps.c.status.not_in(FINAL_STEP_STATUSES))
            .order_by(steps.c.run_id, steps.c.step_id)
        )
    ).all()
    for step in step_rows:
        pending[step.run_id].append(step.step_id)
    if step_rows:  # every one gets its envelope (one executemany), counted in its run's stored bytes
        params: list[dict[str, Any]] = []
        added: dict[uuid.UUID, int] = defaultdict(int)
        for step in step_rows:
            envelope = encode(
                envelopes.cancelled(
                    step.run_id,
                    step.step_id,
                    step.node_type,
                    attempt=step.attempt,
                    started_at=step.started_at,
                    finished_at=now,
                    reason=REASON,
                )
            )
            added[step.run_id] += envelope.size
            params.append(
                {
                    "b_tenant": step.tenant_id,
                    "b_run": step.run_id,
                    "b_step_id": step.step_id,
                    "b_now": now,
                    "b_envelope": envelope,
                }
            )
        await conn.execute(_CANCEL_STEP, params)
        tenant_of = {step.run_id: step.tenant_id for step in step_rows}
        await conn.execute(
            _ADD_BYTES, [{"b_tenant": tenant_of[run], "b_run": run, "b_bytes": size} for run, size in added.items()]
        )
    records: list[EventRecord] = []
    for row in cancelled:
        step_ids = pending.get(row.id, [])
        seq = row.last_seq - len(step_ids)  # the first of the seqs allocated above
        for offset, step_id in enumerate(step_ids):
            records.append(
                _record(
                    row, seq + offset, EventKind.STEP_CANCELLED, step_id, StepStatus.CANCELLED, {"reason": REASON}, now
                )
            )
        data = {"error": ERROR, **({"test": True} if row.test else {})}
        records.append(_record(row, row.last_seq, EventKind.RUN_CANCELLED, None, RunStatus.CANCELLED, data, now))
    await conn.execute(events.insert(), [r.row() for r in records])
    # A child cancelled on its own (not with its parent) must still wake a parent that waits for it.
    for tenant, parent in {(r.tenant_id, r.parent_run_id) for r in cancelled if r.parent_run_id is not None}:
        await poke(conn, tenant, parent)
    return records, [(r.tenant_id, r.trigger, bool(r.test)) for r in cancelled]


_ADD_BYTES = (
    runs.update()
    .where(runs.c.tenant_id == sa.bindparam("b_tenant"), runs.c.id == sa.bindparam("b_run"))
    .values(stored_bytes=runs.c.stored_bytes + sa.bindparam("b_bytes"))
)
_CANCEL_STEP = (
    steps.update()
    .where(
        steps.c.tenant_id == sa.bindparam("b_tenant"),
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.step_id == sa.bindparam("b_step_id"),
        *(steps.c.status != status for status in sorted(FINAL_STEP_STATUSES)),  # executemany: no IN lists
    )
    .values(
        status=StepStatus.CANCELLED,
        finished_at=sa.bindparam("b_now"),
        wake_at=None,
        updated_at=sa.bindparam("b_now"),
        version=steps.c.version + 1,
        envelope=sa.bindparam("b_envelope"),
    )
)


def _record(
    row: Any, seq: int, kind: EventKind, step_id: str | None, status: str, data: dict[str, Any], now: Any
) -> EventRecord:
    return EventRecord(row.tenant_id, row.id, seq, kind, step_id, status, now, data, row.parent_run_id)
