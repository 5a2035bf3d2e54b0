"""The engine's SQL, in SQLAlchemy Core: claim a run's lease, load its steps, apply a batch of transitions.

Every write batch starts with one statement on the run row that allocates event seqs *and* checks the
lease owner: a driver that lost its lease writes nothing (the batch's transaction holds the run row, so
the check and the writes are atomic). Step updates carry the expected status in their WHERE as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.events import channels
from studio_shared.types import RunStatus, StepStatus

runs = models.Run.__table__
steps = models.Step.__table__
events = models.RunEvent.__table__
tenants = models.Tenant.__table__
versions = models.WorkflowVersion.__table__

ACTIVE_RUN = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class LeaseLost(Exception):
    """Another driver took this run over (our lease expired): stop without writing."""


class Signalled(Exception):
    """Someone poked the run (cancel, decision) after the driver loaded it: reload instead of parking."""


@dataclass(slots=True)
class EventDraft:
    kind: str
    step_id: str | None = None
    status: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A committed event, as stored and as published."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    seq: int
    kind: str
    step_id: str | None
    status: str | None
    at: datetime
    data: dict[str, Any] | None

    @property
    def final(self) -> bool:
        return self.kind.startswith("run.") and self.status in {
            s.value for s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
        }

    def row(self) -> dict[str, Any]:
        """Its ``run_events`` row."""
        return {
            "tenant_id": self.tenant_id,
            "run_id": self.run_id,
            "seq": self.seq,
            "kind": self.kind,
            "step_id": self.step_id,
            "status": self.status,
            "data": self.data,
            "at": self.at,
        }

    def message(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "run_id": str(self.run_id),
            "seq": self.seq,
            "kind": self.kind,
            "step_id": self.step_id,
            "status": self.status,
            "at": self.at.isoformat(),
            "data": self.data,
            "final": self.final,
        }


def bus_messages(records: Sequence[EventRecord]) -> list[tuple[str, dict[str, Any]]]:
    """Where committed events are published: the run's channel, and run-level ones on the tenant's too."""
    items: list[tuple[str, dict[str, Any]]] = []
    for record in records:
        message = record.message()
        items.append((channels.run(record.tenant_id, record.run_id), message))
        if record.kind.startswith("run."):
            items.append((channels.tenant_runs(record.tenant_id), message))
    return items


@dataclass(slots=True)
class Batch:
    """Transitions of one run, committed together: run columns, step columns (merged per step), events."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    run_values: dict[str, Any] = field(default_factory=dict)
    step_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected: dict[str, StepStatus] = field(default_factory=dict)  # a step's status when the batch first touched it
    events: list[EventDraft] = field(default_factory=list)
    release_lease: bool = False
    expect_signal: int | None = None  # with release_lease: park or finish only if nobody poked the run since

    def step(self, step_id: str, expected: StepStatus, **values: Any) -> None:
        self.expected.setdefault(step_id, expected)
        self.step_values.setdefault(step_id, {}).update(values)

    def event(self, kind: str, step_id: str | None = None, status: str | None = None, **data: Any) -> None:
        self.events.append(EventDraft(kind, step_id, status, data or None))

    def __len__(self) -> int:
        return len(self.events) + len(self.step_values) + len(self.run_values)

    @property
    def empty(self) -> bool:
        return not (self.events or self.step_values or self.run_values or self.release_lease)


async def claim_run(
    conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, owner: str, lease_s: float, default_limit: int
) -> dict[str, Any] | None:
    """Take the run's lease in one conditional UPDATE; None when someone else holds it or it is not admitted.

    A QUEUED run is admitted only within its tenant's limit on RUNNING runs, oldest first: the RUNNING ones and
    the QUEUED ones created before it must number fewer than the limit. Counting inside the same statement
    gives one snapshot, so a run turning RUNNING meanwhile is never counted in neither place (PostgreSQL's
    READ COMMITTED would give two separate statements two snapshots).
    """
    now = utcnow()
    other = runs.alias("other")
    ahead = (
        sa.select(sa.func.count())
        .select_from(other)
        .where(
            other.c.tenant_id == tenant_id,
            sa.or_(
                other.c.status == RunStatus.RUNNING,
                sa.and_(
                    other.c.status == RunStatus.QUEUED,
                    sa.tuple_(other.c.created_at, other.c.id) < sa.tuple_(runs.c.created_at, runs.c.id),
                ),
            ),
        )
        .scalar_subquery()
    )
    limit = sa.func.coalesce(
        sa.select(tenants.c.max_concurrent_runs).where(tenants.c.id == tenant_id).scalar_subquery(), default_limit
    )
    claimed = (
        (
            await conn.execute(
                runs.update()
                .where(
                    runs.c.tenant_id == tenant_id,
                    runs.c.id == run_id,
                    runs.c.status.in_(ACTIVE_RUN),
                    sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_owner == owner, runs.c.lease_expires_at < now),
                    sa.or_(runs.c.status != RunStatus.QUEUED, ahead < limit),
                )
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s), held_since=None)
                .returning(*runs.c)
            )
        )
        .mappings()
        .first()
    )
    if claimed is None:
        # Not admitted (or leased by someone else): a QUEUED run nobody holds is marked held, so that the next
        # run of the tenant to finish dispatches it. Runs merely waiting for a worker are never re-dispatched.
        await conn.execute(
            runs.update()
            .where(
                runs.c.tenant_id == tenant_id,
                runs.c.id == run_id,
                runs.c.status == RunStatus.QUEUED,
                runs.c.held_since.is_(None),
                sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < now),
            )
            .values(held_since=now)
        )
        return None
    return dict(claimed)


