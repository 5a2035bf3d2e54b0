"""Triggers and the pure logic nodes: transform, condition, switch; plus delay and fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec

TRIGGERS = ("trigger.manual", "trigger.webhook", "trigger.schedule", "trigger.message")


async def trigger(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    """A trigger's output is the run input (validated against its input_schema when the run started)."""
    return NodeResult(output=ctx.scope.get("input"))


async def transform(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return NodeResult(output=config.get("value"))


async def condition(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    value = config.get("expression")
    if not isinstance(value, bool):
        raise NodeError(
            "ConditionNotBoolean",
            f"the expression produced {type(value).__name__} {str(value)[:60]!r}, not true or false;"
            " write a comparison such as {{ input.amount > 100 }}",
        )
    return NodeResult(output={"result": value}, branches=("true" if value else "false",))


def _case_key(value: Any) -> str | None:
    """The case name a switch value selects: strings as they are, booleans as true/false, numbers as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def switch(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    value = config.get("value")
    cases = [str(case) for case in config.get("cases", [])]
    key = _case_key(value)
    return NodeResult(output={"value": value}, branches=(key if key in cases else "default",))


async def delay(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    seconds = float(config.get("seconds", 0))
    return NodeResult(wait_until=datetime.now(UTC) + timedelta(seconds=seconds))


async def delay_done(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return NodeResult(output={})


async def fail(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    raise NodeError(
        "Fail", str(config.get("message") or "failed by a fail node"), retryable=bool(config.get("retryable"))
    )


SPECS = [
    *(NodeSpec(name, trigger, pure=True) for name in TRIGGERS),
    NodeSpec("transform", transform, pure=True),
    NodeSpec("condition", condition, pure=True),
    NodeSpec("switch", switch, pure=True),
    NodeSpec("delay", delay, resume=delay_done),
    NodeSpec("fail", fail, pure=True),
]
