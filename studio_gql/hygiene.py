"""What the API refuses before any resolver runs, beyond the body size: JSON that cannot be stored, and GraphQL
documents over the depth and alias limits (counted through fragments, each fragment once).

- ``loads``: strict JSON for request bodies and websocket messages. PostgreSQL cannot store U+0000, UTF-8 has
  no unpaired surrogates, JSON has no NaN or Infinity, and a value nested deeper than ``MAX_JSON_DEPTH`` is
  refused here rather than by a recursion limit somewhere later. Each is the client's mistake: a 400 with a
  message, never a 500 or a masked "internal error".
- ``DepthLimiter`` and ``AliasLimiter``: Strawberry's limiters walk a fragment again at every spread, so a
  1 KB document whose fragments each spread the next one twice costs 2^n visits (40 levels block the event
  loop for good). These compute each fragment's depth and alias count once.
- ``CostLimiter``: what a document may ask the database for, counted as it executes (fields with one response
  name merged, a fragment spread twice in a set counted once). Each field costs 1; a list multiplies what is
  selected under it by its size: a connection's ``edges``/``nodes`` by ``first`` (its default page when absent,
  the largest page when a variable, since validation is cached per document text and does not see variables),
  other lists by their ``first`` or a stated estimate (``LIST_ESTIMATES``). Nesting multiplies: ``run { children
  (first: 100) { nodes { children(first: 100) { nodes { steps { output } } } } } }`` is ~500,000, refused before
  any resolver runs with ``extensions.code = "QUERY_TOO_COSTLY"``, the cost and the limit.
- ``StorableLiterals``: the same text rules for string literals in the document (``"\\u0000"``) and no float
  literal that overflows to infinity.
- ``ValidationCache``: the verdict of those rules (and the standard ones) per document text, computed once; with
  ``hide_suggestions`` (production) without graphql-core's "Did you mean …?" hints, which spell out the schema
  that disabled introspection keeps to itself. ``QuietExecution`` does the same for execution-time errors
  (a variable's value: "Did you mean the enum value …?").
- ``OperationChecks``: several operations need ``operationName``; a subscription sent over HTTP is refused with
  a message instead of failing inside.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FloatValueNode,
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
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    validate,
)
from starlette.requests import Request
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types.graphql import OperationType

from studio_shared.store.pagination import DEFAULT_PAGE, MAX_PAGE  # every connection's `first`

MAX_JSON_DEPTH = 128  # node configs may nest 100 levels (the template engine's limit), plus the request around them
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadJSON(ValueError):
    """A request body or message that is not JSON this API can store; the message says what to fix."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> None:
    raise BadJSON(f"{name} is not JSON: send a number or null")


