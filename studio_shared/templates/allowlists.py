"""What a template may contain and touch: AST node types, names, attributes per data type, filters and tests.

Everything not listed here is refused: a node type outside ``EXPRESSION_NODES`` at compile time, an attribute
outside its type's set by the environment's ``is_safe_attribute``, a filter not kept by ``filters.build_filters``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from jinja2 import nodes

RESERVED_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
EXPRESSION_NODES: frozenset[type[nodes.Node]] = frozenset(
    {
        nodes.Const,
        nodes.Tuple,
        nodes.List,
        nodes.Dict,
        nodes.Pair,
        nodes.Keyword,
        nodes.CondExpr,
        nodes.Filter,
        nodes.Test,
        nodes.Call,
        nodes.Getitem,
        nodes.Getattr,
        nodes.Slice,
        nodes.Concat,
        nodes.Compare,
        nodes.Operand,
        nodes.Add,
        nodes.Sub,
        nodes.Mul,
        nodes.Div,
        nodes.FloorDiv,
        nodes.Mod,
        nodes.Pow,
        nodes.And,
        nodes.Or,
        nodes.Not,
        nodes.Neg,
        nodes.Pos,
        nodes.Name,
    }
)
STR_ATTRIBUTES = frozenset(
    {
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "format",
        "format_map",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    }
)
DICT_ATTRIBUTES = frozenset({"get", "items", "keys", "values"})
SEQUENCE_ATTRIBUTES = frozenset({"count", "index"})
RANGE_ATTRIBUTES = frozenset({"count", "index", "start", "step", "stop"})
NO_ATTRIBUTES: frozenset[str] = frozenset()
PAD_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
VIEW_METHODS = frozenset({"items", "keys", "values"})

# Jinja filters kept as they are: O(1), they return one of their inputs or a number.
CONSTANT_FILTERS = frozenset({"abs", "count", "d", "default", "first", "last", "length"})
# Kept, charged for reading their arguments; their result is a number or one of the input's items.
READING_FILTERS = frozenset({"filesizeformat", "max", "min"})
# Kept, charged for reading their arguments; their result is new and size-checked (iterators become lists).
CREATING_FILTERS = frozenset(
    {
        "capitalize",
        "dictsort",
        "e",
        "escape",
        "items",
        "list",
        "lower",
        "map",
        "reject",
        "rejectattr",
        "reverse",
        "select",
        "selectattr",
        "sort",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
    }
)
# Tests that read (compare or scan) their arguments; the others only look at types.
READING_TESTS = frozenset(
    {
        "!=",
        "<",
        "<=",
        "==",
        ">",
        ">=",
        "eq",
        "equalto",
        "ge",
        "greaterthan",
        "gt",
        "in",
        "le",
        "lessthan",
        "lower",
        "lt",
        "ne",
        "upper",
    }
)
# The comparison operators of the parser, evaluated by the environment's ``studio_compare``.
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda left, right: left in right,
    "notin": lambda left, right: left not in right,
}
