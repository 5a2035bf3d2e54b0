"""Runs, their steps and their events, read tenant-scoped (the engine writes them in studio_worker)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from studio_shared.db import models
from studio_shared.errors import Conflict, NotFound
from studio_shared.store import audit
from studio_shared.store.pagination import Page, keyset, paged
from studio_shared.types import RunStatus

MAX_EVENTS = 5000
FINAL = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Every given field must match. Each list is keyset-paged on ``(created_at, id)`` through an index that leads
    with the tenant and the filtered column (see ``models.Run``), so a page costs the same at any depth."""

    workflow_id: uuid.UUID | None = None
    statuses: Sequence[RunStatus] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    parent_run_id: uuid.UUID | None = None
    parent_step_id: str | None = None
    triggers: Sequence[str] = ()  # manual, webhook, schedule, message, parent (a child run), error, ...
    started_by: uuid.UUID | None = None  # the person the run tree was started for (``Run.started_by_user``)
    top_level: bool | None = None  # True: runs no step started; False: child runs only
    test: bool | None = None  # True: test runs of drafts only; False: live runs only


# What a list of runs leaves out of each row: the JSON a run holds (its input, output, error and trigger delivery may be
# megabytes each, and a page reads 50 to 100 rows). ``documents_of`` reads them for the rows whose client asks.
DOCUMENTS = ("input", "output", "error", "trigger_data")


_S = TypeVar("_S")


def _without_documents(stmt: sa.Select[_S], run: Any = models.Run) -> sa.Select[_S]:
    return stmt.options(*(defer(getattr(run, column)) for column in DOCUMENTS))


async def documents_of(s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, sa.Row[Any]]:
    """The JSON columns (``DOCUMENTS``) of each run, in one statement: what a list left out, for the runs asked."""
    run = models.Run
    columns = [getattr(run, column) for column in DOCUMENTS]
    rows = await s.execute(sa.select(run.id, *columns).where(run.tenant_id == tenant_id, run.id.in_(run_ids)))
    return {row.id: row for row in rows}