def loads(data: str | bytes) -> Any:
    """Decode client JSON strictly (see the module's doc); ``BadJSON`` says what is wrong. Undecodable bytes
    raise ``UnicodeDecodeError`` as ``json.loads`` does."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise BadJSON(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (BadJSON, UnicodeDecodeError):
        raise
    except json.JSONDecodeError as exc:
        raise BadJSON(f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError:  # an integer beyond the interpreter's digit limit
        raise BadJSON("a number in the JSON has too many digits") from None
    if problem := unstorable(value):
        raise BadJSON(problem)
    return value


def text_problem(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text may not contain U+0000 (NUL)"
    return f"text may not contain an unpaired surrogate (U+{ord(found.group()):04X}): send valid Unicode"


def unstorable(value: Any) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored, or None; walks without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(item, dict):
                for key, child in item.items():
                    if problem := text_problem(key):
                        return problem
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def ws_message_problem(message: Any) -> str | None:
    """What is wrong with the shape of a graphql-transport-ws message (Strawberry's handler assumes it)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a graphql-transport-ws message is a JSON object with a string 'type'"
    if message["type"] != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
        return "subscribe needs a string 'id' and an object 'payload'"
    if not isinstance(payload.get("query"), str):
        return "subscribe's payload needs a string 'query'"
    for key, kind in (("variables", dict), ("operationName", str), ("extensions", dict)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            return f"subscribe's payload.{key} must be {'an object' if kind is dict else 'a string'} or null"
    return None


# --------------------------------------------------------------------------------------------- document limits


def _selections(node: Any) -> Iterator[Any]:
    selection_set: SelectionSetNode | None = node.selection_set
    return iter(selection_set.selections if selection_set is not None else ())


class _Fragments:
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

    def _once(self, name: str, memo: dict[str, int], compute: Any) -> int:
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


def _operations(context: ValidationContext) -> Iterator[OperationDefinitionNode]:
    return (d for d in context.document.definitions if isinstance(d, OperationDefinitionNode))


class DepthLimiter(AddValidationRules):
    """Refuse an operation nested deeper than ``max_depth`` fields (through fragments)."""

    def __init__(self, max_depth: int) -> None:
        class DepthRule(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                fragments = _Fragments(context)
                for operation in _operations(context):
                    if fragments.depth(operation) > max_depth:
                        name = operation.name.value if operation.name else "anonymous"
                        context.report_error(
                            GraphQLError(f"'{name}' exceeds maximum operation depth of {max_depth}", [operation])
                        )

        super().__init__([DepthRule])


class AliasLimiter(AddValidationRules):
    """Refuse a document with more than ``max_aliases`` aliases, counting a fragment at every spread."""

    def __init__(self, max_aliases: int) -> None:
        class AliasRule(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                fragments = _Fragments(context)
                total = sum(fragments.alias_count(operation) for operation in _operations(context))
                if total > max_aliases:
                    context.report_error(GraphQLError(f"{total} aliases found. Allowed: {max_aliases}"))

        super().__init__([AliasRule])


# -------------------------------------------------------------------------------------------------- query cost


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


class CostLimiter(AddValidationRules):
    """Refuse an operation whose cost (see the module's doc) is over ``max_cost``: code ``QUERY_TOO_COSTLY``."""

    def __init__(self, max_cost: int) -> None:
        class CostRule(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                cost = _Cost(context)
                for operation in _operations(context):
                    total = cost.operation(operation)
                    if total > max_cost:
                        context.report_error(
                            GraphQLError(
                                f"query cost {total:,} exceeds the limit of {max_cost:,}: ask for fewer items "
                                "(first:) or less nesting",
                                [operation],
                                extensions={"code": "QUERY_TOO_COSTLY", "cost": total, "limit": max_cost},
                            )
                        )

        super().__init__([CostRule])


class _LiteralRule(ValidationRule):
    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if problem := text_problem(node.value):
            self.report_error(GraphQLError(f"a string literal is not storable: {problem}", node))

    def enter_float_value(self, node: FloatValueNode, *_: Any) -> None:
        if not math.isfinite(float(node.value)):
            self.report_error(GraphQLError(f"the number {node.value[:40]} is out of range", node))


class StorableLiterals(AddValidationRules):
    def __init__(self) -> None:
        super().__init__([_LiteralRule])


class ValidationCache:
    """Validation results by document text, least recently used out first.

    Every rule here depends on the document alone (the limits come from the settings, fixed for the process),
    so a text validated once needs no second walk: the run monitor and the subscriber fleet send the same few
    documents thousands of times, and validating each again cost a fifth of a busy API's CPU. Strawberry's own
    ``ValidationCache`` keys on the rule classes, which our limiters build per operation, so it never hits.
    """

    def __init__(self, maxsize: int = 256, hide_suggestions: bool = False) -> None:
        self.maxsize, self.hide_suggestions = maxsize, hide_suggestions
        self._results: OrderedDict[str, tuple[GraphQLError, ...]] = OrderedDict()

    def get(self, text: str) -> list[GraphQLError] | None:
        found = self._results.get(text)
        if found is None:
            return None
        self._results.move_to_end(text)
        return list(found)  # a fresh list: callers may extend it

    def put(self, text: str, errors: list[GraphQLError]) -> None:
        self._results[text] = tuple(errors)
        self._results.move_to_end(text)
        while len(self._results) > self.maxsize:
            self._results.popitem(last=False)

    def extension(self) -> SchemaExtension:
        """A per-operation extension that answers validation from this cache and fills it on a miss."""
        return _CachedValidation(self)


class _CachedValidation(SchemaExtension):
    def __init__(self, cache: ValidationCache) -> None:
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        text = context.query
        if text is not None and context.pre_execution_errors is None:
            context.pre_execution_errors = self.cache.get(text)  # None: Strawberry validates, as without us
        document = context.graphql_document
        if context.pre_execution_errors is None and self.cache.hide_suggestions and document is not None:
            # Strawberry's own validation cannot hide suggestions: run the same rules here, quietly.
            rules = (*context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
            context.pre_execution_errors = validate(context.schema._schema, document, rules, hide_suggestions=True)
        yield
        if text is not None and context.pre_execution_errors is not None:
            self.cache.put(text, context.pre_execution_errors)


class QuietExecution(StrawberryGraphQLCoreExecutionContext):
    """Execution without "Did you mean …?" in its errors (a variable's value naming the enum values it missed)."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class OperationChecks(SchemaExtension):
    """Before execution: a document with several operations needs ``operationName`` (Strawberry would run the
    first one), and subscriptions stream over graphql-transport-ws (over HTTP they would fail inside)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)] if document else []
        # The name the request gave (Strawberry keeps it privately; its public property falls back to the first).
        if len(operations) > 1 and getattr(context, "_provided_operation_name", "") is None:
            raise GraphQLError("the document has several operations: send operationName to choose one")
        request = getattr(context.context, "request", None)
        if operations and context.operation_type is OperationType.SUBSCRIPTION and isinstance(request, Request):
            raise GraphQLError("subscriptions are served over websocket (graphql-transport-ws) at /graphql, not HTTP")
        yield
