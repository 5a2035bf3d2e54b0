"""Every event-bus channel name, built in one place so publishers and subscribers cannot disagree."""

from __future__ import annotations

import uuid

Id = uuid.UUID | str


def _id(value: Id) -> str:
    """The canonical form of an id; a str must be a UUID, so ids cannot smuggle a ':' into a channel name."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


# Every event of one run (steps, logs, status, outputs): the run page and GraphQL `runEvents`.
def run(tenant_id: Id, run_id: Id) -> str:
    return f"studio:run:{_id(tenant_id)}:{_id(run_id)}"


# Run created or changed status anywhere in a tenant: run lists and dashboards.
def tenant_runs(tenant_id: Id) -> str:
    return f"studio:runs:{_id(tenant_id)}"


# Human tasks opened, decided or expired in a tenant: the inbox.
def tenant_tasks(tenant_id: Id) -> str:
    return f"studio:tasks:{_id(tenant_id)}"


# Control signals (cancel) for whichever worker drives a run: one channel that every worker listens on and
# filters by the runs it holds (one subscription per process, not one per run); workers serve every tenant.
def control() -> str:
    return "studio:control"


# Wakes idle workers to poll for work now instead of at their next tick.
def wake() -> str:
    return "studio:wake"


# A schedule was created, changed or resumed: schedulers recompute when they next need to wake.
def schedules() -> str:
    return "studio:schedules"
