"""``wait.event``: pause until an outside system says so (the step's resume URL, or ``signalRun``), or time out.

The machinery is the approval's: the step opens its wait (id derived from the step's idempotency key, so a
re-executed step opens one) and parks WAITING until its timeout, or indefinitely. A resume is accepted by
``Control.resume_wait`` through a conditional update of the wait in the same transaction as the run's
``step.event_received`` event and a poke of the run; the driver then resumes the step, which reads the wait and
finishes on the ``received`` branch. At the timeout a WAITING wait becomes TIMED_OUT (a conditional update, so a
resume arriving at the same moment either wins or is refused) and the step takes the ``timeout`` branch. A cancelled
or failed run cancels its waits in its final transaction (``records.apply``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.definition import WAIT_EVENT as TYPE
from studio_shared.definition import wait_event_name as event_name
from studio_shared.events import EventKind
from studio_shared.store import event_waits
from studio_shared.types import EventWaitStatus
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.outputs import derived_id

__all__ = ["SPECS", "TYPE", "event_name", "resume_url"]


def _session(ctx: NodeContext) -> AsyncSession:
    return AsyncSession(ctx.need_services().db, expire_on_commit=False)


def resume_url(ctx: NodeContext) -> str:
    run = ctx.scope.get("run") if isinstance(ctx.scope, dict) else None
    urls = run.get("resume_urls") if isinstance(run, dict) else None
    found = urls.get(ctx.step_id) if isinstance(urls, dict) else None
    if isinstance(found, str):
        return found
    return ctx.need_services().resume_links.url(ctx.tenant_id, ctx.run_id, ctx.step_id)


def _wait_id(ctx: NodeContext) -> uuid.UUID:
    return derived_id(ctx, "event-wait")


async def wait_event(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    """Open the step's wait (or find the one an earlier execution of this step opened) and wait for it."""
    now = utcnow()
    timeout = config.get("timeout_s")
    values = {
        "id": _wait_id(ctx),
        "tenant_id": ctx.tenant_id,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "event": event_name(ctx.step_id, config),
        "payload_schema": config.get("payload_schema"),
        "expires_at": now + timedelta(seconds=float(timeout)) if timeout else None,
        "created_at": now,
        "updated_at": now,
    }
    async with _session(ctx) as s, s.begin():
        wait, _ = await event_waits.open_once(s, values)
    if wait.status is EventWaitStatus.WAITING:
        # Every execution that finds the wait open says so (one killed before its commit told nobody): the UI shows
        # the URL and the name from this event.
        ctx.event(
            EventKind.STEP_AWAITING_EVENT,
            event=wait.event,
            resume_url=resume_url(ctx),
            expires_at=wait.expires_at.isoformat() if wait.expires_at else None,
        )
    return await _progress(ctx, wait)


async def wait_event_resume(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    """The run was poked (a resume) or the timeout passed: finish, time out, or wait on."""
    raw = (ctx.state or {}).get("wait_id")
    wait_id = uuid.UUID(str(raw)) if raw else _wait_id(ctx)
    async with _session(ctx) as s:
        wait = await event_waits.get(s, ctx.tenant_id, wait_id)
    if wait is None:
        raise NodeError("WaitMissing", f"the event wait {wait_id} of this step no longer exists")
    return await _progress(ctx, wait)


async def _progress(ctx: NodeContext, wait: models.EventWait) -> NodeResult:
    now = utcnow()
    if wait.status is EventWaitStatus.WAITING and wait.expires_at is not None and wait.expires_at <= now:
        async with _session(ctx) as s, s.begin():
            await event_waits.time_out(s, ctx.tenant_id, wait.id, now)
            fresh = await event_waits.get(s, ctx.tenant_id, wait.id)
        if fresh is None:
            raise NodeError("WaitMissing", f"the event wait {wait.id} of this step no longer exists")
        wait = fresh
    if wait.status is EventWaitStatus.RECEIVED:
        output = {
            "received": True,
            "timed_out": False,
            "event": wait.event,
            "payload": wait.payload,
            "via": wait.via,
            "at": _iso(wait.received_at),
        }
        return NodeResult(output=output, branches=("received",))
    if wait.status is EventWaitStatus.TIMED_OUT:
        ctx.log(f"no event {wait.event!r} arrived in time: taking the timeout branch")
        output = {"received": False, "timed_out": True, "event": wait.event, "payload": None, "via": None, "at": None}
        return NodeResult(output=output, branches=("timeout",))
    if wait.status is EventWaitStatus.CANCELLED:
        raise NodeError("WaitCancelled", f"the wait for event {wait.event!r} was cancelled with its run")
    return NodeResult(wait_until=wait.expires_at, wait=True, state={"wait_id": str(wait.id), "event": wait.event})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


SPECS = [
    # event names the step for signalRun, as written; payload_schema is a JSON Schema, not a template.
    NodeSpec(
        TYPE,
        wait_event,
        resume=wait_event_resume,
        raw_fields=frozenset({"event", "payload_schema"}),
        resume_on_poke=True,
    ),
]
