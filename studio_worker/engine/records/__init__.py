"""The engine's SQL, in SQLAlchemy Core: claim a run's lease, load its steps, apply a batch of transitions.

Every write batch starts with one statement on the run row that allocates event seqs *and* checks the
lease owner: a driver that lost its lease writes nothing (the batch's transaction holds the run row, so
the check and the writes are atomic). Step updates carry the expected status in their WHERE as well.

Before any statement, every JSON value of the batch is encoded (``studio_shared.db.jsondata``): a value JSON
cannot hold fails this batch alone (``NotStorable``), before it touched the transaction it shares with other
runs' batches, and the bytes encoded are added to the run's ``stored_bytes`` by that same first statement.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from studio_shared.db import models
from studio_shared.db.jsondata import Encoded, NotStorable, encode
from studio_shared.db.types import JSONDoc, utcnow
from studio_shared.events import Event, EventKind, channels
from studio_shared.store import event_waits, human_tasks
from studio_shared.types import RunStatus, StepStatus

if TYPE_CHECKING:
    from studio_worker.engine.records.error_runs import ErrorStart

runs = models.Run.__table__
steps = models.Step.__table__
events = models.RunEvent.__table__
tenants = models.Tenant.__table__
versions = models.WorkflowVersion.__table__

ACTIVE_RUN = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)
RUN_JSON = frozenset(c.name for c in runs.c if isinstance(c.type, JSONDoc))
STEP_JSON = frozenset(c.name for c in steps.c if isinstance(c.type, JSONDoc))


class LeaseLost(Exception):
    """Another driver took this run over (our lease expired): stop without writing."""


class Signalled(Exception):
    """Someone poked the run (cancel, decision) after the driver loaded it: reload instead of parking."""


@dataclass(slots=True)
class EventDraft:
    kind: EventKind
    step_id: str | None = None
    status: str | None = None
    data: dict[str, Any] | None = None
    encoded: Encoded | None = None  # ``data`` as stored, once the batch was encoded


@dataclass(frozen=True, slots=True)
class EventRecord(Event):
    """A committed event, as stored and as published."""

    stored: Encoded | None = None  # ``data`` as the row stores it (encoded with its batch)

    def row(self) -> dict[str, Any]:
        """Its ``run_events`` row."""
        return {
            "tenant_id": self.tenant_id,
            "run_id": self.run_id,
            "seq": self.seq,
            "kind": self.kind,
            "step_id": self.step_id,
            "status": self.status,
            "data": self.stored if self.stored is not None else self.data,
            "at": self.at,
        }


def bus_messages(records: Sequence[EventRecord]) -> list[tuple[str, dict[str, Any]]]:
    """Where committed events are published: one message per run with that run's events, in order, on the
    run's channel (one PUBLISH per run and commit, however many steps moved), and each run-level event
    (queued, started, finished) on the tenant's channel as well."""
    items: list[tuple[str, dict[str, Any]]] = []
    by_run: dict[tuple[uuid.UUID, uuid.UUID], list[dict[str, Any]]] = {}
    for record in records:
        message = record.message()
        by_run.setdefault((record.tenant_id, record.run_id), []).append(message)
        if record.kind.run_level:
            items.append((channels.tenant_runs(record.tenant_id), message))
    for (tenant_id, run_id), messages in by_run.items():
        items.append((channels.run(tenant_id, run_id), {"run_id": str(run_id), "events": messages}))
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
    parent_run_id: uuid.UUID | None = None  # a child run's parent: its published events carry the link
    poke_parent: uuid.UUID | None = None  # a child finishing: wake its parent run in the same transaction
    parent_poked: bool = False  # set by apply: the parent was still active (a final one needs no job)
    cancel_children: bool = False  # the run ends unsuccessfully: cancel its child runs and its open human tasks
    freed_bytes: int = 0  # stored bytes of the JSON values this batch overwrites (the writer measures them)
    stored_total: int | None = None  # the run's stored_bytes after this batch, once applied
    error_start: ErrorStart | None = None  # a failed live run's error run, started in this batch's transaction

    def step(self, step_id: str, expected: StepStatus, **values: Any) -> None:
        self.expected.setdefault(step_id, expected)
        self.step_values.setdefault(step_id, {}).update(values)

    def event(self, kind: EventKind, step_id: str | None = None, status: str | None = None, **data: Any) -> None:
        self.events.append(EventDraft(kind, step_id, status, data or None))

    def __len__(self) -> int:
        return len(self.events) + len(self.step_values) + len(self.run_values)

    @property
    def empty(self) -> bool:
        return not (self.events or self.step_values or self.run_values or self.release_lease)


