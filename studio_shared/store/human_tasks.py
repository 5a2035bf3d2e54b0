"""Human tasks: opened by ``human.approval`` steps, decided by people, listed in their inboxes.

Who may decide a task: a user whose role is at least the task's ``assignee_role`` and, when the task names
``assignees``, whose email is among them; once the task escalated, anyone at least ``escalate_to_role`` as
well. ``required_approvals`` APPROVE decisions approve it, one REJECT rejects it; every approver decides at
most once (a unique key). A task leaves OPEN exactly once, through a conditional update, so concurrent
decisions (and the engine expiring the task) race safely: one transaction wins, the others see it decided.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, ValidationFailed
from studio_shared.rbac import Role
from studio_shared.schemas import UnusableSchema, user_schema
from studio_shared.schemas.messages import clip
from studio_shared.store import audit
from studio_shared.store.pagination import Page, keyset, paged
from studio_shared.types import Decision, HumanTaskStatus

MAX_COMMENT = 10_000
MAX_DATA_BYTES = 256 * 1024

_tasks: sa.Table = models.HumanTask.__table__
Task = models.HumanTask
Vote = models.HumanTaskDecision


class DecisionRefused(Conflict):
    """A decision the task does not take: it is closed, or the caller may not decide it (again).

    ``code`` is one of ALREADY_DECIDED, EXPIRED, CANCELLED, FORBIDDEN, SELF_APPROVAL.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, ["id"])
        self.code = code


@dataclass(frozen=True, slots=True)
class Approver:
    """A user as a possible decider: who they are, their email and their current role."""

    user_id: uuid.UUID
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class Decided:
    """What one decision did: the task, and its new status when this decision resolved it (else None)."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    resolved: HumanTaskStatus | None


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: HumanTaskStatus | None = None
    assigned_to: Approver | None = None  # only tasks this user may decide
    run_id: uuid.UUID | None = None


def _roles_up_to(role: Role) -> list[Role]:
    return [r for r in Role if role.at_least(r)]


def may_decide(task: models.HumanTask, role: Role, email: str) -> bool:
    """Whether a user with ``role`` and ``email`` is among the task's deciders (whatever its status)."""
    listed = not task.assignees or email.lower() in task.assignees
    if role.at_least(task.assignee_role) and listed:
        return True
    return task.escalated_at is not None and task.escalate_to_role is not None and role.at_least(task.escalate_to_role)


def deciders(task: models.HumanTask) -> str:
    """Who may decide the task, in words (for refusals)."""
    who = f"{task.assignee_role.value} or above"
    if task.assignees:
        who += f" among {', '.join(task.assignees)}"
    if task.escalated_at is not None and task.escalate_to_role is not None:
        who += f", and (escalated) {task.escalate_to_role.value} or above"
    return who


def _lists(dialect: str, column: Any, value: str) -> sa.ColumnElement[bool]:
    """The JSON array in ``column`` holds the string ``value``."""
    if dialect == "postgresql":
        return sa.type_coerce(column, postgresql.JSONB).contains([value])
    items = sa.func.json_each(column).table_valued("value")
    return sa.select(sa.literal(1)).select_from(items).where(items.c.value == value).exists()


def _assigned_to(dialect: str, approver: Approver) -> sa.ColumnElement[bool]:
    """The SQL form of ``may_decide`` (assignees are stored lower-cased, and as SQL NULL when empty)."""
    roles = _roles_up_to(approver.role)
    listed = sa.or_(Task.assignees.is_(None), _lists(dialect, Task.assignees, approver.email.lower()))
    return sa.or_(
        sa.and_(Task.assignee_role.in_(roles), listed),
        sa.and_(Task.escalated_at.is_not(None), Task.escalate_to_role.in_(roles)),
    )


# -- reads -----------------------------------------------------------------------------------------------


async def get(s: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID) -> models.HumanTask | None:
    return await s.scalar(sa.select(Task).where(Task.tenant_id == tenant_id, Task.id == task_id))


def _filtered(s: AsyncSession, stmt: sa.Select[Any], where: TaskFilter) -> sa.Select[Any]:
    if where.status is not None:
        stmt = stmt.where(Task.status == where.status)
    if where.run_id is not None:
        stmt = stmt.where(Task.run_id == where.run_id)
    if where.assigned_to is not None:
        stmt = stmt.where(_assigned_to(s.get_bind().dialect.name, where.assigned_to))
    return stmt


