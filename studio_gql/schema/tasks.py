"""Human tasks: the approvers' inbox, their decisions, and live updates of the tenant's tasks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import strawberry

from studio_gql.context import Context, Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, Connection, Role, connection, parse_id, require_id
from studio_gql.schema.identity import User
from studio_gql.schema.runs import CLOCK_MARGIN, Run, _subscription_slot
from studio_shared.db import models
from studio_shared.errors import NotFound
from studio_shared.events import EventKind, channels, reconnected_since
from studio_shared.rbac import Permission, permissions_for
from studio_shared.store import Page
from studio_shared.store import human_tasks as store
from studio_shared.types import Decision as DecisionEnum
from studio_shared.types import HumanTaskStatus as HumanTaskStatusEnum

HumanTaskStatus = HumanTaskStatusEnum  # registered as GraphQL enums on the classes themselves (see common.Role)
Decision = DecisionEnum
strawberry.enum(
    HumanTaskStatus,
    name="HumanTaskStatus",
    description="OPEN until decided (APPROVED, REJECTED), EXPIRED at its timeout, or CANCELLED with its run.",
)
strawberry.enum(Decision, name="Decision", description="An approver's answer to a task.")

MAX_COUNT = 1000  # humanTaskCount counts this far at most

# Run-level events after which a run's open tasks were cancelled (in the same transaction).
_UNSUCCESSFUL = frozenset({EventKind.RUN_CANCELLED, EventKind.RUN_FAILED})


@strawberry.type(description="One approver's decision on a task.")
class HumanTaskDecision:
    decision: Decision
    comment: str | None
    data: JSON | None = strawberry.field(description="The form data sent with the decision.")
    created_at: datetime
    _user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: models.HumanTaskDecision) -> HumanTaskDecision:
        return cls(
            decision=row.decision, comment=row.comment, data=row.data, created_at=row.created_at, _user_id=row.user_id
        )

    @strawberry.field(description="Who decided (null once the user was deleted).")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self._user_id)
        return User.from_model(row) if row else None


@strawberry.type(description="A task for people, opened by a human.approval step; its run waits until it is resolved.")
class HumanTask:
    id: strawberry.ID
    step_id: str = strawberry.field(description="The human.approval step that opened the task.")
    status: HumanTaskStatus
    title: str
    message: str | None = strawberry.field(description="Longer explanation for the approver (Markdown).")
    form_schema: JSON | None = strawberry.field(description="JSON Schema of the data an approval sends.")
    assignee_role: Role = strawberry.field(description="The lowest role that may decide.")
    assignees: list[str] = strawberry.field(description="When not empty, only these users (emails) may decide.")
    required_approvals: int = strawberry.field(description="APPROVE decisions needed; one REJECT rejects.")
    comment: str | None = strawberry.field(description="The comment of the decision that resolved the task.")
    data: JSON | None = strawberry.field(description="The form data of the decision that resolved the task.")
    expires_at: datetime | None = strawberry.field(description="When the task expires and the run takes on_timeout.")
    escalate_at: datetime | None = strawberry.field(description="When the task is offered to escalateToRole too.")
    escalate_to_role: Role | None
    escalated_at: datetime | None = strawberry.field(description="Set once the task escalated.")
    decided_at: datetime | None = strawberry.field(description="When the task was resolved or expired.")
    created_at: datetime
    updated_at: datetime
    _run_id: strawberry.Private[uuid.UUID]
    _decided_by: strawberry.Private[uuid.UUID | None]
    _row: strawberry.Private[models.HumanTask]

    @classmethod
    def from_model(cls, row: models.HumanTask) -> HumanTask:
        return cls(
            id=strawberry.ID(str(row.id)),
            step_id=row.step_id,
            status=row.status,
            title=row.title,
            message=row.message,
            form_schema=JSON(row.form_schema),
            assignee_role=row.assignee_role,
            assignees=list(row.assignees or []),
            required_approvals=row.required_approvals,
            comment=row.comment,
            data=row.data,
            expires_at=row.expires_at,
            escalate_at=row.escalate_at,
            escalate_to_role=row.escalate_to_role,
            escalated_at=row.escalated_at,
            decided_at=row.decided_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _run_id=row.run_id,
            _decided_by=row.decided_by,
            _row=row,
        )

    @strawberry.field(description="The run waiting for this task.")
    async def run(self, info: Info) -> Run:
        row = await info.context.loaders.run.load(self._run_id)
        if row is None:
            raise NotFound("run", self._run_id)
        return Run.from_model(row)

    @strawberry.field(description="The user whose decision resolved the task; null while open, expired or cancelled.")
    async def decided_by(self, info: Info) -> User | None:
        if self._decided_by is None:
            return None
        row = await info.context.loaders.user.load(self._decided_by)
        return User.from_model(row) if row else None

    @strawberry.field(
        description="Whether you are among its deciders (by role, assignees and escalation), whatever its status; "
        "false for an API key."
    )
    async def assigned_to_me(self, info: Info) -> bool:
        approver = await _approver(info.context)
        if approver is None:
            return False
        return store.may_decide(self._row, approver.role, approver.email)

    @strawberry.field(description="Every decision so far, in order.")
    async def decisions(self, info: Info) -> list[HumanTaskDecision]:
        rows = await info.context.loaders.decisions.load(uuid.UUID(str(self.id)))
        return [HumanTaskDecision.from_model(row) for row in rows or []]

    @strawberry.field(description="How many APPROVE decisions the task has (out of requiredApprovals).")
    async def approvals(self, info: Info) -> int:
        rows = await info.context.loaders.decisions.load(uuid.UUID(str(self.id)))
        return sum(1 for row in rows or [] if row.decision is DecisionEnum.APPROVE)


@strawberry.type
class HumanTaskPayload:
    task: HumanTask | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _approver(ctx: Context) -> store.Approver | None:
    """The caller as a possible decider; None for an API key (only users decide) or a role that cannot decide."""
    principal = ctx.require_principal()
    if principal.user_id is None or Permission.TASK_DECIDE not in permissions_for(principal.role):
        return None
    user = await ctx.loaders.user.load(principal.user_id)
    return store.Approver(user.id, user.email, principal.role) if user else None


@strawberry.type
class HumanTaskQuery:
    @strawberry.field(
        description="Your tenant's human tasks, newest first; `assignedToMe` keeps the ones you may decide.",
        extensions=needs(Permission.TASK_READ),
    )
    async def human_tasks(
        self,
        info: Info,
        status: HumanTaskStatus | None = None,
        assigned_to_me: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[HumanTask]:
        ctx = info.context
        where = store.TaskFilter(status=HumanTaskStatusEnum(status) if status is not None else None)
        if assigned_to_me:
            approver = await _approver(ctx)
            if approver is None:
                return connection(Page(items=[], has_next=False), HumanTask.from_model)
            where = replace(where, assigned_to=approver)
        async with ctx.state.reads() as s:
            page = await store.list_tasks(s, ctx.tenant_id, where, first, after)
        return connection(page, HumanTask.from_model)

    @strawberry.field(
        description=f"How many of your tenant's tasks match (e.g. OPEN and assignedToMe: the inbox's badge), counted "
        f"up to {MAX_COUNT:,}: a larger number reads as {MAX_COUNT:,}.",
        extensions=needs(Permission.TASK_READ),
    )
    async def human_task_count(
        self, info: Info, status: HumanTaskStatus | None = None, assigned_to_me: bool | None = None
    ) -> int:
        ctx = info.context
        where = store.TaskFilter(status=HumanTaskStatusEnum(status) if status is not None else None)
        if assigned_to_me:
            approver = await _approver(ctx)
            if approver is None:
                return 0
            where = replace(where, assigned_to=approver)
        async with ctx.state.reads() as s:
            return await store.count_tasks(s, ctx.tenant_id, where, MAX_COUNT)

    @strawberry.field(description="A human task by id, or null.", extensions=needs(Permission.TASK_READ))
    async def human_task(self, info: Info, id: strawberry.ID) -> HumanTask | None:
        key = parse_id(id)
        if key is None:
            return None
        async with info.context.state.reads() as s:
            row = await store.get(s, info.context.tenant_id, key)
        return HumanTask.from_model(row) if row else None


@strawberry.type
class HumanTaskMutation:
    @strawberry.mutation(
        description="Approve or reject a task you may decide; approving sends `data` matching its form schema. "
        "The decision that completes the quorum (or any rejection) resumes the run.",
        extensions=needs(Permission.TASK_DECIDE),
    )
    @payload(lambda errors: HumanTaskPayload(errors=errors))
    async def decide_human_task(
        self,
        info: Info,
        id: strawberry.ID,
        decision: Decision,
        comment: str | None = None,
        data: JSON | None = None,
    ) -> HumanTaskPayload:
        ctx = info.context
        task = await ctx.state.control.decide_human_task(
            ctx.tenant_id,
            ctx.require_principal(),
            require_id(id, "human task"),
            DecisionEnum(decision),
            comment,
            data,
        )
        return HumanTaskPayload(task=HumanTask.from_model(task))


@strawberry.type
class HumanTaskSubscription:
    @strawberry.subscription(
        description="Your tenant's tasks as they are opened, escalated, decided, expired or cancelled.",
        extensions=needs(Permission.TASK_READ),
    )
    async def human_task_updates(self, info: Info) -> AsyncGenerator[HumanTask, None]:
        ctx = info.context
        tenant_id = ctx.tenant_id
        watched = (channels.tenant_tasks(tenant_id), channels.tenant_runs(tenant_id))
        async with _subscription_slot(ctx), ctx.state.bus.subscribe(*watched) as live:
            async for message in live:
                if (lost := reconnected_since(message)) is not None:
                    # The bus was away: every task that changed meanwhile, read back from the database.
                    async with ctx.state.reads() as s:
                        changed = await store.changed_since(s, tenant_id, lost - CLOCK_MARGIN)
                else:
                    changed = await _changed(ctx, tenant_id, message)
                for row in changed:
                    yield HumanTask.from_model(row)


async def _changed(ctx: Context, tenant_id: uuid.UUID, message: dict[str, Any]) -> Sequence[models.HumanTask]:
    """The tasks a bus message is about, read back from the database (the truth), in the caller's tenant.

    A task message names its task; a run that ended unsuccessfully cancelled its open tasks in its final
    transaction, which stamped them with the time of the run's event.
    """
    task_id = parse_id(str(message["task_id"])) if "task_id" in message else None
    async with ctx.state.reads() as s:
        if task_id is not None:
            row = await store.get(s, tenant_id, task_id)
            return [row] if row else []
        run_id = parse_id(str(message.get("run_id")))
        if message.get("kind") in _UNSUCCESSFUL and run_id is not None and isinstance(message.get("at"), str):
            return await store.cancelled_of_run(s, tenant_id, run_id, datetime.fromisoformat(message["at"]))
    return []