def _claim_statement() -> sa.Update:
    other = runs.alias("other")
    limit = sa.func.coalesce(
        sa.select(tenants.c.max_concurrent_runs).where(tenants.c.id == sa.bindparam("b_tenant")).scalar_subquery(),
        sa.bindparam("b_default_limit"),
    )
    # The runs ahead of this one (RUNNING, or QUEUED before it), counted up to the limit at most: whether there are
    # fewer than the limit is all the claim asks, and a tenant with ten thousand QUEUED runs must not make every
    # claim count them all.
    ahead_rows = (
        sa.select(sa.literal_column("1"))
        .select_from(other)
        .where(
            other.c.tenant_id == sa.bindparam("b_tenant"),
            sa.or_(
                other.c.status == RunStatus.RUNNING,
                sa.and_(
                    other.c.status == RunStatus.QUEUED,
                    sa.tuple_(other.c.created_at, other.c.id) < sa.tuple_(runs.c.created_at, runs.c.id),
                ),
            ),
        )
        .correlate(runs)
        .limit(limit)
        .subquery("ahead")
    )
    ahead = sa.select(sa.func.count()).select_from(ahead_rows).correlate(runs).scalar_subquery()
    return (
        runs.update()
        .where(
            runs.c.tenant_id == sa.bindparam("b_tenant"),
            runs.c.id == sa.bindparam("b_run"),
            runs.c.status.in_(ACTIVE_RUN),
            sa.or_(
                runs.c.lease_owner.is_(None),
                runs.c.lease_owner == sa.bindparam("b_owner"),
                runs.c.lease_expires_at < sa.bindparam("b_now"),
            ),
            # A run asked to cancel is admitted regardless: it only needs to finish.
            sa.or_(runs.c.status != RunStatus.QUEUED, runs.c.cancel_requested_at.is_not(None), ahead < limit),
        )
        .values(lease_owner=sa.bindparam("b_owner"), lease_expires_at=sa.bindparam("b_expires"), held_since=None)
        .returning(*runs.c)
    )


# Built once: constructing (and cache-keying) a statement per call costs more than running it here.
_CLAIM = _claim_statement()
_HOLD = (
    runs.update()
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.id == sa.bindparam("b_run"),
        runs.c.status == RunStatus.QUEUED,
        runs.c.held_since.is_(None),
        sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < sa.bindparam("b_now")),
    )
    .values(held_since=sa.bindparam("b_now"))
)
_LOAD_STEPS = sa.select(steps).where(
    steps.c.tenant_id == sa.bindparam("b_tenant"), steps.c.run_id == sa.bindparam("b_run")
)
_LOAD_DEFINITION = sa.select(versions.c.definition).where(
    versions.c.tenant_id == sa.bindparam("b_tenant"), versions.c.id == sa.bindparam("b_version")
)
_LOAD_PINS = sa.select(versions.c.pins).where(
    versions.c.tenant_id == sa.bindparam("b_tenant"),
    versions.c.id == sa.bindparam("b_version"),
    versions.c.test.is_(True),  # only a test snapshot has pins; a published version never gives any
)
_LEASE_HOLDER = sa.select(runs.c.lease_owner).where(
    runs.c.tenant_id == sa.bindparam("b_tenant"), runs.c.id == sa.bindparam("b_run")
)


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
    params = {
        "b_tenant": tenant_id,
        "b_run": run_id,
        "b_owner": owner,
        "b_now": now,
        "b_expires": now + timedelta(seconds=lease_s),
        "b_default_limit": default_limit,
    }
    claimed = (await conn.execute(_CLAIM, params)).mappings().first()
    if claimed is None:
        # Not admitted (or leased by someone else): a QUEUED run nobody holds is marked held, so that the next
        # run of the tenant to finish dispatches it. Runs merely waiting for a worker are never re-dispatched.
        await conn.execute(_HOLD, {"b_tenant": tenant_id, "b_run": run_id, "b_now": now})
        return None
    return dict(claimed)