async def get(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> models.Run | None:
    return await s.scalar(sa.select(models.Run).where(models.Run.tenant_id == tenant_id, models.Run.id == run_id))


async def progress(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> tuple[RunStatus, int] | None:
    """The run's status and the seq of its newest event (two columns, no documents), or None: what a follower of
    its events needs to know whether it has seen the end."""
    run = models.Run
    row = (
        await s.execute(sa.select(run.status, run.last_seq).where(run.tenant_id == tenant_id, run.id == run_id))
    ).first()
    return (RunStatus(row.status), int(row.last_seq)) if row is not None else None


async def by_ids(s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, models.Run]:
    rows = await s.scalars(sa.select(models.Run).where(models.Run.tenant_id == tenant_id, models.Run.id.in_(ids)))
    return {row.id: row for row in rows}


def _filtered(stmt: sa.Select[models.Run], where: RunFilter) -> sa.Select[models.Run]:
    run = models.Run
    if where.workflow_id is not None:
        stmt = stmt.where(run.workflow_id == where.workflow_id)
    if where.statuses:
        stmt = stmt.where(run.status.in_(list(where.statuses)))
    if where.created_after is not None:
        stmt = stmt.where(run.created_at >= where.created_after)
    if where.created_before is not None:
        stmt = stmt.where(run.created_at < where.created_before)
    if where.parent_run_id is not None:
        stmt = stmt.where(run.parent_run_id == where.parent_run_id)
    if where.parent_step_id is not None:
        stmt = stmt.where(run.parent_step_id == where.parent_step_id)
    if where.triggers:
        stmt = stmt.where(run.trigger.in_(list(where.triggers)))
    if where.started_by is not None:
        stmt = stmt.where(run.started_by_user == where.started_by)
    if where.top_level is not None:
        stmt = stmt.where(run.parent_run_id.is_(None) if where.top_level else run.parent_run_id.is_not(None))
    if where.test is not None:
        stmt = stmt.where(run.test.is_(where.test))
    return stmt


async def list_runs(
    s: AsyncSession, tenant_id: uuid.UUID, where: RunFilter, first: int | None, after: str | None
) -> Page[models.Run]:
    run = models.Run
    listed = _without_documents(sa.select(run).where(run.tenant_id == tenant_id))
    stmt, size = keyset(_filtered(listed, where), run.created_at, run.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)


async def children_of(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    parent_ids: list[uuid.UUID],
    step_id: str | None,
    first: int | None,
    after: str | None,
    statuses: Sequence[RunStatus] = (),
) -> dict[uuid.UUID, Page[models.Run]]:
    """A page of child runs of each parent (newest first; of the given statuses, if any), in one statement whatever
    the number of parents."""
    if len(parent_ids) == 1:
        where = RunFilter(parent_run_id=parent_ids[0], parent_step_id=step_id, statuses=statuses)
        return {parent_ids[0]: await list_runs(s, tenant_id, where, first, after)}
    run = models.Run
    stmt = _filtered(
        sa.select(run).where(run.tenant_id == tenant_id, run.parent_run_id.in_(parent_ids)),
        RunFilter(parent_step_id=step_id, statuses=statuses),
    )
    stmt, size = keyset(stmt, run.created_at, run.id, first, after)  # ordered and limited below, per parent
    rank = sa.func.row_number().over(partition_by=run.parent_run_id, order_by=(run.created_at.desc(), run.id.desc()))
    ranked = stmt.order_by(None).limit(None).add_columns(rank.label("rank")).subquery()
    child = aliased(run, ranked)
    rows = await s.scalars(
        _without_documents(sa.select(child), child)
        .where(ranked.c.rank <= size + 1)
        .order_by(ranked.c.parent_run_id, ranked.c.rank)
    )
    found: dict[uuid.UUID, list[models.Run]] = {parent: [] for parent in parent_ids}
    for row in rows:
        found[row.parent_run_id].append(row)  # type: ignore[index]
    return {parent: paged(children, size) for parent, children in found.items()}


async def child_counts(
    s: AsyncSession, tenant_id: uuid.UUID, parent_ids: list[uuid.UUID], step_id: str | None
) -> dict[uuid.UUID, dict[RunStatus, int]]:
    """How many child runs each parent has (of one step, if given), by status: one grouped count for all parents,
    read through the ``(tenant_id, parent_run_id, item_index)`` index."""
    run = models.Run
    stmt = sa.select(run.parent_run_id, run.status, sa.func.count()).where(
        run.tenant_id == tenant_id, run.parent_run_id.in_(parent_ids)
    )
    if step_id is not None:
        stmt = stmt.where(run.parent_step_id == step_id)
    found: dict[uuid.UUID, dict[RunStatus, int]] = {parent: {} for parent in parent_ids}
    for parent, status, count in await s.execute(stmt.group_by(run.parent_run_id, run.status)):
        found[parent][RunStatus(status)] = int(count)  # type: ignore[index]  # the IN above: never NULL
    return found


async def changed_since(
    s: AsyncSession, tenant_id: uuid.UUID, since: datetime, workflow_id: uuid.UUID | None = None, limit: int = 1000
) -> Sequence[models.Run]:
    """Runs of the tenant (optionally of one workflow) changed at or after ``since``, oldest change first: what a
    change feed re-reads after its transport lost messages. Beyond ``limit``, the most recent changes are kept."""
    run = models.Run
    stmt = sa.select(run).where(run.tenant_id == tenant_id, run.updated_at >= since)
    if workflow_id is not None:
        stmt = stmt.where(run.workflow_id == workflow_id)
    newest = (await s.scalars(stmt.order_by(run.updated_at.desc(), run.id.desc()).limit(limit))).all()
    return newest[::-1]


async def steps_of(
    s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.Step]]:
    rows = await s.scalars(
        sa.select(models.Step).where(models.Step.tenant_id == tenant_id, models.Step.run_id.in_(run_ids))
    )
    out: dict[uuid.UUID, list[models.Step]] = {run_id: [] for run_id in run_ids}
    for row in rows:
        out[row.run_id].append(row)
    return out


async def step_of(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str) -> models.Step | None:
    step: models.Step | None = await s.scalar(
        sa.select(models.Step).where(
            models.Step.tenant_id == tenant_id, models.Step.run_id == run_id, models.Step.step_id == step_id
        )
    )
    return step


async def versions_by_ids(
    s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, models.WorkflowVersion]:
    rows = await s.scalars(
        sa.select(models.WorkflowVersion).where(
            models.WorkflowVersion.tenant_id == tenant_id, models.WorkflowVersion.id.in_(ids)
        )
    )
    return {row.id: row for row in rows}


async def events_after(
    s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, after_seq: int, limit: int = MAX_EVENTS
) -> list[models.RunEvent]:
    rows = await s.scalars(
        sa.select(models.RunEvent)
        .where(
            models.RunEvent.tenant_id == tenant_id, models.RunEvent.run_id == run_id, models.RunEvent.seq > after_seq
        )
        .order_by(models.RunEvent.seq)
        .limit(limit)
    )
    return list(rows)


async def events_of(
    s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID], after_seq: int, limit: int = MAX_EVENTS
) -> dict[uuid.UUID, list[models.RunEvent]]:
    """Each run's events after ``after_seq`` (at most ``limit`` each), in one statement whatever the number of runs."""
    if len(run_ids) == 1:
        return {run_ids[0]: await events_after(s, tenant_id, run_ids[0], after_seq, limit)}
    event = models.RunEvent
    rank = sa.func.row_number().over(partition_by=event.run_id, order_by=event.seq).label("rank")
    ranked = (
        sa.select(event, rank)
        .where(event.tenant_id == tenant_id, event.run_id.in_(run_ids), event.seq > after_seq)
        .subquery()
    )
    row = aliased(event, ranked)
    rows = await s.scalars(sa.select(row).where(ranked.c.rank <= limit).order_by(ranked.c.run_id, ranked.c.seq))
    found: dict[uuid.UUID, list[models.RunEvent]] = {run_id: [] for run_id in run_ids}
    for found_row in rows:
        found[found_row.run_id].append(found_row)
    return found


