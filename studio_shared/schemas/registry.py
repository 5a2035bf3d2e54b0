"""The node-type registry: loads `nodes/*.json`, validates configs and outputs, and serves the raw documents.

Every schema file is checked when the registry loads, so a broken file fails the process at start-up rather
than a user's save. The registry is read-only after loading; treat every dict it hands out as immutable.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from studio_shared.errors import Problem
from studio_shared.schemas import validators

PACKAGE = "studio_shared.schemas"
WORKFLOW_SCHEMA_FILE = "workflow.schema.json"
STEP_OUTPUT_SCHEMA_FILE = "step_output.schema.json"
NODES_DIR = "nodes"
DEFAULT_BRANCH = "default"

_BRANCH_NAME = {"type": "string", "minLength": 1, "maxLength": 64}

# How the builder draws a type: an icon (the `d` of one SVG path on a 24 x 24 grid, drawn as a 2-unit stroke; the
# built-in ones are Lucide's, ISC licence) and its category's colour. Path data holds only path commands and
# numbers, and a colour only a hex triplet: nothing in a plugin's file can become markup. A type without them
# gets these (a box, slate).
DEFAULT_ICON = (
    "M21 8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4"
    "A2 2 0 0 0 21 16ZM3.3 7l8.7 5 8.7-5M12 22V12"
)
DEFAULT_COLOR = "#64748b"

# Structure every nodes/*.json file must have (checked at load; the node schemas themselves are checked separately).
NODE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["type", "title", "category", "description", "config_schema", "output_schema", "branches"],
    "properties": {
        "type": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", "maxLength": 100},
        "title": {"type": "string", "minLength": 1},
        "category": {"type": "string", "minLength": 1},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "icon": {"type": "string", "pattern": r"^[MmLlHhVvCcSsQqTtAaZz0-9eE.,+\s-]+$", "maxLength": 4000},
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
    icon: str = DEFAULT_ICON
    color: str = DEFAULT_COLOR

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


class CompiledSchema(validators.CompiledSchema):
    """One of the studio's own schemas (a registry file's config or output schema, the workflow document), compiled
    by the validator factory; a broken one raises RegistryError naming ``where``."""

    def __init__(self, schema: object, where: str) -> None:
        try:
            super().__init__(schema, config=True, limits=False)
        except validators.UnusableSchema as exc:
            raise RegistryError(f"{where}: not a schema the studio accepts: {exc}") from exc


def _parse_document(name: str, data: bytes) -> dict[str, Any]:
    """Parses one JSON file, naming the file in the error."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"{name}: must hold a JSON object")
    return doc


_NODE_FILE = validators.CompiledSchema(NODE_FILE_SCHEMA, limits=False)


def _load_node_type(name: str, data: bytes) -> _Entry:
    """Parses and checks one node type file."""
    doc = _parse_document(name, data)
    if problems := _NODE_FILE.problems(doc):
        details = "; ".join(f"{p.dotted or '<root>'}: {p.message}" for p in problems)
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
        icon=doc.get("icon", DEFAULT_ICON),
        color=doc.get("color", DEFAULT_COLOR).lower(),
    )
    return _Entry(node_type, data, etag_of(data), config, output)


def _check_category_colors(entries: Mapping[str, _Entry]) -> None:
    """A category has one colour: types that declare one must agree (a palette reads by category)."""
    declared: dict[str, tuple[str, str]] = {}
    for entry in entries.values():
        node = entry.node_type
        if "color" not in node.raw:
            continue
        first = declared.setdefault(node.category, (node.color, node.type))
        if first[0] != node.color:
            raise RegistryError(
                f"{node.type}: category {node.category!r} is {first[0]} (as {first[1]} declares), not {node.color}"
            )


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
        _check_category_colors(entries)
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
