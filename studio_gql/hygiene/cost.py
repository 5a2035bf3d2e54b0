"""The cost of an operation: what a document may ask the database for, counted as graphql-core executes it.

Each field costs 1; a list multiplies what is selected under it by its size: a connection's ``edges``/``nodes`` by
``first`` (its default page when absent, the largest page when a variable, since validation is cached per document
and does not see variables), other lists by their ``first`` or a stated estimate (``LIST_ESTIMATES``). Nesting
multiplies: ``run { children(first: 100) { nodes { children(first: 100) { nodes { steps { output } } } } } }`` is
~500,000, refused before any resolver runs with ``extensions.code = "QUERY_TOO_COSTLY"``, the cost and the limit.
Fields with one response name are merged and a fragment spread twice in a set counts once, as in execution.
"""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)

from studio_gql.hygiene.limits import operations
from studio_shared.store.pagination import DEFAULT_PAGE, MAX_PAGE  # every connection's `first`

# Lists without a page of their own: what one parent holds, as an estimate (a definition's steps, a run's tasks,
# artifacts, a task's decisions, a workflow's triggers) or the list's cap. Other lists count LIST_DEFAULT each.
LIST_ESTIMATES: dict[str, int] = {
    "Run.steps": 50,
    "Run.humanTasks": 10,
    "Run.artifacts": 20,
    "HumanTask.decisions": 5,
    "Workflow.webhooks": 10,
    "Workflow.schedules": 10,
    "Query.nodeTypes": 50,
    "Query.credentials": 100,
    "Query.apiKeys": 100,
    "MessagePayload.runs": 10,
}
LIST_DEFAULT = 10
# Lists with their own `first` (default, largest).
PAGED_LISTS: dict[str, tuple[int, int]] = {"Run.events": (5000, 5000)}


def _unwrap(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _first(node: FieldNode, default: int, largest: int) -> int:
    """The page a field asks for: its literal ``first``, the largest page for a variable, else the default."""
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        if isinstance(argument.value, IntValueNode):
            return max(0, min(int(argument.value.value), largest))
        if isinstance(argument.value, VariableNode):
            return largest
    return default


class _Cost:
    """The cost of an operation as graphql-core executes it: in each selection set, fields with the same response
    name are merged into one (their selections too), and a fragment spread again in the same set adds nothing.
    So a fragment fan-out that repeats fields costs what it executes, and the walk is linear in the document:
    each level expands each fragment at most once. Deeper than ``MAX_LEVELS`` is not walked (the depth limit
    refuses such documents; this keeps the walk off Python's recursion limit)."""

    MAX_LEVELS = 64

    def __init__(self, context: ValidationContext) -> None:
        self.schema = context.schema
        self.definitions = {
            d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self.selections(root, [operation.selection_set], None, 0) if root is not None else 0

    def _collect(
        self,
        parent: GraphQLNamedType | None,
        selection_set: Any,
        fields: dict[tuple[str, str], tuple[GraphQLNamedType | None, list[FieldNode]]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                found = fields.setdefault((key, parent.name if parent is not None else ""), (parent, []))
                found[1].append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                self._collect(inner, selection.selection_set, fields, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.definitions.get(name)
                if name in visited or fragment is None:  # spread before in this set, or unknown (reported elsewhere)
                    continue
                visited.add(name)
                inner = self.schema.get_type(fragment.type_condition.name.value)
                self._collect(inner, fragment.selection_set, fields, visited)

    def selections(self, parent: GraphQLNamedType | None, sets: list[Any], page: int | None, level: int) -> int:
        if level > self.MAX_LEVELS:
            return 0
        fields: dict[tuple[str, str], tuple[GraphQLNamedType | None, list[FieldNode]]] = {}
        visited: set[str] = set()
        for selection_set in sets:
            self._collect(parent, selection_set, fields, visited)
        return sum(self.field(owner, nodes, page, level) for owner, nodes in fields.values())

    def field(self, parent: GraphQLNamedType | None, nodes: list[FieldNode], page: int | None, level: int) -> int:
        node = nodes[0]
        name = node.name.value
        if name.startswith("__"):  # introspection: MaxIntrospectionDepthRule bounds it
            return 0
        fields = parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        definition = fields.get(name)
        if definition is None:  # an unknown field: FieldsOnCorrectTypeRule reports it
            return 1
        returned = _unwrap(definition.type)
        named: Any = returned
        while isinstance(named, GraphQLList | GraphQLNonNull):
            named = named.of_type
        path = f"{parent.name}.{name}" if parent is not None else name
        child_page = None
        if named.name.endswith("Connection") and "first" in definition.args:
            child_page = max(_first(n, DEFAULT_PAGE, MAX_PAGE) for n in nodes)
        size = 1
        if isinstance(returned, GraphQLList):
            if name in ("edges", "nodes") and page is not None:
                size = page
            elif path in PAGED_LISTS:
                size = max(_first(n, *PAGED_LISTS[path]) for n in nodes)
            elif "first" in definition.args:
                size = max(_first(n, DEFAULT_PAGE, MAX_PAGE) for n in nodes)
            else:
                size = LIST_ESTIMATES.get(path, LIST_DEFAULT)
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        return 1 + size * (self.selections(named, sets, child_page, level + 1) if sets else 0)


def query_cost(context: ValidationContext, operation: OperationDefinitionNode) -> int:
    return _Cost(context).operation(operation)


class CostRule(ValidationRule):
    """Refuse an operation whose cost (see the module's doc) is over ``max_cost``: code ``QUERY_TOO_COSTLY``."""

    max_cost: ClassVar[int]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        cost = _Cost(context)
        for operation in operations(context):
            total = cost.operation(operation)
            if total > self.max_cost:
                context.report_error(
                    GraphQLError(
                        f"query cost {total:,} exceeds the limit of {self.max_cost:,}: ask for fewer items "
                        "(first:) or less nesting",
                        [operation],
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": total, "limit": self.max_cost},
                    )
                )