async def load_steps(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(_LOAD_STEPS, {"b_tenant": tenant_id, "b_run": run_id})
    return [dict(r) for r in rows.mappings()]


async def load_definition(conn: AsyncConnection, tenant_id: uuid.UUID, version_id: uuid.UUID) -> dict[str, Any] | None:
    return await conn.scalar(_LOAD_DEFINITION, {"b_tenant": tenant_id, "b_version": version_id})


async def load_pins(conn: AsyncConnection, tenant_id: uuid.UUID, version_id: uuid.UUID) -> dict[str, Any]:
    """The pinned outputs a test snapshot carries, {node_id: {"output", "branches"}}; {} for any other version."""
    found = await conn.scalar(_LOAD_PINS, {"b_tenant": tenant_id, "b_version": version_id})
    return found if isinstance(found, dict) else {}


async def apply(conn: AsyncConnection, batch: Batch, owner: str) -> list[EventRecord]:
    """Write one run's batch inside the caller's transaction; LeaseLost when ``owner`` no longer holds the run,
    NotStorable (before any statement) when one of its values cannot be stored."""
    if batch.error_start is not None:  # decided in this transaction; its rows are written after the fence
        await batch.error_start.prepare(conn, batch)
    added = encode_batch(batch)
    now = utcnow()
    fenced_by_signal = batch.expect_signal is not None
    statement = _run_update(tuple(sorted(batch.run_values)), batch.release_lease, fenced_by_signal)
    params: dict[str, Any] = {f"v_{k}": v for k, v in batch.run_values.items()}
    params.update(
        b_tenant=batch.tenant_id,
        b_run=batch.run_id,
        b_owner=owner,
        b_signal=batch.expect_signal,
        b_events=len(batch.events),
        b_bytes=added - batch.freed_bytes,
        b_now=now,
    )
    fenced = (await conn.execute(statement, params)).first()
    if fenced is None:
        holder = await conn.scalar(_LEASE_HOLDER, {"b_tenant": batch.tenant_id, "b_run": batch.run_id})
        if holder == owner:
            raise Signalled(f"run {batch.run_id} was signalled")
        raise LeaseLost(f"run {batch.run_id} is no longer leased to {owner}")
    last_seq, batch.stored_total = fenced
    await _update_steps(conn, batch, now)
    if batch.error_start is not None:
        await batch.error_start.write(conn)
    if batch.poke_parent is not None:
        poked = await conn.scalar(_POKED, {"b_tenant": batch.tenant_id, "b_run": batch.poke_parent, "b_now": now})
        batch.parent_poked = poked is not None
    if batch.cancel_children:
        await conn.execute(_CANCEL_CHILDREN, {"b_tenant": batch.tenant_id, "b_run": batch.run_id, "b_now": now})
        await human_tasks.cancel_open_of_run(conn, batch.tenant_id, batch.run_id, now)  # updated_at = the events' at
        await event_waits.cancel_waiting_of_run(conn, batch.tenant_id, batch.run_id, now)
    first = last_seq - len(batch.events) + 1
    records = [
        EventRecord(
            batch.tenant_id,
            batch.run_id,
            first + i,
            e.kind,
            e.step_id,
            e.status,
            now,
            e.data,
            batch.parent_run_id,
            e.encoded,
        )
        for i, e in enumerate(batch.events)
    ]
    if records:
        await conn.execute(_INSERT_EVENTS, [r.row() for r in records])
    return records


def encode_batch(batch: Batch) -> int:
    """Encode every JSON value of the batch in place (values encoded before stay as they are); the bytes they take.

    NotStorable names where the value is (``steps.fetch.output.total``, ``run.output``, ``events.step.failed``)."""
    size = 0
    for column, value in batch.run_values.items():
        if column in RUN_JSON and value is not None:
            size += _encoded(batch.run_values, column, value, f"run.{column}")
    for step_id, values in batch.step_values.items():
        for column, value in values.items():
            if column in STEP_JSON and value is not None:
                size += _encoded(values, column, value, f"steps.{step_id}.{column}")
    for draft in batch.events:
        if draft.data is not None:
            if draft.encoded is None:
                try:
                    draft.encoded = encode(draft.data)
                except NotStorable as exc:
                    raise exc.at(f"events.{draft.kind}.data") from None
            size += draft.encoded.size
    return size


def _encoded(values: dict[str, Any], column: str, value: Any, where: str) -> int:
    if type(value) is not Encoded:
        try:
            value = values[column] = encode(value)
        except NotStorable as exc:
            raise exc.at(where) from None
    return int(value.size)


_INSERT_EVENTS = events.insert()
# Someone needs the run's driver: bump its signal (a driver parks or finishes only on the signal it loaded)
# and make a parked run due, so the sweep dispatches it even if the nudge after the commit is lost.
_POKE = (
    runs.update()
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"), runs.c.id == sa.bindparam("b_run"), runs.c.status.in_(ACTIVE_RUN)
    )
    .values(
        signal=runs.c.signal + 1,
        wake_at=sa.case((runs.c.status == RunStatus.WAITING, sa.bindparam("b_now")), else_=runs.c.wake_at),
        updated_at=sa.bindparam("b_now"),
    )
)
_POKED = _POKE.returning(runs.c.id)  # a child's poke: did it reach a parent that is still active?
_CANCEL_CHILDREN = (
    runs.update()
    .where(
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.parent_run_id == sa.bindparam("b_run"),
        runs.c.status.in_(ACTIVE_RUN),
        runs.c.cancel_requested_at.is_(None),
    )
    .values(
        cancel_requested_at=sa.bindparam("b_now"),
        signal=runs.c.signal + 1,
        wake_at=sa.case((runs.c.status == RunStatus.WAITING, sa.bindparam("b_now")), else_=runs.c.wake_at),
        updated_at=sa.bindparam("b_now"),
    )
)
# The same for the children of one step (a foreach that fails fast).
CANCEL_STEP_CHILDREN = _CANCEL_CHILDREN.where(runs.c.parent_step_id == sa.bindparam("b_step"))


