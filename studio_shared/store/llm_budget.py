"""Model budgets that stop spending: reserve a call's worst case before it is made, settle the real usage after.

Each budget scope (a tenant's UTC day, a run) is one ``llm_spend`` row. A reservation is one conditional UPDATE
per scope (``spent + reserved + worst <= limit``), all in the caller's transaction: on PostgreSQL the row lock makes
a concurrent reservation re-check the condition after ours commits, on SQLite the write lock serializes them. So
steps running at once cannot together pass a limit; the only overshoot left is a call using more than it
reserved (a prompt longer than its estimate). Scopes without a limit are still counted, so a limit set later
(an ADMIN's setModelBudget at noon) sees the morning's spending.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from studio_shared.auth import Principal
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.errors import NotFound, Problem, ValidationFailed
from studio_shared.store import audit

spend: sa.Table = models.LlmSpend.__table__
reservations: sa.Table = models.LlmReservation.__table__
_NAMESPACE = uuid.UUID("7d1c3f0e-52a4-4b8e-9a51-0c6f2d8e4b19")


def day_scope(day: date) -> str:
    return f"day:{day.isoformat()}"


def run_scope(run_id: uuid.UUID) -> str:
    return f"run:{run_id}"


@dataclass(frozen=True, slots=True)
class Budget:
    """One scope a call counts against, with its limits (None: not limited) and what to call it in errors."""

    scope: str
    label: str  # e.g. "the tenant's daily budget"
    max_tokens: int | None = None
    max_cost_usd: float | None = None

    @property
    def limited(self) -> bool:
        return self.max_tokens is not None or self.max_cost_usd is not None


@dataclass(frozen=True, slots=True)
class Spent:
    tokens: int = 0
    cost_usd: float = 0.0
    reserved_tokens: int = 0
    reserved_usd: float = 0.0


class BudgetExceeded(Exception):
    """A call's worst case does not fit ``budget``: ``remaining`` of its ``unit`` ("tokens" or "USD") is left."""

    def __init__(self, budget: Budget, unit: str, limit: float, remaining: float) -> None:
        self.budget, self.unit, self.limit, self.remaining = budget, unit, limit, remaining
        left = f"{int(remaining)} tokens" if unit == "tokens" else f"{remaining:.6f} USD"
        shown = f"{int(limit)} tokens" if unit == "tokens" else f"{limit:g} USD"
        super().__init__(f"{budget.label} ({shown}) would be exceeded: {left} left")


def _scope_id(tenant_id: uuid.UUID, scope: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{scope}")


async def _ensure(conn: AsyncConnection, tenant_id: uuid.UUID, scopes: Sequence[str]) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for scope in scopes:
        await conn.execute(
            insert(spend)
            .values(
                id=_scope_id(tenant_id, scope),
                tenant_id=tenant_id,
                scope=scope,
                tokens=0,
                cost_usd=0.0,
                reserved_tokens=0,
                reserved_usd=0.0,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "scope"])
        )


async def spent(conn: AsyncConnection, tenant_id: uuid.UUID, scopes: Sequence[str]) -> dict[str, Spent]:
    """What each scope has spent and holds reserved (a scope never charged: zeros)."""
    rows = await conn.execute(
        sa.select(spend.c.scope, spend.c.tokens, spend.c.cost_usd, spend.c.reserved_tokens, spend.c.reserved_usd).where(
            spend.c.tenant_id == tenant_id, spend.c.scope.in_(list(scopes))
        )
    )
    found = {row.scope: Spent(int(row[1]), float(row[2]), int(row[3]), float(row[4])) for row in rows}
    return {scope: found.get(scope, Spent()) for scope in scopes}


async def _release(conn: AsyncConnection, tenant_id: uuid.UUID, where: Any) -> None:
    held = (
        await conn.execute(
            sa.select(reservations.c.id, reservations.c.scopes, reservations.c.tokens, reservations.c.cost_usd)
            .where(reservations.c.tenant_id == tenant_id, where)
            .order_by(reservations.c.id)
        )
    ).all()
    for row in held:
        await _adjust(conn, tenant_id, row.scopes, reserved_tokens=-int(row.tokens), reserved_usd=-float(row.cost_usd))
        await conn.execute(
            reservations.delete().where(reservations.c.tenant_id == tenant_id, reservations.c.id == row.id)
        )


async def _adjust(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    scopes: Sequence[str],
    *,
    tokens: int = 0,
    cost_usd: float = 0.0,
    reserved_tokens: int = 0,
    reserved_usd: float = 0.0,
) -> None:
    for scope in sorted(scopes):  # one order everywhere: two transactions never wait on each other's rows
        await conn.execute(
            spend.update()
            .where(spend.c.tenant_id == tenant_id, spend.c.id == _scope_id(tenant_id, scope))
            .values(
                tokens=spend.c.tokens + tokens,
                cost_usd=spend.c.cost_usd + cost_usd,
                reserved_tokens=spend.c.reserved_tokens + reserved_tokens,
                reserved_usd=spend.c.reserved_usd + reserved_usd,
            )
        )


