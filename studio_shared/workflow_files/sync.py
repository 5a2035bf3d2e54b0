"""Export a tenant's workflows as files, and import files into a tenant in one transaction: every file applies, or
nothing does. Built on the workflow, webhook and schedule stores, so the checks are theirs (one validator)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from studio_shared.auth import Principal
from studio_shared.crypto import SecretBox
from studio_shared.db import models
from studio_shared.errors import ERROR, WARNING, Conflict, Problem, StudioError, ValidationFailed
from studio_shared.schemas import CompiledSchema, NodeRegistry
from studio_shared.store import schedules as schedules_store
from studio_shared.store import webhooks as webhooks_store
from studio_shared.store import workflows as workflows_store
from studio_shared.types import WebhookAuth
from studio_shared.workflow_files import format as fmt
from studio_shared.workflow_files import yamlio

Action = Literal["created", "updated", "unchanged", "invalid"]


@dataclass(frozen=True, slots=True)
class OperatorPrincipal(Principal):
    """The `studio` command working on the database directly: audit entries name it."""

    label: str = "cli"

    @property
    def actor(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class ExportedFile:
    file_name: str
    workflow_name: str
    text: str


@dataclass
class FileResult:
    """What importing one file does (or would do): the problems that stop it, or the changes it makes."""

    file: str
    name: str | None = None
    action: Action = "unchanged"
    changes: list[str] = field(default_factory=list)
    published: int | None = None
    problems: list[Problem] = field(default_factory=list)  # errors: the import applies nothing
    warnings: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    files: list[FileResult]
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not any(result.problems for result in self.files)


def _file_validator() -> CompiledSchema:
    global _COMPILED  # compiled once, on first use
    if _COMPILED is None:
        _COMPILED = CompiledSchema(fmt.file_schema(), "workflow-file.schema.json")
    return _COMPILED


_COMPILED: CompiledSchema | None = None


def _webhook_entry(hook: models.Webhook) -> dict[str, Any]:
    return {
        "auth": hook.auth.value,
        "enabled": hook.enabled,
        "rate_limit_per_minute": hook.rate_limit_per_minute,
        "replay_window_s": hook.replay_window_s,
    }


def _schedule_entry(row: models.Schedule) -> dict[str, Any]:
    return {key: getattr(row, key) for key in fmt.SCHEDULE_DEFAULTS}


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _names_for_ids(definition: dict[str, Any], registry: NodeRegistry, names: Mapping[uuid.UUID, str]) -> Any:
    """The definition with every sub-workflow id of this tenant replaced by that workflow's name."""
    for path in fmt.workflow_refs(definition, registry):
        workflow_id = _uuid(fmt.get_at(definition, path))
        if workflow_id is not None and workflow_id in names:
            definition = fmt.replaced(definition, path, names[workflow_id])
    return definition


class _Tenant:
    """The tenant's workflows and what hangs off them, read once."""

    def __init__(self, rows: list[models.Workflow]) -> None:
        self.rows = rows
        self.names = {row.id: row.name for row in rows}
        self.live: dict[str, list[models.Workflow]] = {}
        for row in rows:
            if not row.archived:
                self.live.setdefault(row.name, []).append(row)
        self.hooks: dict[uuid.UUID, list[models.Webhook]] = {}
        self.schedules: dict[uuid.UUID, list[models.Schedule]] = {}
        self.notes: dict[uuid.UUID, str | None] = {}
        self.published: dict[uuid.UUID, dict[str, Any]] = {}
        self.credentials: set[str] = set()

    @classmethod
    async def read(cls, s: AsyncSession, tenant_id: uuid.UUID) -> _Tenant:
        rows = await s.scalars(
            sa.select(models.Workflow)
            .where(models.Workflow.tenant_id == tenant_id)
            .order_by(models.Workflow.name, models.Workflow.created_at, models.Workflow.id)
        )
        tenant = cls(list(rows))
        ids = [row.id for row in tenant.rows if not row.archived]
        tenant.hooks = await webhooks_store.of_workflows(s, tenant_id, ids)
        tenant.schedules = await schedules_store.of_workflows(s, tenant_id, ids)
        names = sa.select(models.Credential.name).where(models.Credential.tenant_id == tenant_id)
        tenant.credentials = set(await s.scalars(names))
        for workflow_id, version in (await workflows_store.latest_versions(s, tenant_id, ids)).items():
            tenant.notes[workflow_id] = version.note
            tenant.published[workflow_id] = version.definition
        return tenant

    def document(self, row: models.Workflow, registry: NodeRegistry) -> dict[str, Any]:
        error_workflow = self.names.get(row.error_workflow_id) if row.error_workflow_id else None
        return fmt.document(
            name=row.name,
            description=row.description,
            note=self.notes.get(row.id),
            error_workflow=error_workflow,
            webhooks=[_webhook_entry(hook) for hook in self.hooks.get(row.id, [])],
            schedules=[_schedule_entry(x) for x in self.schedules.get(row.id, [])],
            definition=_names_for_ids(row.draft, registry, self.names),
        )


