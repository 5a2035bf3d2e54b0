"""Workflows: the editable draft, immutable published versions, search and pagination."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_gql.schema.common import JSON, Connection, connection, parse_id, require_id
from studio_gql.schema.identity import Tenant, TenantPayload
from studio_shared.db import models
from studio_shared.errors import Conflict, Problem, ValidationFailed
from studio_shared.rbac import Permission
from studio_shared.store import runs as runs_store
from studio_shared.store import workflows as store

if TYPE_CHECKING:
    from studio_gql.schema.schedules import Schedule
    from studio_gql.schema.testing import NodePin
    from studio_gql.schema.webhooks import Webhook


@strawberry.type(description="A published, immutable snapshot of a workflow definition.")
class WorkflowVersion:
    id: strawberry.ID
    version: int = strawberry.field(description="1, 2, … in publish order.")
    definition: JSON
    note: str | None
    published_at: datetime

    @classmethod
    def from_model(cls, row: models.WorkflowVersion) -> WorkflowVersion:
        return cls(
            id=strawberry.ID(str(row.id)),
            version=row.version,
            definition=JSON(row.definition),
            note=row.note,
            published_at=row.published_at,
        )


@strawberry.type(description="A workflow: its editable draft and its published versions.")
class Workflow:
    id: strawberry.ID
    name: str
    description: str | None
    draft: JSON = strawberry.field(description="The editable definition; publishing snapshots it.")
    revision: int = strawberry.field(description="Bumped on every draft edit; send it back as `expectedRevision`.")
    archived: bool
    created_at: datetime
    updated_at: datetime
    _error_workflow_id: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_model(cls, row: models.Workflow) -> Workflow:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            draft=JSON(row.draft),
            revision=row.revision,
            archived=row.archived,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _error_workflow_id=row.error_workflow_id,
        )

    @strawberry.field(
        description="The workflow started when a live top-level run of this one fails (setErrorWorkflow), or null: "
        "then the tenant's default (`Tenant.defaultErrorWorkflow`) applies. Null too once that workflow is gone."
    )
    async def error_workflow(self, info: Info) -> Workflow | None:
        if self._error_workflow_id is None:
            return None
        row = await info.context.loaders.workflow.load(self._error_workflow_id)
        return Workflow.from_model(row) if row else None

    @strawberry.field(
        description="Webhooks that start this workflow (their secrets are never shown again). A webhook's id is in "
        "its URL, and an unsigned webhook starts runs for anyone with the URL: null, with a FORBIDDEN error, "
        "without trigger:manage.",
        extensions=needs(Permission.TRIGGER_MANAGE),
    )
    async def webhooks(
        self, info: Info
    ) -> list[Annotated[Webhook, strawberry.lazy("studio_gql.schema.webhooks")]] | None:
        from studio_gql.schema.webhooks import Webhook

        rows = await info.context.loaders.webhooks.load(uuid.UUID(str(self.id)))
        return [Webhook.from_model(row) for row in rows or []]

    @strawberry.field(description="Cron schedules that start this workflow, oldest first.")
    async def schedules(self, info: Info) -> list[Annotated[Schedule, strawberry.lazy("studio_gql.schema.schedules")]]:
        from studio_gql.schema.schedules import schedules_of

        return await schedules_of(info, uuid.UUID(str(self.id)))

    @strawberry.field(
        description="Pinned node outputs on the draft (test runs and test steps use them instead of running the "
        "node), by node id."
    )
    async def pins(self, info: Info) -> list[Annotated[NodePin, strawberry.lazy("studio_gql.schema.testing")]]:
        from studio_gql.schema.testing import pins_of

        return await pins_of(info, uuid.UUID(str(self.id)))

    @strawberry.field(description="The newest published version, or null before the first publish.")
    async def latest_version(self, info: Info) -> WorkflowVersion | None:
        row = await info.context.loaders.latest_version.load(parse_id(self.id))  # type: ignore[arg-type]
        return WorkflowVersion.from_model(row) if row else None

    @strawberry.field(description="A published version by number, or null.")
    async def version(self, info: Info, version: int) -> WorkflowVersion | None:
        async with info.context.state.reads() as s:
            row = await store.get_version(s, info.context.tenant_id, parse_id(self.id), version)  # type: ignore[arg-type]
        return WorkflowVersion.from_model(row) if row else None

    @strawberry.field(description="Published versions, newest first.")
    async def versions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WorkflowVersion]:
        async with info.context.state.reads() as s:
            page = await store.list_versions(s, info.context.tenant_id, parse_id(self.id), first, after)  # type: ignore[arg-type]
        return connection(page, WorkflowVersion.from_model)


_PROBLEMS = (
    "What the saved definition's checks found that did not block this mutation: errors in templates and their "
    "references (a draft may be saved with them; they block publishing) and warnings. Empty when `errors` is not."
)


@strawberry.type
class WorkflowPayload:
    workflow: Workflow | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    problems: list[UserError] = strawberry.field(default_factory=list, description=_PROBLEMS)


@strawberry.type
class WorkflowVersionPayload:
    version: WorkflowVersion | None = None
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why nothing was published: for an invalid draft, every error (templates included).",
    )
    problems: list[UserError] = strawberry.field(
        default_factory=list, description="The published definition's warnings (they never block)."
    )


@strawberry.input(description="A new workflow; the definition is validated before anything is saved.")
class CreateWorkflowInput:
    name: str
    description: str | None = None
    definition: JSON


@strawberry.input(description="Changes to the draft; omitted fields stay as they are.")
class UpdateWorkflowInput:
    name: str | None = None
    description: str | None = None
    definition: JSON | None = None
    expected_revision: int | None = strawberry.field(
        default=None, description="The revision you edited; a newer draft on the server makes this a CONFLICT."
    )


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Workflows of your tenant, newest first.", extensions=needs(Permission.WORKFLOW_READ))
    async def workflows(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        include_archived: bool = False,
    ) -> Connection[Workflow]:
        async with info.context.state.reads() as s:
            page = await store.list_workflows(
                s, info.context.tenant_id, first=first, after=after, search=search, include_archived=include_archived
            )
        for row in page.items:
            info.context.loaders.workflow.prime(row.id, row)
        return connection(page, Workflow.from_model)

    @strawberry.field(description="A workflow by id, or null.", extensions=needs(Permission.WORKFLOW_READ))
    async def workflow(self, info: Info, id: strawberry.ID) -> Workflow | None:
        key = parse_id(id)
        row = await info.context.loaders.workflow.load(key) if key else None
        return Workflow.from_model(row) if row else None


def _workflow_errors(errors: list[UserError]) -> WorkflowPayload:
    return WorkflowPayload(errors=errors)


def _error_workflow_id(value: strawberry.ID) -> uuid.UUID:
    """A malformed error workflow id reads exactly like an unknown one."""
    parsed = parse_id(value)
    if parsed is None:
        raise ValidationFailed.one(["errorWorkflowId"], f"workflow {str(value)!r} not found", "NOT_FOUND")
    return parsed


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(
        description="Create a workflow with a validated draft.", extensions=needs(Permission.WORKFLOW_WRITE)
    )
    @payload(_workflow_errors)
    async def create_workflow(self, info: Info, input: CreateWorkflowInput) -> WorkflowPayload:
        ctx = info.context
        found: list[Problem] = []
        async with ctx.state.sessions.begin() as s:
            row = await store.create(
                s,
                ctx.tenant_id,
                ctx.require_principal(),
                ctx.state.registry,
                name=input.name,
                description=input.description,
                definition=input.definition,
                found=found,
            )
        return WorkflowPayload(workflow=Workflow.from_model(row), problems=[UserError.from_problem(p) for p in found])

    @strawberry.mutation(description="Edit the draft.", extensions=needs(Permission.WORKFLOW_WRITE))
    @payload(_workflow_errors)
    async def update_workflow(self, info: Info, id: strawberry.ID, input: UpdateWorkflowInput) -> WorkflowPayload:
        ctx = info.context
        found: list[Problem] = []
        async with ctx.state.sessions.begin() as s:
            row = await store.update(
                s,
                ctx.tenant_id,
                ctx.require_principal(),
                ctx.state.registry,
                require_id(id, "workflow"),
                name=input.name,
                description=input.description,
                definition=input.definition,
                expected_revision=input.expected_revision,
                found=found,
            )
        return WorkflowPayload(workflow=Workflow.from_model(row), problems=[UserError.from_problem(p) for p in found])

    @strawberry.mutation(
        description="Validate the draft and publish it as the next immutable version.",
        extensions=needs(Permission.WORKFLOW_PUBLISH),
    )
    @payload(lambda errors: WorkflowVersionPayload(errors=errors))
    async def publish_workflow(self, info: Info, id: strawberry.ID, note: str | None = None) -> WorkflowVersionPayload:
        ctx = info.context
        found: list[Problem] = []
        async with ctx.state.sessions.begin() as s:
            row = await store.publish(
                s, ctx.tenant_id, ctx.require_principal(), ctx.state.registry, require_id(id, "workflow"), note, found
            )
        return WorkflowVersionPayload(
            version=WorkflowVersion.from_model(row), problems=[UserError.from_problem(p) for p in found]
        )

    @strawberry.mutation(
        description="Name the workflow's error workflow (null: none of its own, the tenant's default applies): when a "
        "live top-level run of it fails (a step's timeout included), the error workflow's latest published version "
        "starts once with the failed run as its input (trigger `error`). A workflow of another tenant reads as "
        "unknown (NOT_FOUND under errorWorkflowId); an archived one is refused. Runs of the error workflow never "
        "start an error workflow themselves, so a workflow may name itself.",
        extensions=needs(Permission.WORKFLOW_WRITE),
    )
    @payload(_workflow_errors)
    async def set_error_workflow(
        self, info: Info, workflow_id: strawberry.ID, error_workflow_id: strawberry.ID | None = None
    ) -> WorkflowPayload:
        ctx = info.context
        target = None if error_workflow_id is None else _error_workflow_id(error_workflow_id)
        async with ctx.state.sessions.begin() as s:
            row = await store.set_error_workflow(
                s, ctx.tenant_id, ctx.require_principal(), require_id(workflow_id, "workflow"), target
            )
        return WorkflowPayload(workflow=Workflow.from_model(row))

    @strawberry.mutation(
        description="Set the tenant's default error workflow (null: none), started for failed live top-level runs of "
        "workflows that name no error workflow of their own. ADMIN (tenant:manage).",
        extensions=needs(Permission.TENANT_MANAGE),
    )
    @payload(lambda errors: TenantPayload(errors=errors))
    async def set_default_error_workflow(
        self, info: Info, error_workflow_id: strawberry.ID | None = None
    ) -> TenantPayload:
        ctx = info.context
        target = None if error_workflow_id is None else _error_workflow_id(error_workflow_id)
        async with ctx.state.sessions.begin() as s:
            row = await store.set_default_error_workflow(s, ctx.tenant_id, ctx.require_principal(), target)
        return TenantPayload(tenant=Tenant.from_model(row))

    @strawberry.mutation(
        description="Archive a workflow: it leaves the default list and can no longer be edited, published or "
        "tested; its unfinished test runs are cancelled (its live runs finish as they would).",
        extensions=needs(Permission.WORKFLOW_WRITE),
    )
    @payload(_workflow_errors)
    async def archive_workflow(self, info: Info, id: strawberry.ID) -> WorkflowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.state.sessions.begin() as s:
            row = await store.archive(s, ctx.tenant_id, principal, require_id(id, "workflow"))
            tests = await runs_store.live_test_runs(s, ctx.tenant_id, row.id)
        for run_id in tests:  # after the commit: no new test can start, so none is left behind
            try:
                await ctx.state.control.cancel_run(ctx.tenant_id, principal, run_id)
            except Conflict:
                continue  # it finished meanwhile
        return WorkflowPayload(workflow=Workflow.from_model(row))
