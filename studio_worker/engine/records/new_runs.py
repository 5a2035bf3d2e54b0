"""A new run's rows, built in one place for every caller: a start (manual, webhook, message, schedule, a test run, a
test step, a replay), a step's child runs and a failed run's error run (``records.error_runs``).

A new run is QUEUED with one PENDING step row per node (a test step's steps may start filled in) and its first event,
``run.queued`` (seq 1). Core, not the ORM, on the hot path of every trigger: one statement per table, however many
runs (a fan-out inserts all its children with three executemany statements).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared import tracing
from studio_shared.db.jsondata import Encoded, encode, stored_size
from studio_shared.events import EventKind
from studio_shared.types import RunStatus, StepStatus
from studio_worker.engine.records import EventRecord, events, runs, steps

if TYPE_CHECKING:
    from studio_shared.definition import Definition

_INSERT_RUNS, _INSERT_STEPS, _INSERT_EVENTS = runs.insert(), steps.insert(), events.insert()
_STEP_DEFAULTS: dict[str, Any] = {"status": StepStatus.PENDING, "attempt": 0}
_FILLED_JSON = ("output", "envelope", "branches")  # a filled-in step's stored documents


@dataclass(frozen=True, slots=True)
class Parent:
    """A child run's place: the run and step that spawned it, and its item index."""

    run_id: uuid.UUID
    step_id: str
    item_index: int

    def link(self) -> dict[str, Any]:
        """What its trigger data and first event say about it."""
        return {"parent_run_id": str(self.run_id), "parent_step_id": self.step_id, "item_index": self.item_index}


@dataclass(slots=True)
class NewRun:
    """The rows of one new run: ``run`` holds its column values as given (``models.Run(**run)`` is the run as
    stored), ``stored`` the JSON columns as the row stores them (encoded once: the quotas count those bytes)."""

    run: dict[str, Any]
    stored: dict[str, Encoded]
    steps: list[dict[str, Any]]
    event: EventRecord

    @property
    def id(self) -> uuid.UUID:
        run_id: uuid.UUID = self.run["id"]
        return run_id

    def row(self) -> dict[str, Any]:
        return {**self.run, **self.stored}


def new_run(
    *,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    version_id: uuid.UUID,
    version: int,
    definition: Definition,
    input: Any,
    trigger: str,
    trigger_data: dict[str, Any] | None,
    now: datetime,
    idempotency_key: str | None = None,
    created_by: str | None = None,
    started_by: uuid.UUID | None = None,
    test: bool = False,
    held: bool = False,
    parent: Parent | None = None,
    depth: int = 0,
    stored_input: Encoded | None = None,
    filled: Mapping[str, dict[str, Any]] | None = None,
) -> NewRun:
    """A QUEUED run of ``definition``, a PENDING step per node (``filled``: column values by step id, a test step's
    steps filled in before it starts) and its ``run.queued`` event.

    Its ``stored_bytes`` counts its input (``stored_input``: encoded already, as a fan-out admits its children's
    inputs before it builds them), the trigger data of a top-level run and the documents of filled-in steps.
    ``held``: it waits for a free slot of its tenant (``held_since``), the oldest held run dispatched first.
    """
    run_id = uuid.uuid4()
    stored = {"input": stored_input if stored_input is not None else encode(input)}
    if parent is None:  # a child's trigger data is its link to its parent, not counted against the quotas
        stored["trigger_data"] = encode(trigger_data)
    step_rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "run_id": run_id,
            "step_id": node.id,
            "node_type": node.type,
            "created_at": now,
            "updated_at": now,
            **(filled or {}).get(node.id, {}),
        }
        for node in definition
    ]
    filled_bytes = 0
    if filled:  # one executemany: every row names the same columns
        columns = {column for values in filled.values() for column in values}
        for step in step_rows:
            for column in columns:
                step.setdefault(column, _STEP_DEFAULTS.get(column))
            if step.get("envelope") is not None:
                step["envelope"] = {**step["envelope"], "run_id": str(run_id)}
        filled_bytes = sum(stored_size(step.get(column)) for step in step_rows for column in _FILLED_JSON)
    run = {
        "id": run_id,
        "tenant_id": tenant_id,
        "workflow_id": workflow_id,
        "workflow_version_id": version_id,
        "version": version,
        "test": test,
        "status": RunStatus.QUEUED,
        "trigger": trigger,
        "trigger_data": trigger_data,
        "input": input,
        "idempotency_key": idempotency_key,
        "parent_run_id": parent.run_id if parent is not None else None,
        "parent_step_id": parent.step_id if parent is not None else None,
        "item_index": parent.item_index if parent is not None else None,
        "depth": depth,
        "created_by": created_by,
        "started_by_user": started_by,
        "last_seq": 1,
        "stored_bytes": sum(e.size for e in stored.values()) + filled_bytes,
        "signal": 0,
        "held_since": now if held else None,
        # The span current where the run is made (a start's ``run.start``, the step that spawns a child): its steps'
        # spans continue that trace in whichever worker runs them.
        "traceparent": tracing.traceparent(),
        "created_at": now,
        "updated_at": now,
    }
    data = {**(parent.link() if parent is not None else {}), "trigger": trigger, "version": version}
    if test:
        data["test"] = True
    event = EventRecord(
        tenant_id,
        run_id,
        1,
        EventKind.RUN_QUEUED,
        None,
        RunStatus.QUEUED,
        now,
        data,
        parent.run_id if parent is not None else None,
    )
    return NewRun(run, stored, step_rows, event)


async def insert_new_runs(conn: AsyncConnection | AsyncSession, new: Sequence[NewRun]) -> None:
    """Store new runs in the caller's transaction: their run rows, step rows and first events."""
    await conn.execute(_INSERT_RUNS, [n.row() for n in new])
    await conn.execute(_INSERT_STEPS, [step for n in new for step in n.steps])
    await conn.execute(_INSERT_EVENTS, [n.event.row() for n in new])