async def list_tasks(
    s: AsyncSession, tenant_id: uuid.UUID, where: TaskFilter, first: int | None, after: str | None
) -> Page[models.HumanTask]:
    """A page of the tenant's tasks, newest first."""
    stmt, size = keyset(
        _filtered(s, sa.select(Task).where(Task.tenant_id == tenant_id), where), Task.created_at, Task.id, first, after
    )
    return paged((await s.scalars(stmt)).all(), size)


async def count_tasks(s: AsyncSession, tenant_id: uuid.UUID, where: TaskFilter, limit: int) -> int:
    """How many of the tenant's tasks match, counting at most ``limit`` (a badge's number: the work stays bounded
    however many tasks pile up)."""
    matching = _filtered(s, sa.select(Task.id).where(Task.tenant_id == tenant_id), where).limit(limit).subquery()
    return int(await s.scalar(sa.select(sa.func.count()).select_from(matching)) or 0)


async def changed_since(
    s: AsyncSession, tenant_id: uuid.UUID, since: datetime, limit: int = 1000
) -> Sequence[models.HumanTask]:
    """Tasks of the tenant changed at or after ``since``, oldest change first; beyond ``limit``, the most recent."""
    task = models.HumanTask
    stmt = sa.select(task).where(task.tenant_id == tenant_id, task.updated_at >= since)
    newest = (await s.scalars(stmt.order_by(task.updated_at.desc(), task.id.desc()).limit(limit))).all()
    return newest[::-1]


async def by_ids(s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, models.HumanTask]:
    rows = await s.scalars(sa.select(Task).where(Task.tenant_id == tenant_id, Task.id.in_(ids)))
    return {row.id: row for row in rows}


async def of_runs(
    s: AsyncSession, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.HumanTask]]:
    """The tasks of each run, oldest first."""
    rows = await s.scalars(
        sa.select(Task).where(Task.tenant_id == tenant_id, Task.run_id.in_(run_ids)).order_by(Task.created_at, Task.id)
    )
    found: dict[uuid.UUID, list[models.HumanTask]] = {run_id: [] for run_id in run_ids}
    for row in rows:
        found[row.run_id].append(row)
    return found


async def decisions_of(
    s: AsyncSession, tenant_id: uuid.UUID, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[models.HumanTaskDecision]]:
    """The decisions on each task, in the order they were made."""
    rows = await s.scalars(
        sa.select(Vote)
        .where(Vote.tenant_id == tenant_id, Vote.task_id.in_(task_ids))
        .order_by(Vote.created_at, Vote.id)
    )
    found: dict[uuid.UUID, list[models.HumanTaskDecision]] = {task_id: [] for task_id in task_ids}
    for row in rows:
        found[row.task_id].append(row)
    return found


async def decisions_with_emails(
    s: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID
) -> list[tuple[models.HumanTaskDecision, str]]:
    """The decisions on one task with their deciders' emails, in order (for the step's output)."""
    rows = await s.execute(
        sa.select(Vote, models.User.email)
        .join(models.User, sa.and_(models.User.tenant_id == Vote.tenant_id, models.User.id == Vote.user_id))
        .where(Vote.tenant_id == tenant_id, Vote.task_id == task_id)
        .order_by(Vote.created_at, Vote.id)
    )
    return [(vote, email) for vote, email in rows]


async def cancelled_of_run(
    s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, since: datetime
) -> Sequence[models.HumanTask]:
    """Tasks of a run that were cancelled at or after ``since`` (by the run's final transaction)."""
    rows = await s.scalars(
        sa.select(Task).where(
            Task.tenant_id == tenant_id,
            Task.run_id == run_id,
            Task.status == HumanTaskStatus.CANCELLED,
            Task.updated_at >= since,
        )
    )
    return rows.all()


# -- the engine's writes ---------------------------------------------------------------------------------