async def poke(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Wake an active run's driver from outside it (a human decision), in the caller's transaction."""
    await conn.execute(_POKE, {"b_tenant": tenant_id, "b_run": run_id, "b_now": utcnow()})


# A poke that records an event of its own: the seq comes from the same row update as the signal (a driver's batch
# allocates its seqs from that row too, so the two serialize on the row lock and never share a seq).
_POKE_WITH_EVENT = _POKE.values(
    last_seq=runs.c.last_seq + 1,
    stored_bytes=runs.c.stored_bytes + sa.bindparam("b_bytes"),
).returning(runs.c.last_seq, runs.c.parent_run_id)


async def poke_with_event(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    kind: EventKind,
    step_id: str | None,
    status: str | None,
    data: dict[str, Any],
) -> EventRecord | None:
    """Wake an active run's driver and record one event about it, in the caller's transaction (a resumed
    ``wait.event`` step: the resume and its event commit together). None, writing nothing, when the run is no
    longer active. The caller publishes the record after its commit."""
    encoded = encode(data)
    now = utcnow()
    row = (
        await conn.execute(
            _POKE_WITH_EVENT, {"b_tenant": tenant_id, "b_run": run_id, "b_now": now, "b_bytes": encoded.size}
        )
    ).first()
    if row is None:
        return None
    record = EventRecord(tenant_id, run_id, row[0], kind, step_id, status, now, data, row[1], encoded)
    await conn.execute(_INSERT_EVENTS, [record.row()])
    return record


@functools.cache
def _run_update(columns: tuple[str, ...], release_lease: bool, fenced_by_signal: bool) -> sa.Update:
    """The fenced run-row update for one shape of batch (a handful of shapes occur: each is built once)."""
    values: dict[str, Any] = {c: sa.bindparam(f"v_{c}") for c in columns}
    values.update(
        updated_at=sa.bindparam("b_now"),
        last_seq=runs.c.last_seq + sa.bindparam("b_events"),
        stored_bytes=runs.c.stored_bytes + sa.bindparam("b_bytes"),
    )
    if release_lease:
        values.update(lease_owner=None, lease_expires_at=None)
    fence = [
        runs.c.tenant_id == sa.bindparam("b_tenant"),
        runs.c.id == sa.bindparam("b_run"),
        runs.c.lease_owner == sa.bindparam("b_owner"),
    ]
    if fenced_by_signal:
        fence.append(runs.c.signal == sa.bindparam("b_signal"))
    return runs.update().where(*fence).values(values).returning(runs.c.last_seq, runs.c.stored_bytes)


async def _update_steps(conn: AsyncConnection, batch: Batch, now: datetime) -> None:
    """One executemany per distinct column set (a pure step's claim and result merge into one row update)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for step_id, values in batch.step_values.items():
        key = tuple(sorted(values))
        groups.setdefault(key, []).append(
            {
                **{f"v_{k}": v for k, v in values.items()},
                "b_tenant": batch.tenant_id,
                "b_run": batch.run_id,
                "b_step_id": step_id,
                "b_expected": batch.expected[step_id],
                "b_now": now,
            }
        )
    for columns, params in groups.items():
        await conn.execute(_step_update(columns), params)


@functools.cache
def _step_update(columns: tuple[str, ...]) -> sa.Update:
    return (
        steps.update()
        .where(
            steps.c.tenant_id == sa.bindparam("b_tenant"),
            steps.c.run_id == sa.bindparam("b_run"),
            steps.c.step_id == sa.bindparam("b_step_id"),
            steps.c.status == sa.bindparam("b_expected"),
        )
        .values(
            {
                **{c: sa.bindparam(f"v_{c}") for c in columns},
                "version": steps.c.version + 1,
                "updated_at": sa.bindparam("b_now"),
            }
        )
    )


async def events_after(
    conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, after_seq: int, limit: int = 1000
) -> Sequence[EventRecord]:
    rows = await conn.execute(
        sa.select(events)
        .where(events.c.tenant_id == tenant_id, events.c.run_id == run_id, events.c.seq > after_seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [
        EventRecord(r.tenant_id, r.run_id, r.seq, EventKind(r.kind), r.step_id, r.status, r.at, r.data) for r in rows
    ]
