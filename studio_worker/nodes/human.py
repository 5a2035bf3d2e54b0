"""``human.approval``: open a task for people, wait holding no worker, continue on the branch they chose.

The step opens its task (id derived from the step's idempotency key, so a re-executed step opens one) and
waits until the task's next deadline: its escalation, its expiry, or indefinitely. A decision that resolves
the task pokes the run (``Control.decide_human_task``); the driver then resumes the step, which reads the
task and finishes on ``approved`` or ``rejected``. At the escalation time the task is offered to
``escalate_to_role`` as well; at the expiry an OPEN task becomes EXPIRED (a conditional update, so a decision
arriving at the same moment either wins or is refused) and the step takes ``on_timeout``. A cancelled or
failed run cancels its open tasks in its final transaction (``records.apply``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.events import EventBus, EventKind, channels
from studio_shared.rbac import Role
from studio_shared.store import human_tasks
from studio_shared.types import HumanTaskStatus
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.outputs import derived_id

log = logging.getLogger("studio.nodes.human")

MAX_TITLE = 500
DECISIONS = {HumanTaskStatus.APPROVED: "approved", HumanTaskStatus.REJECTED: "rejected"}


async def publish_task_update(bus: EventBus | None, tenant_id: uuid.UUID, task_id: uuid.UUID, status: str) -> None:
    """Tell the tenant's inboxes (``humanTaskUpdates``) that a task changed; best effort, after the commit."""
    if bus is None:
        return
    with contextlib.suppress(Exception):  # committed already: an inbox re-reads the database anyway
        await bus.publish(channels.tenant_tasks(tenant_id), {"task_id": str(task_id), "status": status})


def _session(ctx: NodeContext) -> AsyncSession:
    return AsyncSession(ctx.need_services().db, expire_on_commit=False)


def _after(now: datetime, seconds: Any) -> datetime | None:
    return now + timedelta(seconds=float(seconds)) if seconds else None


def _new_task(ctx: NodeContext, config: dict[str, Any], key: str = "human-task") -> dict[str, Any]:
    title = str(config["title"]).strip()
    if not title:
        raise NodeError("InvalidConfig", "title rendered empty: check config.title")
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1] + "…"
    assignees = sorted({str(email).strip().lower() for email in config.get("assignees") or []})
    required = int(config.get("required_approvals") or 1)
    escalates = bool(config.get("escalate_after_s"))
    if assignees and required > len(assignees) and not escalates:
        raise NodeError(
            "InvalidConfig",
            f"required_approvals is {required} but only {len(assignees)} assignees may decide: "
            "lower config.required_approvals or add assignees",
        )
    message = config.get("message")
    now = utcnow()
    return {
        "id": derived_id(ctx, key),
        "tenant_id": ctx.tenant_id,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "title": title,
        "message": str(message) if message is not None else None,
        "form_schema": config.get("form_schema"),
        "assignee_role": Role(config.get("assignee_role") or Role.APPROVER),
        "assignees": assignees,
        "required_approvals": required,
        "expires_at": _after(now, config.get("timeout_s")),
        "escalate_at": _after(now, config.get("escalate_after_s")),
        "escalate_to_role": Role(config.get("escalate_to_role") or Role.ADMIN) if escalates else None,
        "created_at": now,
        "updated_at": now,
    }


async def open_task(ctx: NodeContext, config: dict[str, Any], key: str = "human-task") -> models.HumanTask:
    """Open the task ``config`` describes, once per step and ``key`` (a re-executed step finds the one it opened).

    ``config`` holds human.approval's task fields (title, message, assignee_role, assignees, required_approvals,
    timeout_s, escalate_after_s, escalate_to_role); the agent opens its tool approvals with it too.
    """
    async with _session(ctx) as s, s.begin():
        task, created = await human_tasks.open_once(s, _new_task(ctx, config, key))
    if created:
        ctx.event(EventKind.STEP_TASK_OPENED, task_id=str(task.id))
        await publish_task_update(ctx.need_services().bus, ctx.tenant_id, task.id, task.status.value)
    return task


async def load_task(ctx: NodeContext, task_id: uuid.UUID) -> models.HumanTask:
    async with _session(ctx) as s:
        task = await human_tasks.get(s, ctx.tenant_id, task_id)
    if task is None:
        raise NodeError("TaskMissing", f"the approval task {task_id} of this step no longer exists")
    return task


