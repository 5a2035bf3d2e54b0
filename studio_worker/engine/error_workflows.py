"""Error workflows: what a failed live run starts, decided before its final batch is committed.

A live top-level run (not a test run, not a child run, not itself an error run) that ends FAILED (a step's timeout
fails its step with the error type ``Timeout``, and so the run) starts its workflow's error workflow, else the
tenant's default one: that workflow's latest published version, with the input ``error_input`` builds, trigger
``error``, idempotency key ``error:<failed run id>``. The run's rows are built here (``records.new_runs``) and
written in the failed run's final transaction (``records.error_runs``), or an event there says why none started: an
error workflow that no longer exists, is archived, has no published version or refuses the input, or a tenant at its
cap on live runs. Nothing here can fail the failed run's commit.

Admission: an error run must fit under the tenant's cap on live runs (checked in that transaction, as a start's own
transaction checks it), and it is created held, so the held-run dispatch gives it one of the tenant's concurrency
slots as it gives child runs theirs. It takes no turn of the start pace: the failed run it answers took one when it
started (every top-level live run is a start: startRun, a webhook, a message, a schedule, replayRun, retryRun), so
error runs come at most one per admitted start, and a final commit must not wait for a turn in Redis.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from studio_shared.db.jsondata import Encoded
from studio_shared.db.types import utcnow
from studio_shared.definition import check_run_input
from studio_shared.errors import ValidationFailed
from studio_worker.engine import records
from studio_worker.engine.records.error_runs import ERROR_TRIGGER, ErrorStart, error_key, error_setting, error_target
from studio_worker.engine.records.new_runs import new_run

if TYPE_CHECKING:
    from studio_shared.definition import Definition
    from studio_worker.engine.runtime import RunEngine

log = logging.getLogger("studio.engine.errors")


def answers_failure(run: Mapping[str, Any]) -> bool:
    """Does this run's failure start an error workflow? Live, top-level, and not an error run itself."""
    return (
        not run.get("test")
        and run.get("parent_run_id") is None
        and int(run.get("depth") or 0) == 0
        and run.get("trigger") != ERROR_TRIGGER
    )


def error_input(
    run: Mapping[str, Any],
    workflow_name: str,
    error: dict[str, Any] | None,
    failed_step: dict[str, Any] | None,
) -> dict[str, Any]:
    """The error run's input: ``{"failed_run": {...}}`` (README: Error workflows; error_input.schema.json)."""
    return {
        "failed_run": {
            "id": str(run["id"]),
            "workflow": {"id": str(run["workflow_id"]), "name": workflow_name},
            "version": run["version"],
            "status": "FAILED",
            "error": error,
            "failed_step": failed_step,
            "input": run.get("input"),
            "trigger": run.get("trigger"),
        }
    }


async def plan_error_start(
    engine: RunEngine,
    tenant_id: uuid.UUID,
    run: Mapping[str, Any],
    error: dict[str, Any] | None,
    failed_step: dict[str, Any] | None,
) -> ErrorStart | None:
    """The error run a failed run starts (its rows built, to be written with the final batch), or the reason it
    starts none; None when no error workflow applies (or the run is not one whose failure starts any)."""
    if not answers_failure(run):
        return None
    run_id: uuid.UUID = run["id"]
    async with engine.lone_reads.connect() as conn:
        name, target_id, source = await error_setting(conn, tenant_id, run["workflow_id"])
        if target_id is None:
            return None
        target = await error_target(conn, tenant_id, target_id)

    def refused(reason: str) -> ErrorStart:
        return ErrorStart(tenant_id, run_id, target_id, source, None, reason, engine.settings.max_live_runs_per_tenant)

    if target is None:
        return refused(f"the error workflow {target_id} no longer exists: choose another one")
    if target.archived:
        return refused(f"the error workflow {target.name!r} is archived: choose another one")
    if target.version_id is None:
        return refused(f"the error workflow {target.name!r} has no published version: publish it")
    definition = await _definition(engine, tenant_id, target.version_id)
    value = error_input(run, name, error, failed_step)
    try:
        check_run_input(definition, value)
    except ValidationFailed as exc:
        problem = exc.problems[0]
        return refused(
            f"the error input does not fit the input schema of the error workflow {target.name!r} at "
            f"{'.'.join(problem.path)}: {problem.message}"
        )
    new = new_run(
        tenant_id=tenant_id,
        workflow_id=target_id,
        version_id=target.version_id,
        version=target.version,
        definition=definition,
        input=value,
        trigger=ERROR_TRIGGER,
        trigger_data={"failed_run_id": str(run_id)},
        now=utcnow(),
        idempotency_key=error_key(run_id),
        created_by=f"run:{run_id}",
        started_by=run.get("started_by_user"),  # the failed run's person (self-approval of its tasks)
        held=True,  # the held-run dispatch gives it a free slot of the tenant, oldest first
    )
    return ErrorStart(tenant_id, run_id, target_id, source, new, None, engine.settings.max_live_runs_per_tenant)


async def _definition(engine: RunEngine, tenant_id: uuid.UUID, version_id: uuid.UUID) -> Definition:
    definition = engine.definitions.get(version_id)
    if definition is None:
        async with engine.lone_reads.connect() as conn:
            document = await records.load_definition(conn, tenant_id, version_id)
        definition = engine.definitions.remember(version_id, document)
    return definition


def plain(value: Any) -> Any:
    """A batch value as given (a JSON value the batch encoded already is read back)."""
    return value.value if type(value) is Encoded else value
