"""Authoring checks of a draft: every template in every node's config, and what its references read.

Each template is parsed once in the sandbox (``templates.inspection``), never rendered. Problems name the config
field (``nodes[3].config.body``) and the place in the text (``at 14``, a 0-based character offset, with line and
column when the template has several lines).

References are checked against the graph and the schemas:

* ``steps.X`` must name a node upstream of the one reading it: a missing node, the node itself, or one that is
  not upstream (downstream, or on no path to it) is an error. An upstream node that may not have succeeded by
  then (it is not on every path from the start, i.e. on another branch of a condition or switch, or it has
  ``on_error: continue``) is a warning. Only ``steps.X.output`` exists.
* ``input.…`` is checked against the trigger's ``input_schema`` (without one, its type's output schema);
  ``steps.X.output.…`` against X's output schema: the registry's ``output_schema``, a trigger's
  ``input_schema``, or for ``transform`` the shape of its ``value``.
  A field missing from a closed schema (``additionalProperties: false``) is an error, from an open one that lists
  its properties a warning. Schemas that say nothing about a value (``{}``, ``$ref``, ``anyOf`` …) end the check.
* Dynamic access (``steps[name]``), called methods (``input.get('x')``) and the names a node adds for its own
  fields (foreach's ``item``) are not guessed at; a reference under ``| default`` or ``is defined`` may be absent,
  so what would be an error there is a warning, and a warning nothing.

These problems describe a draft's templates, not its structure: a draft with them can be saved (the payload
lists them), but not published while one is an error. Warnings never block.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studio_shared.errors import ERROR, WARNING, Problem, Severity
from studio_shared.schemas.messages import clip
from studio_shared.schemas.registry import NodeRegistry
from studio_shared.templates.allowlists import DICT_ATTRIBUTES, SEQUENCE_ATTRIBUTES, STR_ATTRIBUTES
from studio_shared.templates.environment import SandboxEnvironment, build_environment
from studio_shared.templates.inspection import Inspection, Reference, Segment, inspect_template
from studio_shared.templates.limits import MAX_DEPTH
from studio_shared.templates.templates import default_templates

TEMPLATE_CODES = frozenset(
    {
        "TEMPLATE_SYNTAX",
        "TEMPLATE_REFUSED",
        "TEMPLATE_TOO_LONG",
        "UNKNOWN_FILTER",
        "UNKNOWN_TEST",
        "UNKNOWN_NAME",
        "UNKNOWN_STEP",
        "STEP_NOT_UPSTREAM",
        "STEP_MAY_BE_SKIPPED",
        "NO_SUCH_FIELD",
        "UNDECLARED_FIELD",
    }
)
# Problems with a field's declared shape: a test run may still go ahead (a pinned or real output can prove the
# declared schema wrong, and the run shows what the data is); every other error is refused for tests too.
SHAPE_CODES = frozenset({"NO_SUCH_FIELD", "UNDECLARED_FIELD"})
RUN_FIELDS = ("id", "workflow", "version", "trigger", "resume_urls")

# Config fields a node renders itself, with names of its own in scope; None: the field is not a template.
_OWN_NAMES: dict[tuple[str, str], frozenset[str] | None] = {
    ("foreach", "input"): frozenset({"item", "index"}),
    ("loop", "input"): frozenset({"iteration", "previous"}),
    ("loop", "until"): frozenset({"output", "iteration"}),
    ("human.approval", "form_schema"): None,
    ("code", "source"): None,  # the step's own program, passed as written
}
_TYPE_WORDS = {
    "string": "text",
    "integer": "a number",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
    "array": "a list",
}


@functools.cache
def _environment() -> SandboxEnvironment:
    return build_environment()


CACHED_CHARS = 1_000  # templates up to this long are cached: 4,096 of them hold a few MB at most


@functools.lru_cache(maxsize=4096)
def _inspected(source: str, names: frozenset[str]) -> Inspection:
    return inspect_template(_environment(), source, names)


def inspected(source: str, names: frozenset[str]) -> Inspection:
    """The inspection of one template (immutable, so shared): a draft is checked again on every validation, save
    and publish, and most of its templates have not changed in between. Long templates are parsed every time."""
    if len(source) > CACHED_CHARS:
        return inspect_template(_environment(), source, names)
    return _inspected(source, names)


def clear_cache() -> None:
    """Forget every cached inspection (benchmarks time the cold parse with it)."""
    _inspected.cache_clear()


def _where(source: str, offset: int) -> str:
    """``at 14``, with the line and column (1-based) when the template has several lines."""
    if "\n" not in source and "\r" not in source:
        return f"at {offset}"
    before = source[:offset].replace("\r\n", "\n").replace("\r", "\n")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"at {offset} (line {line}, column {column})"


def _located(message: str, where: str) -> str:
    """The place after the message's first clause: ``unknown filter 'x' at 14; did you mean …``."""
    cuts = [i for i in (message.find(": "), message.find("; "), message.find(" — ")) if i > 0]
    if not cuts:
        return f"{message} {where}"
    cut = min(cuts)
    return f"{message[:cut]} {where}{message[cut:]}"