async def apply_deadlines(ctx: NodeContext, task: models.HumanTask) -> models.HumanTask:
    """The task after the deadlines that passed: an overdue OPEN task expires, one past its escalation escalates."""
    bus = ctx.need_services().bus
    now = utcnow()
    if task.status is HumanTaskStatus.OPEN and task.expires_at is not None and task.expires_at <= now:
        async with _session(ctx) as s, s.begin():
            expired = await human_tasks.expire(s, ctx.tenant_id, task.id, now)
            fresh = await human_tasks.get(s, ctx.tenant_id, task.id)
        if fresh is None:
            raise NodeError("TaskMissing", f"the approval task {task.id} of this step no longer exists")
        task = fresh
        if expired:
            ctx.event(EventKind.STEP_TASK_EXPIRED, task_id=str(task.id))
            await publish_task_update(bus, ctx.tenant_id, task.id, task.status.value)
    if (
        task.status is HumanTaskStatus.OPEN
        and task.escalate_at is not None
        and task.escalated_at is None
        and task.escalate_at <= now
    ):
        async with _session(ctx) as s, s.begin():
            escalated = await human_tasks.escalate(s, ctx.tenant_id, task.id, now)
        if escalated:
            task.escalated_at = now
            role = task.escalate_to_role.value if task.escalate_to_role else "?"
            ctx.event(EventKind.STEP_TASK_ESCALATED, task_id=str(task.id), role=role)
            await publish_task_update(bus, ctx.tenant_id, task.id, task.status.value)
    return task


async def approval(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    """Open the step's task (or find the one an earlier execution of this step opened) and wait for it."""
    return await _progress(ctx, config, await open_task(ctx, config))


async def approval_resume(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    """The run was poked (a decision) or a deadline passed: finish, escalate, expire, or wait on."""
    task_id = uuid.UUID(str((ctx.state or {}).get("task_id") or derived_id(ctx, "human-task")))
    return await _progress(ctx, config, await load_task(ctx, task_id))


async def _progress(ctx: NodeContext, config: dict[str, Any], task: models.HumanTask) -> NodeResult:
    task = await apply_deadlines(ctx, task)
    if task.status in DECISIONS:
        return NodeResult(output=await _output(ctx, task, DECISIONS[task.status]), branches=(DECISIONS[task.status],))
    if task.status is HumanTaskStatus.EXPIRED:
        return await _timed_out(ctx, config, task)
    if task.status is HumanTaskStatus.CANCELLED:
        raise NodeError("TaskCancelled", f"the approval task {task.id} was cancelled")
    return NodeResult(wait_until=next_deadline(task), wait=True, state={"task_id": str(task.id)})


def next_deadline(task: models.HumanTask) -> datetime | None:
    """The escalation (until it happened) or the expiry, whichever comes first; None: until someone decides."""
    deadlines = [task.expires_at] if task.expires_at is not None else []
    if task.escalate_at is not None and task.escalated_at is None:
        deadlines.append(task.escalate_at)
    return min(deadlines) if deadlines else None


async def _timed_out(ctx: NodeContext, config: dict[str, Any], task: models.HumanTask) -> NodeResult:
    on_timeout = str(config.get("on_timeout") or "fail")
    if on_timeout not in ("approved", "rejected"):
        waited = f" within timeout_s={float(config['timeout_s']):g}" if config.get("timeout_s") else ""
        raise NodeError(
            "ApprovalExpired",
            f"nobody decided the task {task.title!r}{waited}; "
            "set on_timeout to approved or rejected to continue on a branch instead",
        )
    ctx.log(f"the task expired: taking the {on_timeout} branch (on_timeout)")
    return NodeResult(output=await _output(ctx, task, on_timeout, timed_out=True), branches=(on_timeout,))


async def _output(ctx: NodeContext, task: models.HumanTask, decision: str, timed_out: bool = False) -> dict[str, Any]:
    async with _session(ctx) as s:
        votes = await human_tasks.decisions_with_emails(s, ctx.tenant_id, task.id)
    emails = {vote.user_id: email for vote, email in votes}
    return {
        "decision": decision,
        "comment": None if timed_out else task.comment,
        "data": None if timed_out else task.data,
        "decided_by": None if timed_out or task.decided_by is None else emails.get(task.decided_by),
        "timed_out": timed_out,
        "task_id": str(task.id),
        "decisions": [
            {"decided_by": email, "decision": vote.decision.value, "comment": vote.comment} for vote, email in votes
        ],
    }


SPECS = [
    # form_schema is a JSON Schema, not a template: it reaches the task exactly as written.
    NodeSpec(
        "human.approval",
        approval,
        resume=approval_resume,
        raw_fields=frozenset({"form_schema"}),
        resume_on_poke=True,
    ),
]