async def delete_tree(s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, actor: str) -> list[uuid.UUID]:
    """Delete a finished top-level run with its child runs, steps, events, artifact rows and model calls.

    Returns the ids of every deleted run: the caller removes their stored objects after the commit.
    """
    run = await get(s, tenant_id, run_id)
    if run is None:
        raise NotFound("run", run_id)
    if run.parent_run_id is not None:
        raise Conflict("this run belongs to a parent run's step: delete the parent run instead", ["id"])
    tree, frontier = [run_id], [run_id]
    while frontier:
        frontier = list(
            await s.scalars(
                sa.select(models.Run.id).where(
                    models.Run.tenant_id == tenant_id, models.Run.parent_run_id.in_(frontier)
                )
            )
        )
        tree += frontier
    unfinished = await s.scalar(
        sa.select(sa.func.count())
        .select_from(models.Run)
        .where(models.Run.tenant_id == tenant_id, models.Run.id.in_(tree), models.Run.status.not_in(FINAL))
    )
    if unfinished:
        raise Conflict("the run (or one of its child runs) has not finished: cancel it first", ["id"])
    # Children first: the foreign keys cascade to steps, events, artifacts and model calls of each run.
    for chunk in reversed([tree[i : i + 500] for i in range(0, len(tree), 500)]):
        await s.execute(sa.delete(models.Run).where(models.Run.tenant_id == tenant_id, models.Run.id.in_(chunk)))
    audit.record(s, tenant_id, actor, "run.delete", ("run", run_id), {"runs": len(tree)})
    return tree


async def by_idempotency_key(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, key: str
) -> models.Run | None:
    """The run a start with this idempotency key created, if it still exists."""
    run = models.Run
    return await s.scalar(
        sa.select(run).where(run.tenant_id == tenant_id, run.workflow_id == workflow_id, run.idempotency_key == key)
    )


async def prune_test_runs(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, keep: int, actor: str
) -> list[uuid.UUID]:
    """The test-run retention of one workflow: delete its finished test runs beyond the newest ``keep`` test runs
    (with their child runs, steps, events, artifact rows), and the test snapshots no run uses any more. Live test
    runs are never deleted. Returns the deleted run ids: the caller removes their stored objects after the commit.
    """
    run = models.Run
    old = (
        await s.scalars(
            sa.select(run.id)
            .where(
                run.tenant_id == tenant_id,
                run.workflow_id == workflow_id,
                run.test.is_(True),
                run.parent_run_id.is_(None),
            )
            .order_by(run.created_at.desc(), run.id.desc())
            .offset(keep)
            .limit(500)
        )
    ).all()
    deleted: list[uuid.UUID] = []
    for run_id in old:
        try:
            async with s.begin_nested():
                deleted += await delete_tree(s, tenant_id, run_id, actor)
        except Conflict:
            continue  # still running (or a child is): a later test run prunes it
    version, workflow = models.WorkflowVersion, models.Workflow
    # Only this workflow's test runs use its snapshots: the subquery reads them through their index, not every run.
    in_use = sa.select(run.id).where(
        run.tenant_id == tenant_id,
        run.workflow_id == workflow_id,
        run.test.is_(True),
        run.workflow_version_id == version.id,
    )
    # Snapshots of the current draft revision stay: a test starting right now may be about to use one.
    current = sa.select(workflow.revision).where(workflow.tenant_id == tenant_id, workflow.id == workflow_id)
    await s.execute(
        sa.delete(version)
        .where(
            version.tenant_id == tenant_id,
            version.workflow_id == workflow_id,
            version.test.is_(True),
            version.draft_revision < current.scalar_subquery(),
            ~sa.exists(in_use),
        )
        .execution_options(synchronize_session=False)
    )
    return deleted


async def live_test_runs(s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> list[uuid.UUID]:
    """The workflow's test runs that have not finished (top-level ones: cancelling a run cancels its children)."""
    run = models.Run
    rows = await s.scalars(
        sa.select(run.id).where(
            run.tenant_id == tenant_id,
            run.workflow_id == workflow_id,
            run.test.is_(True),
            run.parent_run_id.is_(None),
            run.status.not_in(FINAL),
        )
    )
    return list(rows)


_QUEUED = (
    sa.select(models.Run.created_at).where(models.Run.status == RunStatus.QUEUED).limit(sa.bindparam("b_limit"))
).subquery()
_QUEUE = sa.select(sa.func.count(), sa.func.min(_QUEUED.c.created_at))


async def queue_backlog(conn: Any, limit: int) -> tuple[int, datetime | None]:
    """Across every tenant (operators' metrics): QUEUED runs, counted up to ``limit``, and the oldest one's creation
    time among them (None when none). One query through the index that leads with the status."""
    row = (await conn.execute(_QUEUE, {"b_limit": limit})).one()
    return int(row[0]), row[1]
