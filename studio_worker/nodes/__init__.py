"""Node implementations, looked up by type."""

from __future__ import annotations

import functools

from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec


@functools.cache
def builtin_handlers() -> dict[str, NodeSpec]:
    """Every built-in node type's handler (imported on first use: flow nodes need the engine's modules)."""
    from studio_worker.nodes import agent, code, flow, http, human, llm, logic, mail, outputs, sql, wait

    families = (logic, flow, outputs, http, llm, agent, human, wait, code, mail, sql)
    return {spec.type: spec for family in families for spec in family.SPECS}


__all__ = ["NodeContext", "NodeError", "NodeResult", "NodeSpec", "builtin_handlers"]
