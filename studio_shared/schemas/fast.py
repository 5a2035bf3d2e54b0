"""The fast validity check: plain closures for the keywords the studio's schemas (and simple user schemas) use.

It answers True only when the instance is certainly valid; any keyword it does not implement makes that
sub-schema answer False, which sends the caller to jsonschema for the authoritative, detailed answer. Patterns
use the same engine as the validators (``studio_shared.schemas.regex``), so both always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio_shared.schemas.regex import RegexError, compile_regex

Check = Callable[[Any], bool]
MAX_DEPTH = 32

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "$schema",
        "$id",
        "$defs",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)


def _never(_: Any) -> bool:
    """The answer for anything the fast check does not understand: 'ask jsonschema'."""
    return False


def _always(_: Any) -> bool:
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


_TYPE_TESTS: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}

_BOUNDS: dict[str, tuple[Check, Callable[[Any, Any], bool]]] = {
    "minLength": (lambda v: isinstance(v, str), lambda v, n: len(v) >= n),
    "maxLength": (lambda v: isinstance(v, str), lambda v, n: len(v) <= n),
    "minItems": (lambda v: isinstance(v, list), lambda v, n: len(v) >= n),
    "maxItems": (lambda v: isinstance(v, list), lambda v, n: len(v) <= n),
    "minProperties": (lambda v: isinstance(v, dict), lambda v, n: len(v) >= n),
    "maxProperties": (lambda v: isinstance(v, dict), lambda v, n: len(v) <= n),
    "minimum": (_is_number, lambda v, n: v >= n),
    "maximum": (_is_number, lambda v, n: v <= n),
    "exclusiveMinimum": (_is_number, lambda v, n: v > n),
    "exclusiveMaximum": (_is_number, lambda v, n: v < n),
}


class _Compiler:
    """Compiles one document; each `$ref` target once, so recursive or shared definitions cost one compile."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def schema(self, schema: Any, depth: int = 0) -> Check:
        if schema is True:
            return _always
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return _never
        checks: list[Check] = []
        for key, value in schema.items():
            if key == "x-json-schema" and value is True:
                return _never
            if key in _ANNOTATIONS or key.startswith("x-"):
                continue
            check = self.keyword(key, value, schema, depth)
            if check is None:
                return _never
            checks.append(check)
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def keyword(self, key: str, value: Any, schema: dict[str, Any], depth: int) -> Check | None:
        """One keyword as a predicate; None for keywords the fast path does not implement."""
        if key == "type":
            names = value if isinstance(value, list) else [value]
            if not all(isinstance(n, str) and n in _TYPE_TESTS for n in names):
                return None
            tests = [_TYPE_TESTS[n] for n in names]
            return lambda v: any(t(v) for t in tests)
        if key in _BOUNDS and _is_number(value):
            applies, holds = _BOUNDS[key]
            return lambda v: not applies(v) or holds(v, value)
        if key == "required" and isinstance(value, list):
            names = list(value)
            return lambda v: not isinstance(v, dict) or all(n in v for n in names)
        if key == "properties" and isinstance(value, dict):
            props = [(name, self.schema(sub, depth + 1)) for name, sub in value.items()]
            return lambda v: not isinstance(v, dict) or all(c(v[n]) for n, c in props if n in v)
        if key == "additionalProperties":
            if "patternProperties" in schema:
                return None
            known = frozenset(schema.get("properties", {}))
            if value is False:
                return lambda v: not isinstance(v, dict) or known.issuperset(v)
            extra = self.schema(value, depth + 1)
            return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)
        if key == "items" and "prefixItems" not in schema:
            item = self.schema(value, depth + 1)
            return lambda v: not isinstance(v, list) or all(item(x) for x in v)
        if key == "pattern" and isinstance(value, str):
            try:
                regex = compile_regex(value)
            except RegexError:
                return None  # jsonschema reports it
            return lambda v: not isinstance(v, str) or regex.search(v)
        if key == "enum" and isinstance(value, list) and all(isinstance(x, str) for x in value):
            options = frozenset(value)
            return lambda v: isinstance(v, str) and v in options
        if key == "const" and isinstance(value, str):
            return lambda v: isinstance(v, str) and v == value
        if key == "uniqueItems":
            if value is not True:
                return _always
            return lambda v: not isinstance(v, list) or (all(isinstance(x, str) for x in v) and len(set(v)) == len(v))
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/") and isinstance(self.root, dict):
            return self.ref(value)
        return None

    def ref(self, ref: str) -> Check | None:
        found = self.refs.get(ref)
        if found is not None:
            return found
        target = self.root.get("$defs", {}).get(ref[len("#/$defs/") :])
        if target is None:
            return None
        cell: list[Check] = []
        self.refs[ref] = lambda v: cell[0](v)  # a recursive definition reaches itself through the cell
        cell.append(self.schema(target, 0))
        return self.refs[ref]


def compile_fast(schema: Any) -> Check:
    """A conservative pure-Python validity check of ``schema``: True only when the instance is certainly valid."""
    return _Compiler(schema).schema(schema)