@dataclass(frozen=True, slots=True)
class _Graph:
    """Node ids with their positions, and for each node the bitsets of its ancestors and dominators."""

    index: Mapping[str, int]
    ancestors: Sequence[int] | None  # None: the edges have a cycle, so order is not judged
    dominators: Sequence[int] | None


def _graph(nodes: Sequence[Any], edges: object) -> _Graph:
    index: dict[str, int] = {}
    for i, raw in enumerate(nodes):
        node_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(node_id, str) and node_id not in index:
            index[node_id] = i
    preds: list[list[int]] = [[] for _ in nodes]
    succs: list[list[int]] = [[] for _ in nodes]
    for raw in edges if isinstance(edges, list) else []:
        if not isinstance(raw, dict):
            continue
        ends = raw.get("source"), raw.get("target")
        if not isinstance(ends[0], str) or not isinstance(ends[1], str):
            continue  # the schema stage reported it
        source, target = index.get(ends[0]), index.get(ends[1])
        if source is None or target is None or source == target:
            continue
        preds[target].append(source)
        succs[source].append(target)
    indegree = [len(p) for p in preds]
    order = [v for v in range(len(nodes)) if indegree[v] == 0]
    for v in order:  # Kahn: the list grows while it is walked
        for t in succs[v]:
            indegree[t] -= 1
            if indegree[t] == 0:
                order.append(t)
    if len(order) != len(nodes):
        return _Graph(index, None, None)
    ancestors = [0] * len(nodes)
    dominators = [0] * len(nodes)
    for v in order:
        above = 0
        common = -1
        for p in preds[v]:
            above |= ancestors[p] | (1 << p)
            common &= dominators[p]
        ancestors[v] = above
        dominators[v] = (common if preds[v] else 0) | (1 << v)
    return _Graph(index, ancestors, dominators)


def _is_upstream(graph: _Graph, ancestor: int, node: int) -> bool:
    return graph.ancestors is not None and bool(graph.ancestors[node] >> ancestor & 1)


def _dominates(graph: _Graph, ancestor: int, node: int) -> bool:
    return graph.dominators is not None and bool(graph.dominators[node] >> ancestor & 1)


def _infer(value: Any) -> Any:
    """The JSON Schema a transform's ``value`` renders to, as far as it can be known without rendering."""
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {str(k): _infer(v) for k, v in value.items()},
            "additionalProperties": False,
        }
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, str):
        if "{{" not in value:
            return {"type": "string"}
        stripped = value.strip()
        whole = stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1
        return {} if whole else {"type": "string"}  # one expression keeps its native value: anything
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    return {"type": "null"}


_OPAQUE = ("$ref", "$dynamicRef", "anyOf", "oneOf", "allOf", "not", "if", "patternProperties")
_METHODS = {"string": STR_ATTRIBUTES, "array": SEQUENCE_ATTRIBUTES, "object": DICT_ATTRIBUTES}


@dataclass(frozen=True, slots=True)
class _Finding:
    offset: int
    message: str
    code: str
    severity: Severity


