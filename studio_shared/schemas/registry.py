"""The node-type registry: loads `nodes/*.json`, validates configs and outputs, and serves the raw documents.

Every schema file is checked when the registry loads, so a broken file fails the process at start-up rather
than a user's save. The registry is read-only after loading; treat every dict it hands out as immutable.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError

from studio_shared.errors import Problem

PACKAGE = "studio_shared.schemas"
WORKFLOW_SCHEMA_FILE = "workflow.schema.json"
STEP_OUTPUT_SCHEMA_FILE = "step_output.schema.json"
NODES_DIR = "nodes"
DEFAULT_BRANCH = "default"
MAX_MESSAGE = 300

_BRANCH_NAME = {"type": "string", "minLength": 1, "maxLength": 64}

# Structure every nodes/*.json file must have (checked at load; the node schemas themselves are checked separately).
NODE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["type", "title", "category", "description", "config_schema", "output_schema", "branches"],
    "properties": {
        "type": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", "maxLength": 100},
        "title": {"type": "string", "minLength": 1},
        "category": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "config_schema": {
            "type": "object",
            "required": ["type", "additionalProperties"],
            "properties": {"type": {"const": "object"}, "additionalProperties": {"const": False}},
        },
        "output_schema": {"type": ["object", "boolean", "null"]},
        "branches": {"type": "array", "items": _BRANCH_NAME, "uniqueItems": True},
        "dynamic_branches": {"type": ["string", "null"], "minLength": 1},
        "trigger": {"type": "boolean"},
    },
}


class RegistryError(RuntimeError):
    """A schema file is missing or broken; raised while loading so the mistake cannot reach users."""


@dataclass(frozen=True, eq=False)
class NodeType:
    """One built-in node type as described by its registry file (`raw` is the whole parsed file)."""

    type: str
    title: str
    category: str
    description: str
    config_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    branches: tuple[str, ...]
    dynamic_branches: str | None
    trigger: bool
    raw: dict[str, Any]

    @property
    def branching(self) -> bool:
        """Whether edges leaving this node must name a branch."""
        return bool(self.branches) or self.dynamic_branches is not None

    def branches_for(self, config: Mapping[str, Any] | None = None) -> list[str]:
        """The outgoing branch names of a node of this type with `config` (switch: its cases plus `default`)."""
        out = list(self.branches)
        if self.dynamic_branches is None:
            return out
        values = (config or {}).get(self.dynamic_branches)
        if isinstance(values, list):
            for value in values:
                if isinstance(value, str) and value and value not in out:
                    out.append(value)
        if DEFAULT_BRANCH not in out:
            out.append(DEFAULT_BRANCH)
        return out

    def defaults(self) -> dict[str, Any]:
        """The top-level `default` of every config property that declares one (fresh copies)."""
        properties = self.config_schema.get("properties", {})
        return {name: copy.deepcopy(prop["default"]) for name, prop in properties.items() if "default" in prop}

    def with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with top-level defaults filled in for absent properties; the engine reads configs this way."""
        return {**self.defaults(), **config}


@dataclass(frozen=True, eq=False)
class _Entry:
    node_type: NodeType
    document: bytes
    etag: str
    config: CompiledSchema
    output: CompiledSchema | None


def etag_of(data: bytes) -> str:
    """A strong, stable ETag for `data`: the hex SHA-256 (HTTP callers wrap it in double quotes)."""
    return hashlib.sha256(data).hexdigest()


