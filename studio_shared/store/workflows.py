"""Workflows (a mutable draft) and their published, immutable versions."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import Principal
from studio_shared.authoring import SHAPE_CODES, TEMPLATE_CODES
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.definition import validate_definition
from studio_shared.errors import ERROR, Conflict, NotFound, Problem, ValidationFailed
from studio_shared.schemas import NodeRegistry
from studio_shared.store import audit
from studio_shared.store.pagination import Page, keyset, paged

MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_NOTE = 2_000


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed.one(["name"], f"a workflow name has 1 to {MAX_NAME} characters", "INVALID_LENGTH")
    return name


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationFailed.one(["description"], f"keep the description under {MAX_DESCRIPTION} characters")
    return description


def check_definition(
    definition: Any,
    registry: NodeRegistry,
    *,
    publishing: bool = False,
    testing: bool = False,
    found: list[Problem] | None = None,
) -> dict[str, Any]:
    """The definition when it may be saved (publishing: published; testing: run as a test); ValidationFailed with
    the errors otherwise.

    A draft may be saved with errors in its templates and their references (``authoring.TEMPLATE_CODES``): drafts
    may be broken while they are worked on. Those, and every warning, are appended to ``found`` so the caller can
    show them with the saved draft. Publishing refuses every error; a test run every error but a field missing
    from a declared shape (``authoring.SHAPE_CODES``); warnings never block.
    """
    problems: list[Problem] = validate_definition(definition, registry)
    errors = [p for p in problems if p.severity == ERROR]
    if publishing and errors:
        raise ValidationFailed(errors)
    if testing and (refused := [p for p in errors if p.code not in SHAPE_CODES]):
        raise ValidationFailed(refused)
    blocking = [p for p in errors if p.code not in TEMPLATE_CODES]
    if blocking:
        raise ValidationFailed(blocking)
    if not isinstance(definition, dict):  # validate_definition reports this already; this line is for the types
        raise ValidationFailed.one([], "a definition is a JSON object with nodes and edges")
    if found is not None:
        found.extend(problems)
    return definition


async def create(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    *,
    name: str,
    description: str | None,
    definition: Any,
    found: list[Problem] | None = None,
    workflow_id: uuid.UUID | None = None,
) -> models.Workflow:
    """A new workflow; ``found`` receives what the draft's checks found that does not block saving. ``workflow_id``:
    an id chosen beforehand (an import names new workflows in each other's definitions)."""
    workflow = models.Workflow(
        id=workflow_id or uuid.uuid4(),
        tenant_id=tenant_id,
        name=_check_name(name),
        description=_check_description(description),
        draft=check_definition(definition, registry, found=found),
        created_by=actor.user_id,
    )
    s.add(workflow)
    await s.flush()
    audit.record(s, tenant_id, actor.actor, "workflow.create", ("workflow", workflow.id), {"name": workflow.name})
    return workflow


async def get(s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> models.Workflow | None:
    return await s.scalar(
        sa.select(models.Workflow).where(models.Workflow.tenant_id == tenant_id, models.Workflow.id == workflow_id)
    )


async def by_ids(s: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[models.Workflow]:
    rows = await s.scalars(
        sa.select(models.Workflow).where(models.Workflow.tenant_id == tenant_id, models.Workflow.id.in_(ids))
    )
    return list(rows)


async def require(s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> models.Workflow:
    workflow = await get(s, tenant_id, workflow_id)
    if workflow is None:
        raise NotFound("workflow", workflow_id)
    return workflow


async def update(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    workflow_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: Any = None,
    expected_revision: int | None = None,
    found: list[Problem] | None = None,
) -> models.Workflow:
    """Edit the draft. With ``expected_revision``, a draft changed since the caller read it is a Conflict.

    ``found`` receives what the new definition's checks found that does not block saving (see check_definition).
    """
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _check_name(name)
    if description is not None:
        values["description"] = _check_description(description)
    if definition is not None:
        values["draft"] = check_definition(definition, registry, found=found)
    conditions = [
        models.Workflow.tenant_id == tenant_id,
        models.Workflow.id == workflow_id,
        models.Workflow.archived.is_(False),
    ]
    if expected_revision is not None:
        conditions.append(models.Workflow.revision == expected_revision)
    stmt = (
        sa.update(models.Workflow)
        .where(*conditions)
        .values(**values, revision=models.Workflow.revision + 1, updated_at=utcnow())
        .returning(models.Workflow)
        .execution_options(synchronize_session=False)
    )
    updated = (await s.scalars(stmt)).one_or_none()
    if updated is None:
        current = await require(s, tenant_id, workflow_id)
        if current.archived:
            raise Conflict("the workflow is archived and can no longer be edited", ["id"])
        raise Conflict(
            f"the draft changed since you loaded it (now revision {current.revision}, you sent {expected_revision}):"
            " reload it and apply your edit again",
            ["expectedRevision"],
        )
    await s.refresh(updated)
    audit.record(s, tenant_id, actor.actor, "workflow.update", ("workflow", workflow_id), {"fields": sorted(values)})
    return updated


async def publish(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    workflow_id: uuid.UUID,
    note: str | None,
    found: list[Problem] | None = None,
) -> models.WorkflowVersion:
    """Validate the draft and snapshot it as the next immutable version (any error refuses; ``found`` receives
    the warnings)."""
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed.one(["note"], f"keep the note under {MAX_NOTE} characters")
    workflow = await require(s, tenant_id, workflow_id)
    if workflow.archived:
        raise Conflict("the workflow is archived and can no longer be published", ["id"])
    definition = check_definition(workflow.draft, registry, publishing=True, found=found)
    latest = await s.scalar(
        sa.select(sa.func.max(models.WorkflowVersion.version)).where(
            models.WorkflowVersion.tenant_id == tenant_id,
            models.WorkflowVersion.workflow_id == workflow_id,
            models.WorkflowVersion.test.is_(False),
        )
    )
    version = models.WorkflowVersion(
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        version=(latest or 0) + 1,
        definition=definition,
        note=note,
        published_by=actor.user_id,
    )
    try:
        async with s.begin_nested():
            s.add(version)
            await s.flush()
    except IntegrityError as exc:
        raise Conflict("another publish of this workflow happened at the same moment: publish again") from exc
    audit.record(s, tenant_id, actor.actor, "workflow.publish", ("workflow", workflow_id), {"version": version.version})
    return version


async def archive(s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, workflow_id: uuid.UUID) -> models.Workflow:
    workflow = await require(s, tenant_id, workflow_id)
    if not workflow.archived:
        workflow.archived = True
        workflow.updated_at = utcnow()
        audit.record(s, tenant_id, actor.actor, "workflow.archive", ("workflow", workflow_id))
        await s.flush()
    return workflow


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_workflows(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    first: int | None,
    after: str | None,
    search: str | None = None,
    include_archived: bool = False,
) -> Page[models.Workflow]:
    stmt = sa.select(models.Workflow).where(models.Workflow.tenant_id == tenant_id)
    if not include_archived:
        stmt = stmt.where(models.Workflow.archived.is_(False))
    if search and search.strip():
        pattern = f"%{_escape_like(search.strip().lower())}%"
        stmt = stmt.where(sa.func.lower(models.Workflow.name).like(pattern, escape="\\"))
    stmt, size = keyset(stmt, models.Workflow.created_at, models.Workflow.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)


async def list_versions(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, first: int | None, after: str | None
) -> Page[models.WorkflowVersion]:
    stmt = sa.select(models.WorkflowVersion).where(
        models.WorkflowVersion.tenant_id == tenant_id,
        models.WorkflowVersion.workflow_id == workflow_id,
        models.WorkflowVersion.test.is_(False),
    )
    stmt, size = keyset(stmt, models.WorkflowVersion.published_at, models.WorkflowVersion.id, first, after)
    return paged((await s.scalars(stmt)).all(), size)


async def get_version(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, version: int | None
) -> models.WorkflowVersion | None:
    """A published version by number, or the latest published one when ``version`` is None."""
    stmt = sa.select(models.WorkflowVersion).where(
        models.WorkflowVersion.tenant_id == tenant_id,
        models.WorkflowVersion.workflow_id == workflow_id,
        models.WorkflowVersion.test.is_(False),
    )
    if version is None:
        stmt = stmt.order_by(models.WorkflowVersion.version.desc()).limit(1)
    else:
        stmt = stmt.where(models.WorkflowVersion.version == version)
    return await s.scalar(stmt)


async def latest_versions(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_ids: list[uuid.UUID]
) -> dict[uuid.UUID, models.WorkflowVersion]:
    """The newest version of each workflow, in one statement (the DataLoader behind ``latestVersion``)."""
    v = models.WorkflowVersion
    newest = (
        sa.select(v.workflow_id, sa.func.max(v.version).label("version"))
        .where(v.tenant_id == tenant_id, v.workflow_id.in_(workflow_ids), v.test.is_(False))
        .group_by(v.workflow_id)
        .subquery()
    )
    rows = await s.scalars(
        sa.select(v)
        .join(newest, sa.and_(v.workflow_id == newest.c.workflow_id, v.version == newest.c.version))
        .where(v.tenant_id == tenant_id, v.test.is_(False))
    )
    return {row.workflow_id: row for row in rows}


async def _error_target(s: AsyncSession, tenant_id: uuid.UUID, target_id: uuid.UUID | None) -> None:
    """An error workflow must be a workflow of this tenant that is not archived (another tenant's id reads as
    unknown, exactly like an id that names nothing)."""
    if target_id is None:
        return
    target = await get(s, tenant_id, target_id)
    if target is None:
        raise ValidationFailed.one(["errorWorkflowId"], f"workflow {str(target_id)!r} not found", "NOT_FOUND")
    if target.archived:
        raise Conflict("the error workflow is archived; it can no longer start runs", ["errorWorkflowId"])


async def set_error_workflow(
    s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, workflow_id: uuid.UUID, error_workflow_id: uuid.UUID | None
) -> models.Workflow:
    """Name the workflow started when a live top-level run of this one fails (None: the tenant's default). A workflow
    may name itself: an error run never starts an error workflow, so no chain of them can loop."""
    workflow = await require(s, tenant_id, workflow_id)
    if workflow.archived and error_workflow_id is not None:
        raise Conflict("the workflow is archived; it can no longer be edited", ["workflowId"])
    await _error_target(s, tenant_id, error_workflow_id)
    if workflow.error_workflow_id != error_workflow_id:
        workflow.error_workflow_id = error_workflow_id
        workflow.updated_at = utcnow()
        audit.record(
            s,
            tenant_id,
            actor.actor,
            "workflow.error_workflow",
            ("workflow", workflow_id),
            {"error_workflow": str(error_workflow_id) if error_workflow_id else None},
        )
        await s.flush()
    return workflow


async def set_default_error_workflow(
    s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, error_workflow_id: uuid.UUID | None
) -> models.Tenant:
    """The tenant's default error workflow, for workflows that name none (None: no default)."""
    tenant = await s.get(models.Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    await _error_target(s, tenant_id, error_workflow_id)
    if tenant.default_error_workflow_id != error_workflow_id:
        tenant.default_error_workflow_id = error_workflow_id
        audit.record(
            s,
            tenant_id,
            actor.actor,
            "tenant.default_error_workflow",
            ("tenant", tenant_id),
            {"error_workflow": str(error_workflow_id) if error_workflow_id else None},
        )
        await s.flush()
    return tenant
