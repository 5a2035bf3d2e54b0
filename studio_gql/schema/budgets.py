"""The tenant's model budget per UTC day: what an ADMIN set, what the day has used and holds reserved."""

from __future__ import annotations

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError, payload
from studio_gql.permissions import needs
from studio_shared.db import models
from studio_shared.db.types import utcnow
from studio_shared.rbac import Permission
from studio_shared.store import llm_budget


@strawberry.type(
    description="The tenant's model budget for today (UTC): limits (null: none) and what is used and reserved by "
    "calls in flight. A model call whose worst case does not fit is not made; its step fails with BUDGET_EXCEEDED."
)
class ModelBudget:
    day: str
    daily_max_tokens: int | None = strawberry.field(
        description="The effective limit (the tenant's, else the setting's)."
    )
    daily_max_cost_usd: float | None
    tenant_max_tokens: int | None = strawberry.field(
        description="The tenant's own value: null uses the setting, 0 none."
    )
    tenant_max_cost_usd: float | None
    used_tokens: int
    used_cost_usd: float
    reserved_tokens: int
    reserved_cost_usd: float
    tokens_left: int | None
    cost_left_usd: float | None


@strawberry.type
class ModelBudgetPayload:
    budget: ModelBudget | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _budget(info: Info, tenant: models.Tenant) -> ModelBudget:
    settings = info.context.state.settings
    scope = llm_budget.day_scope(utcnow().date())
    async with info.context.state.reads() as s:
        spent = (await llm_budget.spent(await s.connection(), tenant.id, [scope]))[scope]
    tokens = tenant.llm_daily_max_tokens
    usd = tenant.llm_daily_max_cost_usd
    max_tokens = int(settings.llm_tenant_daily_max_tokens if tokens is None else tokens) or None
    max_usd = float(settings.llm_tenant_daily_max_cost_usd if usd is None else usd) or None
    return ModelBudget(
        day=scope.removeprefix("day:"),
        daily_max_tokens=max_tokens,
        daily_max_cost_usd=max_usd,
        tenant_max_tokens=tokens,
        tenant_max_cost_usd=usd,
        used_tokens=spent.tokens,
        used_cost_usd=spent.cost_usd,
        reserved_tokens=spent.reserved_tokens,
        reserved_cost_usd=spent.reserved_usd,
        tokens_left=None if max_tokens is None else max(0, max_tokens - spent.tokens - spent.reserved_tokens),
        cost_left_usd=None if max_usd is None else max(0.0, max_usd - spent.cost_usd - spent.reserved_usd),
    )


@strawberry.type
class BudgetQuery:
    @strawberry.field(description="Your tenant's model budget for today.", extensions=needs(Permission.RUN_READ))
    async def model_budget(self, info: Info) -> ModelBudget:
        async with info.context.state.reads() as s:
            tenant = await s.get(models.Tenant, info.context.tenant_id)
        return await _budget(info, tenant or models.Tenant(id=info.context.tenant_id))


@strawberry.type
class BudgetMutation:
    @strawberry.mutation(
        description="Set the tenant's model budget per UTC day (tokens and USD; null: the server's default, 0: no "
        "limit). ADMIN (tenant:manage).",
        extensions=needs(Permission.TENANT_MANAGE),
    )
    @payload(lambda errors: ModelBudgetPayload(errors=errors))
    async def set_model_budget(
        self, info: Info, daily_max_tokens: int | None = None, daily_max_cost_usd: float | None = None
    ) -> ModelBudgetPayload:
        ctx = info.context
        async with ctx.state.sessions.begin() as s:
            tenant = await llm_budget.set_daily_limits(
                s, ctx.tenant_id, ctx.require_principal(), daily_max_tokens, daily_max_cost_usd
            )
        return ModelBudgetPayload(budget=await _budget(info, tenant))
