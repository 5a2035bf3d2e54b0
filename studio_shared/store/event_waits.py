"""Event waits: opened by ``wait.event`` steps, resumed once from outside (resume URL or ``signalRun``).

A wait leaves WAITING exactly once, through a conditional update: the first resume (RECEIVED, with its payload),
its timeout (TIMED_OUT, the step's own doing) or its run's unsuccessful end (CANCELLED, in the run's final
transaction). Concurrent resumes, and a resume racing the timeout, therefore race safely: one transaction wins,
the others find the wait closed and are told what won.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.db import models
from studio_shared.errors import Conflict
from studio_shared.types import EventWaitStatus


class ResumeRefused(Conflict):
    """A resume the step does not take. ``code``: ALREADY_RESUMED (an earlier resume won: ``first`` is its outcome)
    or NOT_WAITING (the step has not reached its wait, timed out, or its run ended)."""

    def __init__(
        self, code: str, message: str, first: dict[str, Any] | None = None, path: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, path)
        self.code = code
        self.first = first


Wait = models.EventWait
_waits: sa.Table = models.EventWait.__table__


async def get(s: AsyncSession, tenant_id: uuid.UUID, wait_id: uuid.UUID) -> models.EventWait | None:
    return await s.scalar(sa.select(Wait).where(Wait.tenant_id == tenant_id, Wait.id == wait_id))


async def latest_of_step(
    s: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, step_id: str
) -> models.EventWait | None:
    """The step's newest wait (a step run again by ``retryRun`` opens a new one), or None: it never waited."""
    return await s.scalar(
        sa.select(Wait)
        .where(Wait.tenant_id == tenant_id, Wait.run_id == run_id, Wait.step_id == step_id)
        .order_by(Wait.created_at.desc(), Wait.id.desc())
        .limit(1)
    )


async def open_once(s: AsyncSession, values: dict[str, Any]) -> tuple[models.EventWait, bool]:
    """Store a new WAITING wait unless one with its id exists (a re-executed step opens one wait).

    Returns the stored wait and whether this call created it."""
    existing = await get(s, values["tenant_id"], values["id"])
    if existing is not None:
        return existing, False
    schema = values.get("payload_schema")
    await s.execute(
        _waits.insert().values(
            {**values, "status": EventWaitStatus.WAITING, "payload_schema": schema if schema is not None else sa.null()}
        )
    )
    created = await get(s, values["tenant_id"], values["id"])
    if created is None:  # inserted just above, in this transaction
        raise RuntimeError(f"event wait {values['id']} vanished after its insert")
    return created, True


async def _close(s: AsyncSession, tenant_id: uuid.UUID, wait_id: uuid.UUID, **values: Any) -> bool:
    """Leave WAITING through a conditional update; False when the wait was no longer WAITING (someone else won)."""
    result = await s.execute(
        _waits.update()
        .where(_waits.c.tenant_id == tenant_id, _waits.c.id == wait_id, _waits.c.status == EventWaitStatus.WAITING)
        .values(**values)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def receive(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    wait_id: uuid.UUID,
    payload: Any,
    via: str,
    actor: str | None,
    now: datetime,
) -> bool:
    """Record the resume that wins: False when the wait was no longer WAITING (a resume or the timeout won)."""
    return await _close(
        s,
        tenant_id,
        wait_id,
        status=EventWaitStatus.RECEIVED,
        payload=payload if payload is not None else sa.null(),
        via=via,
        actor=actor,
        received_at=now,
        updated_at=now,
    )


async def time_out(s: AsyncSession, tenant_id: uuid.UUID, wait_id: uuid.UUID, now: datetime) -> bool:
    """Mark a WAITING wait TIMED_OUT; False when a resume got there first."""
    return await _close(s, tenant_id, wait_id, status=EventWaitStatus.TIMED_OUT, updated_at=now)


# A run ended unsuccessfully (cancelled or failed): nothing can resume its waits any more.
_CANCEL_OF_RUN = (
    _waits.update()
    .where(
        _waits.c.tenant_id == sa.bindparam("b_tenant"),
        _waits.c.run_id == sa.bindparam("b_run"),
        _waits.c.status == EventWaitStatus.WAITING,
    )
    .values(status=EventWaitStatus.CANCELLED, updated_at=sa.bindparam("b_now"))
)


async def cancel_waiting_of_run(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, now: datetime) -> None:
    """Cancel the run's WAITING waits, in the caller's transaction (the run's final one)."""
    await conn.execute(_CANCEL_OF_RUN, {"b_tenant": tenant_id, "b_run": run_id, "b_now": now})


def outcome(wait: models.EventWait) -> dict[str, Any]:
    """What a closed wait's resume was: the answer a later resume gets with its refusal."""
    return {
        "status": wait.status.value,
        "event": wait.event,
        "via": wait.via,
        "at": wait.received_at.isoformat() if wait.received_at else None,
        "payload": wait.payload,
    }
