"""The process's one cache of parsed workflow definitions, shared by the run engine and ``Control`` in a process that
hosts both.

Versions a run executes never change (a published version, or a test snapshot, which is a version row of its own), so
a parsed definition stays valid for the process's life; the cache keeps the most recently used ones.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

from studio_shared.definition import Definition, parse_definition
from studio_shared.schemas import NodeRegistry

SIZE = 512


class Definitions:
    """Parsed definitions by version id, the least recently used dropped beyond ``size``."""

    def __init__(self, registry: NodeRegistry, size: int = SIZE) -> None:
        self.registry, self.size = registry, size
        self._parsed: OrderedDict[uuid.UUID, Definition] = OrderedDict()

    def get(self, version_id: uuid.UUID) -> Definition | None:
        definition = self._parsed.get(version_id)
        if definition is not None:
            self._parsed.move_to_end(version_id)
        return definition

    def remember(self, version_id: uuid.UUID, document: Any) -> Definition:
        """Parse a version's stored definition and keep it."""
        definition = parse_definition(document, self.registry)
        self._parsed[version_id] = definition
        if len(self._parsed) > self.size:
            self._parsed.popitem(last=False)
        return definition

    def __len__(self) -> int:
        return len(self._parsed)