async def reserve(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    call_id: uuid.UUID,
    budgets: Sequence[Budget],
    tokens: int,
    cost_usd: float,
    lease_s: float,
    now: datetime | None = None,
) -> None:
    """Hold ``tokens`` and ``cost_usd`` on every budget's scope, or raise BudgetExceeded (roll the transaction
    back then). An earlier reservation of the same call (a worker that died mid-call) and any reservation whose
    lease has passed are released first."""
    now = now or utcnow()
    await _release(conn, tenant_id, sa.or_(reservations.c.id == call_id, reservations.c.expires_at < now))
    scopes = sorted({b.scope for b in budgets})
    await _ensure(conn, tenant_id, scopes)
    by_scope = {b.scope: b for b in budgets}
    for scope in scopes:
        budget = by_scope[scope]
        row_id = _scope_id(tenant_id, scope)
        fits = [spend.c.tenant_id == tenant_id, spend.c.id == row_id]
        if budget.max_tokens is not None:
            fits.append(spend.c.tokens + spend.c.reserved_tokens + tokens <= budget.max_tokens)
        if budget.max_cost_usd is not None:
            fits.append(spend.c.cost_usd + spend.c.reserved_usd + cost_usd <= budget.max_cost_usd)
        done = await conn.execute(
            spend.update()
            .where(*fits)
            .values(reserved_tokens=spend.c.reserved_tokens + tokens, reserved_usd=spend.c.reserved_usd + cost_usd)
        )
        if done.rowcount == 0:
            raise _exceeded(budget, (await spent(conn, tenant_id, [scope]))[scope], tokens, cost_usd)
    await conn.execute(
        reservations.insert().values(
            id=call_id,
            tenant_id=tenant_id,
            scopes=scopes,
            tokens=tokens,
            cost_usd=cost_usd,
            expires_at=now + timedelta(seconds=lease_s),
        )
    )


def _exceeded(budget: Budget, now: Spent, tokens: int, cost_usd: float) -> BudgetExceeded:
    """Which of the budget's limits the call does not fit, and what is left of it."""
    if budget.max_tokens is not None:
        left = budget.max_tokens - now.tokens - now.reserved_tokens
        if left < tokens or budget.max_cost_usd is None:
            return BudgetExceeded(budget, "tokens", budget.max_tokens, max(0, left))
    limit = budget.max_cost_usd or 0.0
    return BudgetExceeded(budget, "USD", limit, max(0.0, limit - now.cost_usd - now.reserved_usd))


async def settle(
    conn: AsyncConnection, tenant_id: uuid.UUID, call_id: uuid.UUID, scopes: Sequence[str], tokens: int, cost_usd: float
) -> None:
    """Charge a finished call's real usage to ``scopes`` and drop its reservation (in the transaction that records
    the call, so a call is charged exactly when its ledger row exists)."""
    await _release(conn, tenant_id, reservations.c.id == call_id)
    await _ensure(conn, tenant_id, scopes)
    await _adjust(conn, tenant_id, scopes, tokens=tokens, cost_usd=cost_usd)


async def release(conn: AsyncConnection, tenant_id: uuid.UUID, call_id: uuid.UUID) -> None:
    """Give back a call's reservation (the call failed: nothing was billed)."""
    await _release(conn, tenant_id, reservations.c.id == call_id)


async def daily_limits(conn: AsyncConnection, tenant_id: uuid.UUID) -> tuple[int | None, float | None]:
    """The tenant's own daily limits (None: the setting's default; 0: no limit)."""
    tenants = models.Tenant.__table__
    row = (
        await conn.execute(
            sa.select(tenants.c.llm_daily_max_tokens, tenants.c.llm_daily_max_cost_usd).where(tenants.c.id == tenant_id)
        )
    ).one_or_none()
    return (None, None) if row is None else (row[0], row[1])


async def set_daily_limits(
    s: AsyncSession, tenant_id: uuid.UUID, actor: Principal, max_tokens: int | None, max_cost_usd: float | None
) -> models.Tenant:
    """An ADMIN's daily model budget for the tenant (None: the setting's default; 0: no limit), audited."""
    problems: list[Problem] = []
    if max_tokens is not None and max_tokens < 0:
        problems.append(Problem(("dailyMaxTokens",), "must be 0 (no limit) or more"))
    if max_cost_usd is not None and (max_cost_usd < 0 or max_cost_usd != max_cost_usd):
        problems.append(Problem(("dailyMaxCostUsd",), "must be 0 (no limit) or more"))
    if problems:
        raise ValidationFailed(problems)
    tenant = await s.get(models.Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    if (tenant.llm_daily_max_tokens, tenant.llm_daily_max_cost_usd) != (max_tokens, max_cost_usd):
        tenant.llm_daily_max_tokens, tenant.llm_daily_max_cost_usd = max_tokens, max_cost_usd
        audit.record(
            s,
            tenant_id,
            actor.actor,
            "tenant.model_budget",
            ("tenant", tenant_id),
            {"daily_max_tokens": max_tokens, "daily_max_cost_usd": max_cost_usd},
        )
        await s.flush()
    return tenant
