"""Depth and alias limits, counted through fragments with each fragment's figure computed once.

Strawberry's limiters walk a fragment again at every spread, so a 1 KB document whose fragments each spread the
next one twice costs 2^n visits (40 levels block the event loop for good). These rules compute each fragment's
depth and alias count once. The limits are class attributes, set once per schema by ``validation.limited``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


def _selections(node: Any) -> Iterator[Any]:
    selection_set: SelectionSetNode | None = node.selection_set
    return iter(selection_set.selections if selection_set is not None else ())


def operations(context: ValidationContext) -> Iterator[OperationDefinitionNode]:
    """The operations of the document being validated."""
    return (d for d in context.document.definitions if isinstance(d, OperationDefinitionNode))


class Fragments:
    """Per-fragment results computed once; a fragment met again while being computed (a cycle, which
    ``NoFragmentCyclesRule`` reports) counts as empty."""

    def __init__(self, context: ValidationContext) -> None:
        self.definitions = {
            d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.depths: dict[str, int] = {}
        self.aliases: dict[str, int] = {}
        self._open: set[str] = set()

    def depth(self, node: Any) -> int:
        """Nesting below ``node``: a field with a selection set is 1 + its deepest child (introspection fields
        are left to ``MaxIntrospectionDepthRule``, as Strawberry's limiter does)."""
        deepest = 0
        for selection in _selections(node):
            if isinstance(selection, FieldNode):
                if selection.selection_set is None or selection.name.value.startswith("__"):
                    continue
                deepest = max(deepest, 1 + self.depth(selection))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._once(selection.name.value, self.depths, self.depth))
        return deepest

    def alias_count(self, node: Any) -> int:
        count = 0
        for selection in _selections(node):
            if isinstance(selection, FieldNode):
                count += (selection.alias is not None) + self.alias_count(selection)
            elif isinstance(selection, InlineFragmentNode):
                count += self.alias_count(selection)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._once(selection.name.value, self.aliases, self.alias_count)
        return count

    def _once(self, name: str, memo: dict[str, int], compute: Callable[[Any], int]) -> int:
        if name in memo:
            return memo[name]
        fragment = self.definitions.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            memo[name] = compute(fragment)
        finally:
            self._open.discard(name)
        return memo[name]


class DepthRule(ValidationRule):
    """Refuse an operation nested deeper than ``max_depth`` fields (through fragments)."""

    max_depth: ClassVar[int]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        fragments = Fragments(context)
        for operation in operations(context):
            if fragments.depth(operation) > self.max_depth:
                name = operation.name.value if operation.name else "anonymous"
                context.report_error(
                    GraphQLError(f"'{name}' exceeds maximum operation depth of {self.max_depth}", [operation])
                )


class AliasRule(ValidationRule):
    """Refuse a document with more than ``max_aliases`` aliases, counting a fragment at every spread."""

    max_aliases: ClassVar[int]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        fragments = Fragments(context)
        total = sum(fragments.alias_count(operation) for operation in operations(context))
        if total > self.max_aliases:
            context.report_error(GraphQLError(f"{total} aliases found. Allowed: {self.max_aliases}"))
