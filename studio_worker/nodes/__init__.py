"""Node implementations, looked up by type."""

from __future__ import annotations

from studio_worker.nodes import logic
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec

HANDLERS: dict[str, NodeSpec] = {spec.type: spec for spec in logic.SPECS}


def handler_for(node_type: str) -> NodeSpec | None:
    return HANDLERS.get(node_type)


__all__ = ["HANDLERS", "NodeContext", "NodeError", "NodeResult", "NodeSpec", "handler_for"]
