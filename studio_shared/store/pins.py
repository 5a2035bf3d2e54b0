"""Pinned node outputs on a workflow's draft, and the test snapshots that test runs of the draft execute.

A pin replaces a node's execution in test runs and test steps of the draft (never in a published run): its output
(copied from a run's step, or typed by hand) and the branches it takes. A test snapshot is an immutable
``workflow_versions`` row marked ``test``: the draft at one revision with the pins in effect then, so a test run is
reproducible and the engine runs it like any version. One snapshot serves every test run of the same (revision,
pins); its version number is negative and no published-version lookup sees it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.db.jsondata import NotStorable, encode
from studio_shared.db.types import utcnow
from studio_shared.errors import Conflict, NotFound, ValidationFailed
from studio_shared.schemas import NodeRegistry
from studio_shared.store import audit, runs
from studio_shared.store.workflows import check_definition, require
from studio_shared.types import StepStatus

MAX_PIN_BYTES = 1_000_000  # a pinned output, as stored JSON
MAX_BRANCH = 64
SOURCE_RUN, SOURCE_MANUAL = "run", "manual"


async def list_pins(s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> list[models.NodePin]:
    rows = await s.scalars(
        sa.select(models.NodePin)
        .where(models.NodePin.tenant_id == tenant_id, models.NodePin.workflow_id == workflow_id)
        .order_by(models.NodePin.node_id)
    )
    return list(rows)


def _draft_node(workflow: models.Workflow, node_id: str) -> dict[str, Any]:
    nodes = workflow.draft.get("nodes") if isinstance(workflow.draft, dict) else None
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict) and node.get("id") == node_id:
            return node
    raise ValidationFailed.one(["nodeId"], f"the draft has no node {node_id!r}", "NOT_FOUND")


def _outgoing_branches(workflow: models.Workflow, node_id: str) -> set[str]:
    edges = workflow.draft.get("edges") if isinstance(workflow.draft, dict) else None
    listed = edges if isinstance(edges, list) else []
    return {
        str(e["branch"])
        for e in listed
        if isinstance(e, dict) and e.get("source") == node_id and e.get("branch") is not None
    }


def derived_branches(node: dict[str, Any], output: Any) -> list[str] | None:
    """The branches a hand-typed output of a branching node takes, as the node itself would choose them; None when
    the output does not say (then the caller must name them)."""
    kind, config = node.get("type"), node.get("config") if isinstance(node.get("config"), dict) else {}
    if not isinstance(output, dict):
        return None
    if kind == "condition" and isinstance(output.get("result"), bool):
        return ["true" if output["result"] else "false"]
    if kind == "switch" and "value" in output:
        value = output["value"]
        key = ("true" if value else "false") if isinstance(value, bool) else None if value is None else str(value)
        cases = [str(case) for case in (config or {}).get("cases", [])]
        return [key if key in cases else "default"]
    if kind == "human.approval" and output.get("decision") in {"approved", "rejected"}:
        return [str(output["decision"])]
    if kind == "wait.event" and isinstance(output.get("received"), bool):
        return ["received" if output["received"] else "timeout"]
    return None


def _check_branches(
    workflow: models.Workflow, node: dict[str, Any], output: Any, branches: Sequence[str] | None
) -> list[str] | None:
    labelled = _outgoing_branches(workflow, str(node["id"]))
    if branches is None:
        found = derived_branches(node, output)
        if found is None and labelled:
            raise ValidationFailed.one(
                ["branches"],
                f"node {node['id']!r} branches ({', '.join(sorted(labelled))}): name the branches its pinned output "
                "takes",
            )
        return found
    if not all(isinstance(b, str) and 0 < len(b) <= MAX_BRANCH for b in branches) or len(branches) > 50:
        raise ValidationFailed.one(["branches"], f"branches are 1 to 50 names of 1 to {MAX_BRANCH} characters")
    return list(dict.fromkeys(branches))


def _check_output(output: Any) -> None:
    try:
        size = encode(output).size
    except NotStorable as exc:
        raise ValidationFailed.one(["output"], str(exc.at("output"))) from None
    if size > MAX_PIN_BYTES:
        raise ValidationFailed.one(
            ["output"], f"a pinned output is at most {MAX_PIN_BYTES} bytes of JSON (this one: {size})", "TOO_LARGE"
        )


async def pin(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    workflow_id: uuid.UUID,
    node_id: str,
    *,
    output: Any = None,
    branches: Sequence[str] | None = None,
    from_run_id: uuid.UUID | None = None,
) -> models.NodePin:
    """Pin a node's output on the draft (replacing its pin): the output of the node's step in ``from_run_id`` (a run
    of this workflow; another one reads as missing), or ``output`` as given."""
    workflow = await require(s, tenant_id, workflow_id)
    if workflow.archived:
        raise Conflict("the workflow is archived and can no longer be edited", ["workflowId"])
    node = _draft_node(workflow, node_id)
    source, source_run = SOURCE_MANUAL, None
    if from_run_id is not None:
        run = await runs.get(s, tenant_id, from_run_id)
        if run is None or run.workflow_id != workflow_id:
            raise NotFound("run", from_run_id)
        step = await runs.step_of(s, tenant_id, run.id, node_id)
        if step is None or step.status is not StepStatus.SUCCEEDED:
            state = "has no such step" if step is None else f"has step {node_id!r} {step.status.value}"
            raise ValidationFailed.one(
                ["fromRunId"], f"run {str(run.id)!r} {state}: pin the output of a step that succeeded", "NO_OUTPUT"
            )
        output = step.output
        source, source_run = SOURCE_RUN, run.id
        # The branches the step took (None: every outgoing edge), unless the caller names others.
        checked = step.branches if branches is None else _check_branches(workflow, node, output, branches)
    else:
        checked = _check_branches(workflow, node, output, branches)
    _check_output(output)
    row = await s.scalar(
        sa.select(models.NodePin).where(
            models.NodePin.tenant_id == tenant_id,
            models.NodePin.workflow_id == workflow_id,
            models.NodePin.node_id == node_id,
        )
    )
    now = utcnow()
    if row is None:
        row = models.NodePin(tenant_id=tenant_id, workflow_id=workflow_id, node_id=node_id, created_at=now)
        s.add(row)
    row.output, row.branches, row.source, row.source_run_id = output, checked, source, source_run
    row.created_by, row.updated_at = actor.user_id, now
    try:
        async with s.begin_nested():
            await s.flush()
    except IntegrityError as exc:  # a concurrent first pin of the same node
        raise Conflict(f"node {node_id!r} was pinned at the same moment: pin it again", ["nodeId"]) from exc
    audit.record(
        s, tenant_id, actor.actor, "workflow.pin", ("workflow", workflow_id), {"node": node_id, "source": source}
    )
    return row


async def unpin(
    s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, workflow_id: uuid.UUID, node_id: str
) -> models.NodePin | None:
    """Remove a node's pin, and return it; None when the node has none (a pin removed twice is removed). NotFound
    when the workflow is missing (or another tenant's)."""
    await require(s, tenant_id, workflow_id)
    row = await s.scalar(
        sa.select(models.NodePin).where(
            models.NodePin.tenant_id == tenant_id,
            models.NodePin.workflow_id == workflow_id,
            models.NodePin.node_id == node_id,
        )
    )
    if row is None:
        return None
    await s.delete(row)
    await s.flush()
    audit.record(s, tenant_id, actor.actor, "workflow.unpin", ("workflow", workflow_id), {"node": node_id})
    return row


def pins_document(workflow: models.Workflow, pins: Sequence[models.NodePin]) -> dict[str, Any]:
    """The pins in effect on the draft as a snapshot keeps them: {node_id: {output, branches}}, for nodes it has."""
    nodes = workflow.draft.get("nodes") if isinstance(workflow.draft, dict) else []
    ids = {n.get("id") for n in nodes or [] if isinstance(n, dict)}
    return {p.node_id: {"output": p.output, "branches": p.branches} for p in pins if p.node_id in ids}


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def snapshot_draft(
    s: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, registry: NodeRegistry, *, use_pins: bool = True
) -> models.WorkflowVersion:
    """The test snapshot of the draft as it is now (validated: an invalid draft is refused with its problems, as
    publish refuses it), taken once per (revision, pins) and reused."""
    workflow = await require(s, tenant_id, workflow_id)
    if workflow.archived:
        raise Conflict("the workflow is archived; it can no longer run tests", ["workflowId"])
    definition = check_definition(workflow.draft, registry, testing=True)
    pins = pins_document(workflow, await list_pins(s, tenant_id, workflow_id)) if use_pins else {}
    digest = _digest(pins)
    v = models.WorkflowVersion
    for _ in range(3):
        found = await s.scalar(
            sa.select(v)
            .where(
                v.tenant_id == tenant_id,
                v.workflow_id == workflow_id,
                v.test.is_(True),
                v.draft_revision == workflow.revision,
                v.pins_sha256 == digest,
            )
            .limit(1)
        )
        if found is not None:
            return found
        lowest = await s.scalar(
            sa.select(sa.func.min(v.version)).where(v.tenant_id == tenant_id, v.workflow_id == workflow_id)
        )
        snapshot = v(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            version=min(lowest or 0, 0) - 1,
            definition=definition,
            test=True,
            draft_revision=workflow.revision,
            pins=pins,
            pins_sha256=digest,
            note=f"test snapshot of draft revision {workflow.revision}",
        )
        try:
            async with s.begin_nested():
                s.add(snapshot)
                await s.flush()
        except IntegrityError:
            continue  # a concurrent test of this workflow took the number: look again (it may be our snapshot)
        return snapshot
    raise Conflict("many tests of this workflow started at the same moment: start the test again")
