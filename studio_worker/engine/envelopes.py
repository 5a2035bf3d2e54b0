"""The envelope every finished step stores (step_output.schema.json), built in one place for every final status:
SUCCEEDED and FAILED by the driver, SKIPPED by the planner's skips, CANCELLED wherever a run is cancelled or fails."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from studio_shared.types import StepStatus

CANCELLED = "Cancelled"  # the error type of a cancelled step's envelope


def envelope(
    run_id: uuid.UUID,
    step_id: str,
    node_type: str,
    status: StepStatus,
    *,
    attempt: int,
    started_at: datetime | None,
    finished_at: datetime,
    output: Any = None,
    error: dict[str, Any] | None = None,
    artifacts: Sequence[str] = (),
    logs: Sequence[str] = (),
) -> dict[str, Any]:
    """A finished step's envelope. ``attempt`` is the attempts made: at least 1 once the step ran (a step that failed
    before its first attempt counts one), 0 for a step that never ran (skipped, or cancelled before it started)."""
    ran = status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    return {
        "run_id": str(run_id),
        "step_id": step_id,
        "node_type": node_type,
        "status": status.value,
        "attempt": max(attempt, 1) if ran else max(attempt, 0),
        "started_at": started_at.isoformat() if started_at else None,
        "finished_at": finished_at.isoformat(),
        "output": output,
        "error": error,
        "artifacts": list(artifacts),
        "logs": list(logs),
    }


def cancelled(
    run_id: uuid.UUID,
    step_id: str,
    node_type: str,
    *,
    attempt: int,
    started_at: datetime | None,
    finished_at: datetime,
    reason: str,
    artifacts: Sequence[str] = (),
    logs: Sequence[str] = (),
) -> dict[str, Any]:
    """A cancelled step's envelope: its error says why (the reason its ``step.cancelled`` event carries)."""
    return envelope(
        run_id,
        step_id,
        node_type,
        StepStatus.CANCELLED,
        attempt=attempt,
        started_at=started_at,
        finished_at=finished_at,
        error={"type": CANCELLED, "message": reason, "retryable": False},
        artifacts=artifacts,
        logs=logs,
    )