def _json_type(value: object) -> str:
    """The JSON type name of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: object, limit: int = 60) -> str:
    """A compact JSON rendering of `value` for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(message: str) -> str:
    """Keeps messages short even when jsonschema embeds a large instance in them."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


_BOUND_WORDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}


def _problems_of(error: ValidationError, prefix: tuple[str, ...], code: str) -> list[Problem]:
    """Turns one jsonschema error into user-facing problems with paths relative to `prefix`.

    A sub-schema may carry `x-message`: it replaces jsonschema's wording for every failure of that sub-schema
    except a wrong type.
    """
    path = prefix + tuple(str(part) for part in error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and expected is False and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in known and not any(re.search(p, str(k)) for p in patterns)]
        allowed = f"; allowed: {', '.join(known)}" if known and len(known) <= 25 else ""
        if extras:
            return [Problem((*path, str(k)), _clip(f"unknown property {str(k)!r}{allowed}"), code) for k in extras]
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    bound = _BOUND_WORDS.get(str(kind))
    if isinstance(custom, str) and kind != "type":
        message = custom
    elif bound is not None:
        message = f"must be {bound} {_short(expected)}; got {_short(instance)}"
    elif kind == "minLength" and expected == 1:
        message = "must not be empty"
    elif kind in ("minLength", "maxLength"):
        message = f"must be {'at least' if kind == 'minLength' else 'at most'} {expected} characters long"
    elif kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        message = f"must be {' or '.join(map(str, names))}, not {_json_type(instance)}"
    elif kind == "enum" and isinstance(expected, list):
        message = f"must be one of {', '.join(_short(v) for v in expected)}; got {_short(instance)}"
    elif kind == "const":
        message = f"must be {_short(expected)}; got {_short(instance)}"
    elif kind == "format":
        message = f"{_short(instance)} is not a valid {expected}"
    elif kind == "not":
        message = f"{_short(instance)} is not allowed here"
    else:
        message = error.message
    return [Problem(path, _clip(message), code)]


def _path_key(problem: Problem) -> tuple[tuple[int, int, str], ...]:
    """Sorts paths naturally: nodes[2] before nodes[10], and a parent before its children."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in problem.path)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicates and orders problems by path (stable for ties), so answers are deterministic."""
    return sorted(dict.fromkeys(problems), key=_path_key)


def schema_problems(
    validator: Any, instance: object, prefix: Sequence[str] = (), code: str = "INVALID"
) -> list[Problem]:
    """Every problem `validator` (a jsonschema validator) finds in `instance`, with paths under `prefix`, sorted."""
    found: list[Problem] = []
    for error in validator.iter_errors(instance):
        found.extend(_problems_of(error, tuple(prefix), code))
    return sorted(dict.fromkeys(found), key=lambda p: (_path_key(p), p.message))


Check = Callable[[Any], bool]

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
    """The fast check's answer for anything it does not understand: 'ask jsonschema'."""
    return False


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


def _keyword_check(key: str, value: Any, schema: dict[str, Any], root: Any, depth: int) -> Check | None:
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
        props = [(name, _compile_fast(sub, root, depth + 1)) for name, sub in value.items()]
        return lambda v: not isinstance(v, dict) or all(c(v[n]) for n, c in props if n in v)
    if key == "additionalProperties":
        if "patternProperties" in schema:
            return None
        known = frozenset(schema.get("properties", {}))
        if value is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        extra = _compile_fast(value, root, depth + 1)
        return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)
    if key == "items" and "prefixItems" not in schema:
        item = _compile_fast(value, root, depth + 1)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if key == "pattern" and isinstance(value, str):
        search = re.compile(value).search
        return lambda v: not isinstance(v, str) or search(v) is not None
    if key == "enum" and isinstance(value, list) and all(isinstance(x, str) for x in value):
        options = frozenset(value)
        return lambda v: isinstance(v, str) and v in options
    if key == "const" and isinstance(value, str):
        return lambda v: isinstance(v, str) and v == value
    if key == "uniqueItems":
        if value is not True:
            return lambda v: True
        return lambda v: not isinstance(v, list) or (all(isinstance(x, str) for x in v) and len(set(v)) == len(v))
    if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/") and isinstance(root, dict):
        target = root.get("$defs", {}).get(value[len("#/$defs/") :])
        return None if target is None else _compile_fast(target, root, depth + 1)
    return None


def _compile_fast(schema: Any, root: Any, depth: int = 0) -> Check:
    """A conservative pure-Python validity check: True only when the instance is certainly valid.

    It implements the handful of keywords the studio's schemas use for their hot paths, exactly; any other keyword
    makes that sub-schema answer False, which sends the caller to jsonschema for the authoritative, detailed answer.
    """
    if schema is True:
        return lambda v: True
    if not isinstance(schema, dict) or depth > 32:
        return _never
    checks: list[Check] = []
    for key, value in schema.items():
        if key == "x-json-schema" and value is True:
            return _never
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        check = _keyword_check(key, value, schema, root, depth)
        if check is None:
            return _never
        checks.append(check)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


_META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA)