async def export_workflows(
    s: AsyncSession, tenant_id: uuid.UUID, registry: NodeRegistry, *, header: str = ""
) -> list[ExportedFile]:
    """Every workflow of the tenant that is not archived, one YAML text each, in file name order. Conflict when
    two of them share a name: a file names its workflow by name."""
    tenant = await _Tenant.read(s, tenant_id)
    twice = sorted(name for name, rows in tenant.live.items() if len(rows) > 1)
    if twice:
        raise Conflict(
            f"several workflows are named {', '.join(repr(n) for n in twice)}: rename all but one of each, since a "
            "workflow file names its workflow (and sub-workflows) by name",
            ["name"],
        )
    out: list[ExportedFile] = []
    taken: set[str] = set()
    for name, (row,) in sorted(tenant.live.items()):
        stem = fmt.file_slug(name)
        file_name, n = f"{stem}.yaml", 1
        while file_name in taken:
            n += 1
            file_name = f"{stem}_{n}.yaml"
        taken.add(file_name)
        out.append(ExportedFile(file_name, name, yamlio.dump(tenant.document(row, registry), header)))
    return sorted(out, key=lambda f: f.file_name)


@dataclass
class _Planned:
    result: FileResult
    doc: dict[str, Any]  # canonical
    definition: dict[str, Any] = field(default_factory=dict)  # as stored: ids, positions
    error_workflow_id: uuid.UUID | None = None
    row: models.Workflow | None = None
    new_id: uuid.UUID | None = None


def _prefixed(exc: StudioError, prefix: tuple[str, ...], rename: bool = False) -> list[Problem]:
    def part(p: str) -> str:
        return re.sub(r"([A-Z])", r"_\1", p).lower() if rename else p

    if isinstance(exc, ValidationFailed):
        found = [Problem((*prefix, *(part(x) for x in p.path[rename:])), p.message, p.code) for p in exc.problems]
        return found or [Problem(prefix, str(exc), exc.code)]
    path = tuple(getattr(exc, "path", ()))
    return [Problem((*prefix, *(part(x) for x in path[rename:])), str(exc), exc.code)]


def _parse(file_name: str, data: bytes) -> tuple[FileResult, dict[str, Any] | None]:
    result = FileResult(file_name)
    doc, result.problems = yamlio.load(data)
    if result.problems:
        return result, None
    if not isinstance(doc, dict):
        result.problems = [Problem((), "a workflow file holds a mapping (format, name, definition, …)", "INVALID_TYPE")]
        return result, None
    if isinstance(doc.get("name"), str):
        result.name = doc["name"].strip()
    result.problems = _file_validator().problems(doc)
    if not result.problems:
        _, result.problems = fmt.merge_layout(doc["definition"], doc.get("layout"))
    return result, (None if result.problems else fmt.canonical(doc))


