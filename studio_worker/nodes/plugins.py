"""Node types from plugin modules: each module has ``NODE_TYPES`` (registry documents) and ``SPECS`` (handlers)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from studio_shared.schemas import NodeRegistry, load_registry
from studio_shared.settings import Settings
from studio_worker.nodes.base import NodeSpec


@dataclass(frozen=True, slots=True)
class NodeCatalog:
    """The registry (schemas) and the handlers a process uses; the same plugins in the API and every worker."""

    registry: NodeRegistry
    handlers: dict[str, NodeSpec]


def load_catalog(settings: Settings) -> NodeCatalog:
    from studio_worker.nodes import builtin_handlers

    builtin = builtin_handlers()
    documents: list[tuple[str, bytes]] = []
    handlers = dict(builtin)
    for name in filter(None, (part.strip() for part in settings.node_plugins.split(","))):
        module = importlib.import_module(name)
        types: list[dict[str, Any]] = list(module.NODE_TYPES)
        specs: list[NodeSpec] = list(module.SPECS)
        for doc in types:
            documents.append((f"plugin/{name}/{doc['type']}.json", json.dumps(doc).encode()))
        for spec in specs:
            if spec.type in builtin:
                raise ValueError(f"plugin {name} redefines the built-in node type {spec.type!r}")
            handlers[spec.type] = spec
    registry = load_registry(tuple(documents))
    missing = sorted(set(registry.types()) - set(handlers))
    unimplemented = [t for t in missing if t not in _LATER]
    if unimplemented:
        raise ValueError(f"node types without a handler: {', '.join(unimplemented)}")
    return NodeCatalog(registry, handlers)


# Built-in types whose schemas ship now and whose handlers arrive with later work; a step of one of these
# fails with UnknownNodeType (a clear, recorded error) until then.
_LATER: frozenset[str] = frozenset()