def _x_json_schema(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """The `x-json-schema: true` keyword: the value must itself be a JSON Schema 2020-12 (input_schema, form_schema).

    A custom keyword rather than a `$ref` to the meta-schema keeps the documents free of remote references that a
    frontend form renderer would try to resolve.
    """
    if value is not True:
        return
    for error in _META_VALIDATOR.iter_errors(instance):
        yield ValidationError(f"not a valid JSON Schema: {error.message}", path=error.absolute_path)


StudioValidator: Any = validators.extend(Draft202012Validator, {"x-json-schema": _x_json_schema})


class CompiledSchema:
    """A meta-schema-checked JSON Schema: a fast validity check for the common case, jsonschema for the details."""

    def __init__(self, schema: object, where: str) -> None:
        """Checks `schema` against the 2020-12 meta-schema (raising RegistryError naming `where`) and compiles it."""
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise RegistryError(
                f"{where}: not a valid JSON Schema 2020-12: {exc.message} at {list(exc.absolute_path)}"
            ) from exc
        self.schema = schema
        self.validator: Any = StudioValidator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self.fast_check: Check = _compile_fast(schema, schema)

    def is_valid(self, instance: object) -> bool:
        """Whether `instance` matches the schema."""
        return self.fast_check(instance) or bool(self.validator.is_valid(instance))

    def problems(self, instance: object, prefix: Sequence[str] = (), code: str = "INVALID") -> list[Problem]:
        """Every problem in `instance`, sorted; the fast check skips jsonschema for valid input."""
        if self.fast_check(instance):
            return []
        return schema_problems(self.validator, instance, prefix, code)


def _parse_document(name: str, data: bytes) -> dict[str, Any]:
    """Parses one JSON file, naming the file in the error."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"{name}: must hold a JSON object")
    return doc


_NODE_FILE_VALIDATOR = Draft202012Validator(NODE_FILE_SCHEMA)


def _load_node_type(name: str, data: bytes) -> _Entry:
    """Parses and checks one node type file."""
    doc = _parse_document(name, data)
    errors = sorted(_NODE_FILE_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
        raise RegistryError(f"{name}: malformed node type file: {details}")
    type_ = doc["type"]
    if name.endswith(".json") and name.rsplit("/", 1)[-1][: -len(".json")] != type_:
        raise RegistryError(f"{name}: file name must be {type_}.json")
    dynamic = doc.get("dynamic_branches")
    config_schema, output_schema = doc["config_schema"], doc["output_schema"]
    if dynamic is not None and dynamic not in config_schema.get("properties", {}):
        raise RegistryError(f"{name}: dynamic_branches names {dynamic!r}, which is not a config property")
    config = CompiledSchema(config_schema, f"{name} config_schema")
    output = None if output_schema is None else CompiledSchema(output_schema, f"{name} output_schema")
    node_type = NodeType(
        type=type_,
        title=doc["title"],
        category=doc["category"],
        description=doc["description"],
        config_schema=config_schema,
        output_schema=output_schema,
        branches=tuple(doc["branches"]),
        dynamic_branches=dynamic,
        trigger=bool(doc.get("trigger", False)),
        raw=doc,
    )
    return _Entry(node_type, data, etag_of(data), config, output)


class NodeRegistry:
    """The node types by name, with precompiled validators and the raw documents for the HTTP/GraphQL layer."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        """Loads node type files given as {file name: bytes}; raises RegistryError on any broken or duplicate file."""
        entries: dict[str, _Entry] = {}
        for name in sorted(documents):
            entry = _load_node_type(name, documents[name])
            if entry.node_type.type in entries:
                raise RegistryError(f"{name}: node type {entry.node_type.type!r} is defined twice")
            entries[entry.node_type.type] = entry
        self._entries = entries
        self._sorted = sorted((e.node_type for e in entries.values()), key=lambda t: (t.category, t.type))
        self._all_document = b"[\n" + b",\n".join(entries[t.type].document.strip() for t in self._sorted) + b"\n]\n"
        self._all_etag = etag_of(self._all_document)

    def __contains__(self, type_: object) -> bool:
        return type_ in self._entries

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self._sorted)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, type_: str) -> NodeType | None:
        """The node type called `type_`, or None."""
        entry = self._entries.get(type_)
        return None if entry is None else entry.node_type

    def __getitem__(self, type_: str) -> NodeType:
        return self._entries[type_].node_type

    def all(self) -> list[NodeType]:
        """Every node type, sorted by category then type (the palette order)."""
        return list(self._sorted)

    def types(self) -> list[str]:
        """Every node type name, sorted alphabetically."""
        return sorted(self._entries)

    def triggers(self) -> list[NodeType]:
        """The trigger node types."""
        return [t for t in self._sorted if t.trigger]

    def validate_config(self, type_: str, config: object, prefix: Sequence[str] = ()) -> list[Problem]:
        """Every problem in a node's `config` (code INVALID_CONFIG), paths relative to the config under `prefix`."""
        entry = self._entries.get(type_)
        if entry is None:
            return [Problem(tuple(prefix), f"unknown node type {type_!r}", "UNKNOWN_NODE_TYPE")]
        return entry.config.problems(config, prefix, "INVALID_CONFIG")

    def validate_output(self, type_: str, output: object, prefix: Sequence[str] = ()) -> list[Problem]:
        """Every way a step `output` breaks its node type's output_schema (code INVALID_OUTPUT)."""
        entry = self._entries.get(type_)
        if entry is None:
            return [Problem(tuple(prefix), f"unknown node type {type_!r}", "UNKNOWN_NODE_TYPE")]
        if entry.output is None:
            return []
        return entry.output.problems(output, prefix, "INVALID_OUTPUT")

    def document(self, type_: str) -> bytes:
        """The registry file of `type_`, byte for byte (KeyError when unknown)."""
        return self._entries[type_].document

    def etag(self, type_: str) -> str:
        """The ETag of `document(type_)`."""
        return self._entries[type_].etag

    def registry_document(self) -> bytes:
        """Every registry file in `all()` order as one JSON array."""
        return self._all_document

    def registry_etag(self) -> str:
        """The ETag of `registry_document()`."""
        return self._all_etag


def _package_file(*parts: str) -> bytes:
    """Reads a file shipped in this package."""
    try:
        return resources.files(PACKAGE).joinpath(*parts).read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read {'/'.join(parts)} from {PACKAGE}: {exc}") from exc


@functools.cache
def load_registry(extra: tuple[tuple[str, bytes], ...] = ()) -> NodeRegistry:
    """The built-in registry from the package's `nodes/*.json`, plus plugin node types (loaded and checked once)."""
    folder = resources.files(PACKAGE).joinpath(NODES_DIR)
    documents = {
        f"{NODES_DIR}/{item.name}": item.read_bytes() for item in folder.iterdir() if item.name.endswith(".json")
    }
    if not documents:
        raise RegistryError(f"no node type files found in {PACKAGE}/{NODES_DIR}")
    return NodeRegistry({**documents, **dict(extra)})


def registry_document() -> bytes:
    """Every built-in node type as one JSON array (what the HTTP layer serves, with `etag_of` as its ETag)."""
    return load_registry().registry_document()


@functools.cache
def workflow_schema_document() -> bytes:
    """The raw bytes of workflow.schema.json."""
    return _package_file(WORKFLOW_SCHEMA_FILE)


@functools.cache
def step_output_schema_document() -> bytes:
    """The raw bytes of step_output.schema.json."""
    return _package_file(STEP_OUTPUT_SCHEMA_FILE)


def workflow_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow definition (a fresh copy the caller may change)."""
    return _parse_document(WORKFLOW_SCHEMA_FILE, workflow_schema_document())


def step_output_schema() -> dict[str, Any]:
    """The JSON Schema of a step's output envelope (a fresh copy the caller may change)."""
    return _parse_document(STEP_OUTPUT_SCHEMA_FILE, step_output_schema_document())


@functools.cache
def workflow_compiled() -> CompiledSchema:
    """workflow.schema.json, checked and compiled once."""
    return CompiledSchema(workflow_schema(), WORKFLOW_SCHEMA_FILE)


def workflow_validator() -> Any:
    """The jsonschema validator of workflow.schema.json."""
    return workflow_compiled().validator


def validate_workflow_document(definition: object) -> list[Problem]:
    """Every way `definition` breaks workflow.schema.json (code INVALID_SCHEMA); node configs are not looked at."""
    return workflow_compiled().problems(definition, (), "INVALID_SCHEMA")


@functools.cache
def step_output_compiled() -> CompiledSchema:
    """step_output.schema.json, checked and compiled once."""
    return CompiledSchema(step_output_schema(), STEP_OUTPUT_SCHEMA_FILE)


def step_output_validator() -> Any:
    """The jsonschema validator of step_output.schema.json."""
    return step_output_compiled().validator


def validate_step_output(envelope: object) -> list[Problem]:
    """Every way a step envelope breaks step_output.schema.json (code INVALID_ENVELOPE)."""
    return step_output_compiled().problems(envelope, (), "INVALID_ENVELOPE")