def _walk_schema(schema: Any, segments: Sequence[Segment], label: str) -> _Finding | None:
    """The first segment the schema rules out (closed: error; open with listed properties: warning), or None."""
    current = schema
    trail = label
    for segment in segments:
        if not isinstance(current, dict) or any(key in current for key in _OPAQUE):
            return None
        declared = current.get("type")
        types = {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else None
        key = segment.key
        if isinstance(key, int):
            if types is not None and "array" not in types:
                return None  # an index into text or an object: not guessed at
            items = current.get("items")
            current, trail = items if isinstance(items, dict) else None, f"{trail}[{key}]"
            continue
        properties = current.get("properties")
        if types is not None and "object" not in types:
            if any(key in _METHODS.get(t, ()) for t in types):
                return None
            kinds = " or ".join(sorted({_TYPE_WORDS.get(t, t) for t in types}))
            return _Finding(segment.offset, f"{trail} is {kinds}, so it has no field {key!r}", "NO_SUCH_FIELD", ERROR)
        if isinstance(properties, dict) and key in properties:
            current, trail = properties[key], f"{trail}.{key}"
            continue
        if key in DICT_ATTRIBUTES:
            return None  # a dict method, e.g. .items
        extra = current.get("additionalProperties", current.get("unevaluatedProperties"))
        listed = ", ".join(sorted(properties)) if isinstance(properties, dict) and properties else ""
        if extra is False:
            has = f"has only: {listed}" if listed else "has no fields"
            return _Finding(segment.offset, f"unknown field {key!r}: {trail} {has}", "NO_SUCH_FIELD", ERROR)
        if isinstance(extra, dict) and extra:
            current, trail = extra, f"{trail}.{key}"
            continue
        if not listed:
            return None  # nothing is said about its fields
        return _Finding(
            segment.offset,
            f"field {key!r} is not declared: {trail} lists {listed} (and may have others)",
            "UNDECLARED_FIELD",
            WARNING,
        )
    return None


class _Checker:
    def __init__(self, definition: Mapping[str, Any], registry: NodeRegistry) -> None:
        self.registry = registry
        self.nodes: list[Any] = definition["nodes"]
        self.graph = _graph(self.nodes, definition.get("edges", []))
        self.max_chars = default_templates().max_template_chars
        self.trigger_schema: Any = None
        for raw in self.nodes:
            type_name = raw.get("type") if isinstance(raw, dict) else None
            node_type = registry.get(type_name) if isinstance(type_name, str) else None
            if node_type is not None and node_type.trigger:
                config = raw.get("config")
                declared = config.get("input_schema") if isinstance(config, dict) else None
                # Without an input_schema, the trigger type's output is the input (a message's text, channel …).
                self.trigger_schema = declared if isinstance(declared, dict) else node_type.output_schema
                break
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        for i, raw in enumerate(self.nodes):
            if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
                continue
            node_type = raw.get("type")
            for key, value in raw["config"].items():
                names: frozenset[str] | None = _OWN_NAMES.get((str(node_type), str(key)), frozenset())
                if names is None:
                    continue
                path = ("nodes", str(i), "config", str(key))
                if node_type == "agent" and key == "tools" and isinstance(value, list):
                    for t, tool in enumerate(value):
                        if isinstance(tool, dict) and "request" in tool:
                            self._walk(i, tool["request"], (*path, str(t), "request"), frozenset({"args"}), 2)
                    continue
                self._walk(i, value, path, names, 1)
        return self.problems

    def _walk(self, node: int, value: Any, path: tuple[str, ...], names: frozenset[str], depth: int) -> None:
        if isinstance(value, str):
            if "{{" in value:
                self._template(node, value, path, names)
        elif depth >= MAX_DEPTH:
            return  # the schema stage and the renderer report configs nested this deeply
        elif isinstance(value, dict):
            for key, item in value.items():
                self._walk(node, item, (*path, str(key)), names, depth + 1)
        elif isinstance(value, list):
            for k, item in enumerate(value):
                self._walk(node, item, (*path, str(k)), names, depth + 1)

    def _add(
        self, path: tuple[str, ...], source: str, offset: int, message: str, code: str, severity: Severity
    ) -> None:
        self.problems.append(Problem(path, clip(_located(message, _where(source, offset))), code, severity))

    def _template(self, node: int, source: str, path: tuple[str, ...], names: frozenset[str]) -> None:
        if len(source) > self.max_chars:
            self.problems.append(
                Problem(
                    path,
                    f"the template is {len(source):,} characters long; the limit is {self.max_chars:,} — shorten it",
                    "TEMPLATE_TOO_LONG",
                )
            )
            return
        inspection = inspected(source, names)
        for finding in inspection.findings:
            self._add(path, source, finding.offset, finding.message, finding.code, ERROR)
        for reference in inspection.references:
            found = self._reference(node, reference)
            if found is None:
                continue
            severity = found.severity
            if reference.guarded:
                if severity == WARNING:
                    continue
                severity = WARNING
            self._add(path, source, found.offset, found.message, found.code, severity)

    def _reference(self, node: int, reference: Reference) -> _Finding | None:
        segments = reference.segments
        if reference.name == "input":
            return _walk_schema(self.trigger_schema, segments, "input") if self.trigger_schema is not None else None
        if reference.name == "run":
            if segments and segments[0].key not in RUN_FIELDS:
                first = segments[0]
                return _Finding(
                    first.offset,
                    f"unknown field {first.key!r}: run has only: {', '.join(RUN_FIELDS)}",
                    "NO_SUCH_FIELD",
                    ERROR,
                )
            if len(segments) >= 2 and segments[0].key == "resume_urls":
                return self._resume_url(segments[1])
            return None
        if reference.name != "steps" or not segments:
            return None  # a node's own names (item, args, …): not guessed at
        return self._step(node, segments)

    def _resume_url(self, segment: Segment) -> _Finding | None:
        """``run.resume_urls.X``: X must be a wait.event node (its URL is known from the start: any node reads it)."""
        waits = [
            raw["id"]
            for raw in self.nodes
            if isinstance(raw, dict) and raw.get("type") == "wait.event" and isinstance(raw.get("id"), str)
        ]
        if segment.key in waits:
            return None
        listed = f"the wait.event nodes are {', '.join(waits[:8])}" if waits else "this workflow has no wait.event node"
        return _Finding(
            segment.offset,
            f"unknown field {segment.key!r}: run.resume_urls has the resume URL of each wait.event node; {listed}",
            "NO_SUCH_FIELD",
            ERROR,
        )

    def _step(self, node: int, segments: Sequence[Segment]) -> _Finding | None:
        first = segments[0]
        step = first.key
        position = self.graph.index.get(step) if isinstance(step, str) else None
        if position is None:
            known = [n for n in self.graph.index if n != self.nodes[node].get("id")]
            hint = f"; the nodes are {', '.join(known[:8])}{' …' if len(known) > 8 else ''}" if known else ""
            return _Finding(first.offset, f"unknown step {step!r}: no node has this id{hint}", "UNKNOWN_STEP", ERROR)
        if position == node:
            return _Finding(
                first.offset,
                f"step {step!r} is this node: a node cannot read its own output",
                "STEP_NOT_UPSTREAM",
                ERROR,
            )
        if self.graph.ancestors is not None:
            if not _is_upstream(self.graph, position, node):
                where = (
                    "runs after this node" if _is_upstream(self.graph, node, position) else "has no path to this node"
                )
                return _Finding(
                    first.offset,
                    f"step {step!r} is not upstream: it {where}, so its output is never there; "
                    "connect it before this node",
                    "STEP_NOT_UPSTREAM",
                    ERROR,
                )
            raw = self.nodes[position]
            if not _dominates(self.graph, position, node):
                return _Finding(
                    first.offset,
                    f"step {step!r} may be skipped: this node can run without it (it is on another branch); "
                    f"use steps.{step}.output | default(…) or steps.get('{step}')",
                    "STEP_MAY_BE_SKIPPED",
                    WARNING,
                )
            if raw.get("on_error") == "continue":
                return _Finding(
                    first.offset,
                    f"step {step!r} may have failed: it has on_error: continue, and a failed step has no output",
                    "STEP_MAY_BE_SKIPPED",
                    WARNING,
                )
        if len(segments) < 2:
            return None
        second = segments[1]
        if second.key != "output":
            return _Finding(
                second.offset, f"unknown field {second.key!r}: steps.{step} has only: output", "NO_SUCH_FIELD", ERROR
            )
        schema = self._output_schema(self.nodes[position])
        return _walk_schema(schema, segments[2:], f"steps.{step}.output") if schema is not None else None

    def _output_schema(self, raw: Mapping[str, Any]) -> Any:
        type_name = raw.get("type")
        node_type = self.registry.get(type_name) if isinstance(type_name, str) else None
        if node_type is None:
            return None
        config = raw.get("config")
        config = config if isinstance(config, dict) else {}
        if node_type.trigger and isinstance(config.get("input_schema"), dict):
            return config["input_schema"]
        if node_type.type == "transform":
            return _infer(config.get("value"))
        return node_type.output_schema


def check_templates(definition: Mapping[str, Any], registry: NodeRegistry) -> list[Problem]:
    """Every problem in the templates of a definition whose ``nodes`` is a list (unsorted)."""
    return _Checker(definition, registry).run()