def _resolve(name: str, targets: Mapping[str, uuid.UUID], ids: set[uuid.UUID]) -> uuid.UUID | None:
    if name in targets:
        return targets[name]
    as_id = _uuid(name)
    return as_id if as_id in ids else None


def _missing(value: str) -> str:
    return (
        f"no workflow named {value!r} in this tenant or among the imported files: import its file in the same step, "
        "or create it first (workflows are named, never copied by id, across tenants)"
    )


async def import_files(
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    files: Mapping[str, bytes],
    *,
    publish: bool = False,
    note: str | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Apply ``files`` (file name -> content) to the tenant in one transaction, which is committed only when every
    file applied without a problem and not ``dry_run``. With ``publish``, each workflow whose draft differs from its
    newest published version (or has none) is published with ``note`` or its file's note."""
    planned: list[_Planned] = []
    report = ImportReport([])
    for file_name in sorted(files):
        result, doc = _parse(file_name, files[file_name])
        report.files.append(result)
        if doc is not None:
            planned.append(_Planned(result, doc))
    by_name: dict[str, list[str]] = {}
    for item in planned:
        by_name.setdefault(item.doc["name"], []).append(item.result.file)
    for item in planned:
        others = [f for f in by_name[item.doc["name"]] if f != item.result.file]
        if others:
            message = f"the workflow {item.doc['name']!r} is also in {', '.join(others)}: one file per workflow"
            item.result.problems.append(Problem(("name",), message, "DUPLICATE_NAME"))
    async with sessions() as s:
        tenant = await _Tenant.read(s, tenant_id)
        await _plan(tenant, planned, registry)
        live = [item for item in planned if not item.result.problems]
        await _apply_drafts(s, tenant_id, actor, registry, live)
        if publish:
            await _publish(s, tenant_id, actor, registry, tenant, live, note)
        await _apply_settings(s, box, tenant_id, actor, registry, tenant, live)
        for result in report.files:
            if result.problems:
                result.action = "invalid"
        report.applied = report.ok and not dry_run
        if report.applied:
            await s.commit()
        else:
            await s.rollback()
    return report


async def _plan(tenant: _Tenant, planned: list[_Planned], registry: NodeRegistry) -> None:
    """Match each file to its workflow, see what changes, and resolve the names of other workflows into ids."""
    archived: dict[str, list[uuid.UUID]] = {}
    for row in tenant.rows:
        if row.archived:
            archived.setdefault(row.name, []).append(row.id)
    # A name finds the live workflow of that name, else an archived one (as a stored draft may still name it).
    targets = {name: ids[0] for name, ids in archived.items() if len(ids) == 1}
    targets.update({name: rows[0].id for name, rows in tenant.live.items() if len(rows) == 1})
    for item in planned:
        rows = tenant.live.get(item.doc["name"], [])
        if len(rows) > 1:
            message = f"{len(rows)} workflows of this tenant are named {item.doc['name']!r}: rename all but one"
            item.result.problems.append(Problem(("name",), message, "AMBIGUOUS_NAME"))
        elif rows:
            item.row = rows[0]
        else:
            item.new_id = uuid.uuid4()
            targets[item.doc["name"]] = item.new_id
    ids = {row.id for row in tenant.rows}
    for item in planned:
        if item.result.problems:
            continue
        doc = item.doc
        if item.row is None:
            item.result.action, item.result.changes = "created", ["workflow"]
        else:
            current = tenant.document(item.row, registry)
            for part in ("description", "settings", "triggers"):
                if doc.get(part) != current.get(part):
                    item.result.changes.append(part)
            if (doc["definition"], doc.get("layout")) != (current["definition"], current.get("layout")):
                item.result.changes.insert(0, "definition")
            item.result.action = "updated" if item.result.changes else "unchanged"
        definition, _ = fmt.merge_layout(doc["definition"], doc.get("layout"))
        for path in fmt.workflow_refs(definition, registry):
            value = fmt.get_at(definition, path)
            target = _resolve(value, targets, ids)
            if target is None:
                item.result.problems.append(Problem(("definition", *path), _missing(value), "UNKNOWN_WORKFLOW"))
            else:
                definition = fmt.replaced(definition, path, str(target))
        item.definition = definition
        for path in fmt.workflow_refs(definition, registry, "credential"):
            name = fmt.get_at(definition, path)
            if name not in tenant.credentials:
                message = f"this tenant has no credential {name!r} yet: create it before a run needs it"
                item.result.warnings.append(Problem(("definition", *path), message, "UNKNOWN_CREDENTIAL", WARNING))
        error_workflow = (doc.get("settings") or {}).get("error_workflow")
        if error_workflow is not None:
            item.error_workflow_id = _resolve(error_workflow, targets, ids)
            if item.error_workflow_id is None:
                path = ("settings", "error_workflow")
                item.result.problems.append(Problem(path, _missing(error_workflow), "UNKNOWN_WORKFLOW"))


async def _apply_drafts(
    s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, registry: NodeRegistry, planned: list[_Planned]
) -> None:
    for item in planned:
        found: list[Problem] = []
        doc = item.doc
        try:
            async with s.begin_nested():
                if item.row is None:
                    item.row = await workflows_store.create(
                        s,
                        tenant_id,
                        actor,
                        registry,
                        name=doc["name"],
                        description=doc.get("description"),
                        definition=item.definition,
                        found=found,
                        workflow_id=item.new_id,
                    )
                elif {"definition", "description"} & set(item.result.changes):
                    item.row = await workflows_store.update(
                        s,
                        tenant_id,
                        actor,
                        registry,
                        item.row.id,
                        description=doc.get("description") or "",
                        definition=item.definition,
                        expected_revision=item.row.revision,  # an edit made since the plan read it is a conflict
                        found=found,
                    )
                else:
                    workflows_store.check_definition(item.definition, registry, found=found)
        except StudioError as exc:
            item.result.problems.extend(_prefixed(exc, ("definition",)))
            continue
        item.result.warnings.extend(Problem(("definition", *p.path), p.message, p.code, p.severity) for p in found)


async def _publish(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    tenant: _Tenant,
    planned: list[_Planned],
    note: str | None,
) -> None:
    for item in planned:
        if item.result.problems or item.row is None:
            continue
        if tenant.published.get(item.row.id) == item.row.draft:
            continue  # its newest version is this draft already
        try:
            version = await workflows_store.publish(
                s, tenant_id, actor, registry, item.row.id, note if note is not None else item.doc.get("note")
            )
        except StudioError as exc:
            problems = _prefixed(exc, ("definition",))
            item.result.problems.extend(p for p in problems if p.severity == ERROR)
            continue
        item.result.published = version.version
        if item.result.action == "unchanged":
            item.result.action = "updated"
        item.result.changes.append(f"published version {version.version}")


async def _apply_settings(
    s: AsyncSession,
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    tenant: _Tenant,
    planned: list[_Planned],
) -> None:
    for item in planned:
        row = item.row
        if item.result.problems or row is None:
            continue
        try:
            async with s.begin_nested():
                if row.error_workflow_id != item.error_workflow_id:
                    await workflows_store.set_error_workflow(s, tenant_id, actor, row.id, item.error_workflow_id)
        except StudioError as exc:
            item.result.problems.extend(_prefixed(exc, ("settings", "error_workflow")))
        triggers = item.doc.get("triggers") or {}
        await _sync_webhooks(
            s, box, tenant_id, actor, item, row.id, tenant.hooks.get(row.id, []), triggers.get("webhooks")
        )
        await _sync_schedules(
            s, tenant_id, actor, registry, item, row.id, tenant.schedules.get(row.id, []), triggers.get("schedules")
        )


def _pairs(
    current: list[Any], wanted: list[dict[str, Any]], entry: Any, same_kind: Any
) -> tuple[list[tuple[Any, dict[str, Any], int]], list[tuple[dict[str, Any], int]], list[Any]]:
    """(rows to update with their wanted entry and index, entries to create, rows to delete): identical ones are
    kept first, then rows of the same kind are reused, so that a webhook keeps its URL whenever it can."""
    left = list(current)
    todo: list[tuple[dict[str, Any], int]] = []
    for i, want in enumerate(wanted):
        same = next((row for row in left if entry(row) == want), None)
        if same is not None:
            left.remove(same)
        else:
            todo.append((want, i))
    updates: list[tuple[Any, dict[str, Any], int]] = []
    creates: list[tuple[dict[str, Any], int]] = []
    for want, i in todo:
        reuse = next((row for row in left if same_kind(row, want)), None)
        if reuse is not None:
            left.remove(reuse)
            updates.append((reuse, want, i))
        else:
            creates.append((want, i))
    return updates, creates, left


async def _sync_webhooks(
    s: AsyncSession,
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Principal,
    item: _Planned,
    workflow_id: uuid.UUID,
    current: list[models.Webhook],
    wanted: list[dict[str, Any]] | None,
) -> None:
    updates, creates, deletes = _pairs(
        current,
        wanted or [],
        lambda hook: fmt.canonical_webhook(_webhook_entry(hook)),
        lambda hook, want: hook.auth.value == want["auth"],
    )
    prefix: tuple[str, ...] = ("triggers", "webhooks")
    try:
        async with s.begin_nested():
            for hook, want, i in updates:
                prefix = ("triggers", "webhooks", str(i))
                await webhooks_store.update(
                    s,
                    tenant_id,
                    actor,
                    hook.id,
                    enabled=want["enabled"],
                    rate_limit_per_minute=want["rate_limit_per_minute"],
                    clear_rate_limit=want["rate_limit_per_minute"] is None,
                    replay_window_s=want["replay_window_s"] or 0,
                )
            for hook in deletes:
                await webhooks_store.delete(s, tenant_id, actor, hook.id)
                item.result.notices.append(f"webhook {hook.id} removed: its URL stops working")
            for want, i in creates:
                prefix = ("triggers", "webhooks", str(i))
                hook, _secret = await webhooks_store.create(
                    s,
                    box,
                    tenant_id,
                    actor,
                    workflow_id,
                    WebhookAuth(want["auth"]),
                    want["enabled"],
                    want["rate_limit_per_minute"],
                    want["replay_window_s"],
                )
                if hook.auth is not WebhookAuth.NONE:
                    how = "reveal its secret with rotateWebhookSecret (files never hold secrets)"
                    item.result.notices.append(f"webhook {hook.id} created: {how}")
                else:
                    item.result.notices.append(f"webhook {hook.id} created")
    except StudioError as exc:
        item.result.problems.extend(_prefixed(exc, prefix, rename=True))


async def _sync_schedules(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    registry: NodeRegistry,
    item: _Planned,
    workflow_id: uuid.UUID,
    current: list[models.Schedule],
    wanted: list[dict[str, Any]] | None,
) -> None:
    updates, creates, deletes = _pairs(
        current, wanted or [], lambda row: fmt.canonical_schedule(_schedule_entry(row)), lambda _row, _want: True
    )
    prefix: tuple[str, ...] = ("triggers", "schedules")
    try:
        async with s.begin_nested():
            for row in deletes:
                await schedules_store.delete(s, tenant_id, actor, row.id)
            for row, want, i in updates:
                prefix = ("triggers", "schedules", str(i))
                spec = schedules_store.ScheduleSpec(**want)
                await schedules_store.update(s, tenant_id, actor, registry, row.id, spec)
            for want, i in creates:
                prefix = ("triggers", "schedules", str(i))
                spec = schedules_store.ScheduleSpec(**want)
                await schedules_store.create(s, tenant_id, actor, registry, workflow_id, spec)
    except StudioError as exc:
        item.result.problems.extend(_prefixed(exc, prefix, rename=True))