async def open_once(s: AsyncSession, values: dict[str, Any]) -> tuple[models.HumanTask, bool]:
    """Store a new OPEN task unless one with its id exists (a re-executed step opens one task).

    Returns the stored task and whether this call created it. No assignees are stored as SQL NULL (not JSON
    null): the inbox filter tests ``assignees IS NULL``.
    """
    existing = await get(s, values["tenant_id"], values["id"])
    if existing is not None:
        return existing, False
    assignees = values.get("assignees") or sa.null()
    await s.execute(_tasks.insert().values({**values, "status": HumanTaskStatus.OPEN, "assignees": assignees}))
    created = await get(s, values["tenant_id"], values["id"])
    if created is None:  # inserted just above, in this transaction
        raise RuntimeError(f"human task {values['id']} vanished after its insert")
    return created, True


async def _close(s: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID, **values: Any) -> bool:
    """Leave OPEN through a conditional update; False when the task was no longer OPEN (someone else won)."""
    result = await s.execute(
        _tasks.update()
        .where(_tasks.c.tenant_id == tenant_id, _tasks.c.id == task_id, _tasks.c.status == HumanTaskStatus.OPEN)
        .values(**values)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def expire(s: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID, now: datetime) -> bool:
    """Mark an OPEN task EXPIRED; False when a decision got there first."""
    return await _close(s, tenant_id, task_id, status=HumanTaskStatus.EXPIRED, decided_at=now, updated_at=now)


async def escalate(s: AsyncSession, tenant_id: uuid.UUID, task_id: uuid.UUID, now: datetime) -> bool:
    """Record that an OPEN task escalated (its escalate_to_role may decide from now on); False if it was not OPEN."""
    result = await s.execute(
        _tasks.update()
        .where(
            _tasks.c.tenant_id == tenant_id,
            _tasks.c.id == task_id,
            _tasks.c.status == HumanTaskStatus.OPEN,
            _tasks.c.escalated_at.is_(None),
        )
        .values(escalated_at=now, updated_at=now)
    )
    return cast(CursorResult[Any], result).rowcount == 1


# A run ended unsuccessfully (cancelled or failed): nobody can decide its open tasks any more.
_CANCEL_OF_RUN = (
    _tasks.update()
    .where(
        _tasks.c.tenant_id == sa.bindparam("b_tenant"),
        _tasks.c.run_id == sa.bindparam("b_run"),
        _tasks.c.status == HumanTaskStatus.OPEN,
    )
    .values(status=HumanTaskStatus.CANCELLED, updated_at=sa.bindparam("b_now"))
)


async def cancel_open_of_run(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, now: datetime) -> None:
    """Cancel the run's OPEN tasks, in the caller's transaction (the run's final one)."""
    await conn.execute(_CANCEL_OF_RUN, {"b_tenant": tenant_id, "b_run": run_id, "b_now": now})


# -- decisions -------------------------------------------------------------------------------------------


def _check_open(task: models.HumanTask, now: datetime) -> None:
    if task.status is HumanTaskStatus.OPEN and (task.expires_at is None or task.expires_at > now):
        return
    if task.status in (HumanTaskStatus.APPROVED, HumanTaskStatus.REJECTED):
        raise DecisionRefused(
            "ALREADY_DECIDED", f"the task was already decided ({task.status.value}); its run has moved on"
        )
    if task.status is HumanTaskStatus.CANCELLED:
        raise DecisionRefused("CANCELLED", "the task was cancelled with its run; there is nothing left to decide")
    expired = f" at {task.expires_at:%Y-%m-%d %H:%M:%S} UTC" if task.expires_at else ""
    raise DecisionRefused("EXPIRED", f"the task expired{expired}; it can no longer be decided")


def _user_of(actor: str | None) -> uuid.UUID | None:
    """The user id of a ``user:<id>`` actor string; None for any other actor."""
    kind, _, ident = (actor or "").partition(":")
    try:
        return uuid.UUID(ident) if kind == "user" else None
    except ValueError:
        return None


def _check_input(task: models.HumanTask, decision: Decision, comment: str | None, data: Any) -> None:
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ValidationFailed.one(["comment"], f"keep the comment under {MAX_COMMENT} characters", "TOO_LONG")
    if data is not None and not isinstance(data, dict):
        raise ValidationFailed.one(["data"], "data must be a JSON object with the fields of the task's form")
    if data is not None and len(json.dumps(data)) > MAX_DATA_BYTES:
        raise ValidationFailed.one(["data"], f"data must stay under {MAX_DATA_BYTES} bytes of JSON", "TOO_LONG")
    if task.form_schema is None or (decision is Decision.REJECT and data is None):
        return  # a rejection need not fill in the form; what it does send must match it
    try:
        form = user_schema(task.form_schema, formats=True)
    except UnusableSchema as exc:  # a version stored before today's rules: refused, never fetched or crashed on
        raise ValidationFailed.one(
            ["data"],
            clip(f"the task's form schema cannot be used; the workflow must be fixed and published again: {exc}"),
            "UNUSABLE_SCHEMA",
        ) from None
    problems = form.problems(data if data is not None else {}, ("data",), "INVALID_DATA")
    if problems:
        raise ValidationFailed(problems)


async def decide(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    approver: Approver,
    task_id: uuid.UUID,
    decision: Decision,
    comment: str | None = None,
    data: Any = None,
    *,
    allow_self_approval: bool = True,
) -> Decided:
    """Record ``approver``'s decision in the caller's transaction and resolve the task when it decides it.

    The task row is locked first (PostgreSQL; SQLite has one writer anyway), so decisions on one task are
    counted one at a time: two approvals completing a quorum of two never both see a count of one.
    """
    task = await s.scalar(sa.select(Task).where(Task.tenant_id == tenant_id, Task.id == task_id).with_for_update())
    if task is None:
        raise NotFound("human task", task_id)
    now = utcnow()
    _check_open(task, now)
    if not may_decide(task, approver.role, approver.email):
        raise DecisionRefused("FORBIDDEN", f"you may not decide this task: it is for {deciders(task)}")
    if not allow_self_approval:
        # The person the whole run tree started for (inherited by child runs; a webhook's or schedule's maker, an
        # API key's user), and the run's own starter for rows from before that was recorded.
        started = (
            await s.execute(
                sa.select(models.Run.started_by_user, models.Run.created_by).where(
                    models.Run.tenant_id == tenant_id, models.Run.id == task.run_id
                )
            )
        ).first()
        if started is not None and approver.user_id in (
            started.started_by_user,
            _user_of(started.created_by),
        ):
            raise DecisionRefused(
                "SELF_APPROVAL",
                "this run was started by you (directly, through a parent run, your API key, webhook or schedule), and "
                "approving your own runs is turned off: ask another approver",
            )
    _check_input(task, decision, comment, data)
    earlier = await s.scalar(
        sa.select(Vote.decision).where(
            Vote.tenant_id == tenant_id, Vote.task_id == task.id, Vote.user_id == approver.user_id
        )
    )
    if earlier is not None:
        raise DecisionRefused("ALREADY_DECIDED", f"you already decided this task ({earlier.value}); one decision each")
    try:
        s.add(
            Vote(
                tenant_id=tenant_id,
                task_id=task.id,
                user_id=approver.user_id,
                decision=decision,
                comment=comment,
                data=data,
                created_at=now,
            )
        )
        await s.flush()
    except IntegrityError as exc:  # the same user's concurrent twin (the unique key is the last word)
        raise DecisionRefused("ALREADY_DECIDED", "you already decided this task; one decision each") from exc
    approvals = await s.scalar(
        sa.select(sa.func.count()).where(
            Vote.tenant_id == tenant_id, Vote.task_id == task.id, Vote.decision == Decision.APPROVE
        )
    )
    outcome: HumanTaskStatus | None = None
    if decision is Decision.REJECT:
        outcome = HumanTaskStatus.REJECTED
    elif int(approvals or 0) >= task.required_approvals:
        outcome = HumanTaskStatus.APPROVED
    if outcome is not None:
        closed = await _close(
            s,
            tenant_id,
            task.id,
            status=outcome,
            decided_by=approver.user_id,
            comment=comment,
            data=data if data is not None else sa.null(),
            decided_at=now,
            updated_at=now,
        )
        if not closed:  # unreachable while the row lock holds; never leave a vote on a closed task
            raise DecisionRefused("ALREADY_DECIDED", "the task was decided meanwhile; its run has moved on")
    audit.record(
        s,
        tenant_id,
        f"user:{approver.user_id}",
        "human_task.decide",
        ("human_task", task.id),
        {
            "decision": decision.value,
            "run_id": str(task.run_id),
            "step_id": task.step_id,
            "approvals": int(approvals or 0),
            "resolved": outcome.value if outcome else None,
        },
    )
    return Decided(task.id, task.run_id, outcome)
