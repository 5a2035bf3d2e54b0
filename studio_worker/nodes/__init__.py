"""Node implementations, looked up by type."""

from __future__ import annotations

import functools

from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec


@functools.cache
def builtin_handlers() -> dict[str, NodeSpec]:
    """Every built-in node type's handler (imported on first use: flow nodes need the engine's modules)."""
    from studio_worker.nodes import flow, logic

    return {spec.type: spec for spec in (*logic.SPECS, *flow.SPECS)}


__all__ = ["NodeContext", "NodeError", "NodeResult", "NodeSpec", "builtin_handlers"]
