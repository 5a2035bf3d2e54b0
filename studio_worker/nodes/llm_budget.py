"""The budgets a model call counts against, and the reservation that keeps it from passing them.

Per step (the node's ``max_tokens_total`` / ``max_cost_usd``), per run (STUDIO_LLM_RUN_MAX_*) and per tenant per
UTC day (the tenant's ``llm_daily_*`` fields, an ADMIN's, else STUDIO_LLM_TENANT_DAILY_*). Before a call its worst
case (a prompt estimate plus ``max_tokens``) is reserved on the run and the day in one transaction; a call that
does not fit is never made and the step fails with BUDGET_EXCEEDED (not retryable: waiting does not refill a
budget), naming the budget and what is left. After the call the real usage is charged with its ledger row.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from studio_shared.db.types import utcnow
from studio_shared.store import llm_budget, llm_calls
from studio_shared.store.llm_budget import Budget
from studio_worker.nodes.base import NodeContext, NodeError

BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
LEASE_S = 600.0  # a reservation older than this belongs to a worker that died: anyone may release it
CHARS_PER_TOKEN = 3  # a prompt estimate on the high side (English averages about 4 characters a token)


@dataclass(frozen=True, slots=True)
class Plan:
    budgets: list[Budget] = field(default_factory=list)  # the run and the tenant's day (always counted)
    step_tokens: int | None = None
    step_cost_usd: float | None = None

    @property
    def limited(self) -> bool:
        return self.step_tokens is not None or self.step_cost_usd is not None or any(b.limited for b in self.budgets)

    @property
    def costed(self) -> bool:
        return self.step_cost_usd is not None or any(b.max_cost_usd is not None for b in self.budgets)


def _limit(value: float | None) -> float | None:
    return value if value else None  # 0 and None: no limit


def price(prices: dict[str, dict[str, float]], model: str, prompt: int, completion: int) -> float | None:
    """USD for the tokens at STUDIO_LLM_PRICES (per 1M tokens), or None for a model without a price."""
    found = prices.get(model)
    if found is None:
        return None
    return (prompt * found.get("prompt", 0.0) + completion * found.get("completion", 0.0)) / 1_000_000


def prompt_estimate(request: dict[str, Any]) -> int:
    text = json.dumps([request.get("messages"), request.get("tools")], default=str, ensure_ascii=False)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


async def plan(ctx: NodeContext, config: dict[str, Any], request: dict[str, Any]) -> Plan:
    settings = ctx.need_services().settings
    async with ctx.need_services().db.connect() as conn:
        tokens, usd = await llm_budget.daily_limits(conn, ctx.tenant_id)
    day_tokens = settings.llm_tenant_daily_max_tokens if tokens is None else tokens
    day_usd = settings.llm_tenant_daily_max_cost_usd if usd is None else usd
    return Plan(
        budgets=[
            Budget(
                llm_budget.run_scope(ctx.run_id),
                "the run's budget (STUDIO_LLM_RUN_MAX_TOKENS / STUDIO_LLM_RUN_MAX_COST_USD)",
                int(settings.llm_run_max_tokens) or None,
                _limit(settings.llm_run_max_cost_usd),
            ),
            Budget(
                llm_budget.day_scope(utcnow().date()),
                "the tenant's daily budget",
                int(day_tokens) or None,
                _limit(day_usd),
            ),
        ],
        step_tokens=int(config.get("max_tokens_total") or 0) or None,
        step_cost_usd=_limit(config.get("max_cost_usd")),
    )


def _refused(message: str) -> NodeError:
    return NodeError(BUDGET_EXCEEDED, message, retryable=False)


async def reserve(ctx: NodeContext, plan: Plan, call_id: uuid.UUID, request: dict[str, Any]) -> list[str]:
    """Reserve the call's worst case on every budget (raising BUDGET_EXCEEDED when one cannot take it); the
    scopes to settle it on."""
    services = ctx.need_services()
    model = str(request.get("model"))
    tokens = prompt_estimate(request) + int(request.get("max_tokens") or 0)
    cost = price(services.settings.llm_prices, model, prompt_estimate(request), int(request.get("max_tokens") or 0))
    if cost is None and plan.costed:
        raise _refused(
            f"a cost budget applies but model {model!r} has no price: add it to STUDIO_LLM_PRICES "
            "(USD per 1M prompt and completion tokens), or remove the cost limit"
        )
    if plan.step_tokens is not None or plan.step_cost_usd is not None:
        async with services.db.connect() as conn:
            used_tokens, used_usd = await llm_calls.step_usage(conn, ctx.tenant_id, ctx.run_id, ctx.step_id)
        if plan.step_tokens is not None and used_tokens + tokens > plan.step_tokens:
            left = max(0, plan.step_tokens - used_tokens)
            raise _refused(
                f"the step's max_tokens_total ({plan.step_tokens} tokens) would be exceeded: {left} tokens left, "
                f"the next call may use {tokens}"
            )
        if plan.step_cost_usd is not None and used_usd + (cost or 0.0) > plan.step_cost_usd:
            left_usd = max(0.0, plan.step_cost_usd - used_usd)
            raise _refused(
                f"the step's max_cost_usd ({plan.step_cost_usd:g} USD) would be exceeded: {left_usd:.6f} USD left, "
                f"the next call may cost {cost or 0.0:.6f}"
            )
    try:
        async with services.db.begin() as conn:
            await llm_budget.reserve(conn, ctx.tenant_id, call_id, plan.budgets, tokens, cost or 0.0, LEASE_S)
    except llm_budget.BudgetExceeded as exc:
        raise _refused(f"{exc}; the next call may use {tokens} tokens") from None
    return [b.scope for b in plan.budgets]


async def release(ctx: NodeContext, call_id: uuid.UUID) -> None:
    """The call failed: give its reservation back (a worker that dies here leaves it to its lease)."""
    async with ctx.need_services().db.begin() as conn:
        await llm_budget.release(conn, ctx.tenant_id, call_id)


async def settle(
    conn: Any, ctx: NodeContext, call_id: uuid.UUID, scopes: list[str], usage: dict[str, int], cost: float | None
) -> None:
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    await llm_budget.settle(conn, ctx.tenant_id, call_id, scopes, tokens, cost or 0.0)


async def report(ctx: NodeContext, config: dict[str, Any]) -> dict[str, Any]:
    """What is used against each limit: the step, the run, the tenant's day (a null limit: none)."""
    services = ctx.need_services()
    current = await plan(ctx, config, {})
    async with services.db.connect() as conn:
        step_tokens, step_usd = await llm_calls.step_usage(conn, ctx.tenant_id, ctx.run_id, ctx.step_id)
        found = await llm_budget.spent(conn, ctx.tenant_id, [b.scope for b in current.budgets])
    run, day = current.budgets
    return {
        "step": _line(step_tokens, step_usd, current.step_tokens, current.step_cost_usd),
        "run": _line(found[run.scope].tokens, found[run.scope].cost_usd, run.max_tokens, run.max_cost_usd),
        "tenant_day": _line(found[day.scope].tokens, found[day.scope].cost_usd, day.max_tokens, day.max_cost_usd),
    }


def _line(tokens: int, cost: float, max_tokens: int | None, max_cost: float | None) -> dict[str, Any]:
    return {
        "tokens": tokens,
        "max_tokens": max_tokens,
        "tokens_left": None if max_tokens is None else max(0, max_tokens - tokens),
        "cost_usd": round(cost, 8),
        "max_cost_usd": max_cost,
    }