async def load_steps(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(sa.select(steps).where(steps.c.tenant_id == tenant_id, steps.c.run_id == run_id))
    return [dict(r) for r in rows.mappings()]


async def load_definition(conn: AsyncConnection, tenant_id: uuid.UUID, version_id: uuid.UUID) -> dict[str, Any] | None:
    return await conn.scalar(
        sa.select(versions.c.definition).where(versions.c.tenant_id == tenant_id, versions.c.id == version_id)
    )


async def apply(conn: AsyncConnection, batch: Batch, owner: str) -> list[EventRecord]:
    """Write one run's batch inside the caller's transaction; LeaseLost when ``owner`` no longer holds the run."""
    now = utcnow()
    values: dict[str, Any] = {**batch.run_values, "updated_at": now, "last_seq": runs.c.last_seq + len(batch.events)}
    if batch.release_lease:
        values.update(lease_owner=None, lease_expires_at=None)
    fence = [runs.c.tenant_id == batch.tenant_id, runs.c.id == batch.run_id, runs.c.lease_owner == owner]
    if batch.expect_signal is not None:
        fence.append(runs.c.signal == batch.expect_signal)
    last_seq = await conn.scalar(runs.update().where(*fence).values(**values).returning(runs.c.last_seq))
    if last_seq is None:
        holder = await conn.scalar(
            sa.select(runs.c.lease_owner).where(runs.c.tenant_id == batch.tenant_id, runs.c.id == batch.run_id)
        )
        if holder == owner:
            raise Signalled(f"run {batch.run_id} was signalled")
        raise LeaseLost(f"run {batch.run_id} is no longer leased to {owner}")
    await _update_steps(conn, batch, now)
    first = last_seq - len(batch.events) + 1
    records = [
        EventRecord(batch.tenant_id, batch.run_id, first + i, e.kind, e.step_id, e.status, now, e.data)
        for i, e in enumerate(batch.events)
    ]
    if records:
        await conn.execute(events.insert(), [r.row() for r in records])
    return records


async def _update_steps(conn: AsyncConnection, batch: Batch, now: datetime) -> None:
    """One executemany per distinct column set (a pure step's claim and result merge into one row update)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for step_id, values in batch.step_values.items():
        key = tuple(sorted(values))
        groups.setdefault(key, []).append(
            {**{f"v_{k}": v for k, v in values.items()}, "b_step_id": step_id, "b_expected": batch.expected[step_id]}
        )
    for columns, params in groups.items():
        stmt = (
            steps.update()
            .where(
                steps.c.tenant_id == batch.tenant_id,
                steps.c.run_id == batch.run_id,
                steps.c.step_id == sa.bindparam("b_step_id"),
                steps.c.status == sa.bindparam("b_expected"),
            )
            .values(
                {
                    **{c: sa.bindparam(f"v_{c}") for c in columns},
                    "version": steps.c.version + 1,
                    "updated_at": now,
                }
            )
        )
        await conn.execute(stmt, params)


async def events_after(
    conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, after_seq: int, limit: int = 1000
) -> Sequence[EventRecord]:
    rows = await conn.execute(
        sa.select(events)
        .where(events.c.tenant_id == tenant_id, events.c.run_id == run_id, events.c.seq > after_seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [EventRecord(r.tenant_id, r.run_id, r.seq, r.kind, r.step_id, r.status, r.at, r.data) for r in rows]
