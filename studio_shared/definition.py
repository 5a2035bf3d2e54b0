"""Validation and the typed model of a workflow definition (contract §3), shared by the API and the run engine.

Pure and synchronous: no I/O beyond the packaged schema files. Every graph algorithm here is iterative and
O(V + E) (topological order: O((V + E) log V) for its deterministic tie-break), so definitions with thousands
of nodes neither hit the recursion limit nor slow down saves.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from studio_shared.authoring import check_templates
from studio_shared.errors import Problem, ValidationFailed
from studio_shared.schemas.admission import ADMISSION_CODES
from studio_shared.schemas.messages import clip, sort_problems
from studio_shared.schemas.registry import NodeRegistry, NodeType, load_registry, validate_workflow_document
from studio_shared.schemas.validators import UnusableSchema, user_schema

OnError = Literal["fail", "continue"]

__all__ = [
    "Definition",
    "Edge",
    "Node",
    "OnError",
    "Position",
    "RetryPolicy",
    "parse_definition",
    "validate_definition",
]


JITTER = 0.2  # a jittered retry waits its interval times a factor in [0.8, 1.2] (workflow.schema.json: ±20 %)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed step is retried (defaults match workflow.schema.json)."""

    max_attempts: int = 1
    initial_interval_s: float = 1.0
    backoff: float = 2.0
    max_interval_s: float = 300.0
    jitter: bool = True

    def interval_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), before jitter is applied."""
        exponent = max(attempt, 1) - 1
        try:
            wait = self.initial_interval_s * self.backoff**exponent
        except OverflowError:
            wait = self.max_interval_s
        return min(wait, self.max_interval_s)

    def wait_after(self, attempt: int, draw: float) -> float:
        """Seconds to wait after failed attempt `attempt`: `interval_after`, randomised by up to ±JITTER when
        `jitter` is on (`draw`, uniform in [0, 1], picks where: 0 is the shortest wait, 1 the longest), and never
        past `max_interval_s`. The caller stores the result: a resumed run must not draw again."""
        wait = self.interval_after(attempt)
        if self.jitter:
            wait *= 1 + JITTER * (2 * min(max(draw, 0.0), 1.0) - 1)
        return min(wait, self.max_interval_s)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the builder draws a node."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a definition; `config` is a private copy of the definition's config, without defaults applied."""

    id: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    timeout_s: float | None = None
    on_error: OnError = "fail"
    position: Position | None = None
    label: str | None = None
    notes: str | None = None
    trigger: bool = False
    index: int = 0


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge; `branch` is the source's outgoing branch (None from plain nodes)."""

    source: str
    target: str
    branch: str | None = None
    id: str | None = None
    index: int = 0


@dataclass(frozen=True)
class Definition:
    """A validated workflow definition with the graph look-ups the engine needs (all answers in definition order)."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    _by_id: dict[str, Node] = field(init=False, repr=False, compare=False)
    _out: dict[str, tuple[Edge, ...]] = field(init=False, repr=False, compare=False)
    _in: dict[str, tuple[Edge, ...]] = field(init=False, repr=False, compare=False)
    _order: list[tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Builds the indexes; raises ValueError on duplicate ids or edges to unknown nodes."""
        by_id: dict[str, Node] = {}
        for n in self.nodes:
            if n.id in by_id:
                raise ValueError(f"duplicate node id {n.id!r}")
            by_id[n.id] = n
        out: dict[str, list[Edge]] = {n.id: [] for n in self.nodes}
        inc: dict[str, list[Edge]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            if e.source not in by_id or e.target not in by_id:
                raise ValueError(f"edge {e.source!r} -> {e.target!r} references an unknown node")
            out[e.source].append(e)
            inc[e.target].append(e)
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_out", {k: tuple(v) for k, v in out.items()})
        object.__setattr__(self, "_in", {k: tuple(v) for k, v in inc.items()})
        object.__setattr__(self, "_order", [])

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_id

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, node_id: str) -> Node:
        """The node called `node_id` (KeyError when there is none)."""
        return self._by_id[node_id]

    def get(self, node_id: str) -> Node | None:
        """The node called `node_id`, or None."""
        return self._by_id.get(node_id)

    @property
    def trigger(self) -> Node:
        """The trigger node (flagged by parse_definition; else the first `trigger.*` node); ValueError if none."""
        for n in self.nodes:
            if n.trigger:
                return n
        for n in self.nodes:
            if n.type.startswith("trigger."):
                return n
        raise ValueError("the definition has no trigger node")

    def outgoing(self, node_id: str) -> tuple[Edge, ...]:
        """Edges leaving `node_id`, in definition order."""
        return self._out[node_id]

    def incoming(self, node_id: str) -> tuple[Edge, ...]:
        """Edges entering `node_id`, in definition order."""
        return self._in[node_id]

    def topological_order(self) -> tuple[str, ...]:
        """Node ids, every node after all its predecessors; ties go to the earlier node (Kahn with a heap)."""
        if self._order:
            return self._order[0]
        position = {n.id: i for i, n in enumerate(self.nodes)}
        indegree = {n.id: len(self._in[n.id]) for n in self.nodes}
        ready = [i for i, n in enumerate(self.nodes) if indegree[n.id] == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node_id = self.nodes[heapq.heappop(ready)].id
            order.append(node_id)
            for e in self._out[node_id]:
                indegree[e.target] -= 1
                if indegree[e.target] == 0:
                    heapq.heappush(ready, position[e.target])
        if len(order) != len(self.nodes):
            raise ValueError("the definition has a cycle")
        result = tuple(order)
        self._order.append(result)
        return result

    def _reach(self, start: str, edges: Mapping[str, tuple[Edge, ...]], forward: bool) -> set[str]:
        """Every node reachable from `start` (excluded unless on a cycle) along `edges`, iteratively."""
        seen: set[str] = set()
        stack = [start]
        while stack:
            for e in edges[stack.pop()]:
                nxt = e.target if forward else e.source
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def downstream_of(self, node_id: str) -> set[str]:
        """Ids of every node reachable from `node_id` (transitively), not including itself."""
        if node_id not in self._by_id:
            raise KeyError(node_id)
        return self._reach(node_id, self._out, forward=True) - {node_id}

    def upstream_of(self, node_id: str) -> set[str]:
        """Ids of every node from which `node_id` is reachable, not including itself."""
        if node_id not in self._by_id:
            raise KeyError(node_id)
        return self._reach(node_id, self._in, forward=False) - {node_id}

    def sinks(self) -> tuple[str, ...]:
        """Ids of the nodes with no outgoing edge (their outputs make up Run.output), in definition order."""
        return tuple(n.id for n in self.nodes if not self._out[n.id])


# ---------------------------------------------------------------------------------------------- validation


def _p(*parts: object) -> tuple[str, ...]:
    """A problem path from mixed str/int parts."""
    return tuple(str(part) for part in parts)


@dataclass
class _Graph:
    """The part of a (possibly invalid) definition the graph checks can trust."""

    ids: list[str] = field(default_factory=list)  # node ids in definition order (first occurrence only)
    index_of: dict[str, int] = field(default_factory=dict)  # id -> position in `ids`
    adjacency: list[list[tuple[int, int]]] = field(default_factory=list)  # per node: (target position, edge index)


def _check_nodes(
    nodes: list[Any], registry: NodeRegistry, problems: list[Problem]
) -> tuple[_Graph, dict[str, tuple[NodeType, Mapping[str, Any]]], list[str], bool]:
    """Per-node checks: duplicate ids, known types, configs. Returns the graph skeleton, typed nodes, triggers."""
    graph = _Graph()
    typed: dict[str, tuple[NodeType, Mapping[str, Any]]] = {}
    triggers: list[str] = []
    undetermined = False  # some node's type is unknown, so the trigger count cannot be judged
    first_at: dict[str, int] = {}
    for i, raw in enumerate(nodes):
        if not isinstance(raw, dict):
            undetermined = True
            continue
        node_id, type_name, config = raw.get("id"), raw.get("type"), raw.get("config", {})
        if isinstance(node_id, str):
            if node_id in first_at:
                problems.append(
                    Problem(
                        _p("nodes", i, "id"),
                        f"duplicate node id {node_id!r} (already used by nodes[{first_at[node_id]}])",
                        "DUPLICATE_ID",
                    )
                )
                node_id = None
            else:
                first_at[node_id] = i
                graph.index_of[node_id] = len(graph.ids)
                graph.ids.append(node_id)
                graph.adjacency.append([])
        if not isinstance(type_name, str):
            undetermined = True
            continue
        node_type = registry.get(type_name)
        if node_type is None:
            problems.append(Problem(_p("nodes", i, "type"), f"unknown node type {type_name!r}", "UNKNOWN_NODE_TYPE"))
            undetermined = True
            continue
        if isinstance(config, dict):
            problems.extend(registry.validate_config(type_name, config, _p("nodes", i, "config")))
        if node_type.trigger:
            triggers.append(node_id if isinstance(node_id, str) else f"nodes[{i}]")
        if isinstance(node_id, str):
            typed[node_id] = (node_type, config if isinstance(config, dict) else {})
    return graph, typed, triggers, undetermined


WAIT_EVENT = "wait.event"


def wait_event_name(node_id: str, config: Any) -> str:
    """The name ``signalRun`` resumes a ``wait.event`` step with: its config's ``event``, else the step id."""
    event = config.get("event") if isinstance(config, Mapping) else None
    return event if isinstance(event, str) and event else node_id


def _check_wait_events(nodes: list[Any], problems: list[Problem]) -> None:
    """Each wait.event step of a workflow listens for a name of its own: signalRun names one step."""
    first_at: dict[str, int] = {}
    for i, raw in enumerate(nodes):
        if not isinstance(raw, dict) or raw.get("type") != WAIT_EVENT or not isinstance(raw.get("id"), str):
            continue
        name = wait_event_name(raw["id"], raw.get("config"))
        if name in first_at:
            problems.append(
                Problem(
                    _p("nodes", i, "config", "event"),
                    f"nodes[{first_at[name]}] waits for event {name!r} already: give each wait.event step its own "
                    "event name (signalRun resumes one step by it)",
                    "DUPLICATE_EVENT",
                )
            )
        else:
            first_at[name] = i


def _check_edges(
    edges: list[Any],
    graph: _Graph,
    typed: Mapping[str, tuple[NodeType, Mapping[str, Any]]],
    problems: list[Problem],
) -> None:
    """Per-edge checks (ids, endpoints, self loops, duplicates, triggers, branches); fills graph.adjacency."""
    edge_ids: dict[str, int] = {}
    seen: dict[tuple[str, str, str | None], int] = {}
    for j, raw in enumerate(edges):
        if not isinstance(raw, dict):
            continue
        edge_id = raw.get("id")
        if isinstance(edge_id, str):
            if edge_id in edge_ids:
                problems.append(
                    Problem(
                        _p("edges", j, "id"),
                        f"duplicate edge id {edge_id!r} (edges[{edge_ids[edge_id]}])",
                        "DUPLICATE_ID",
                    )
                )
            else:
                edge_ids[edge_id] = j
        source, target, branch = raw.get("source"), raw.get("target"), raw.get("branch")
        if (
            not isinstance(source, str)
            or not isinstance(target, str)
            or not (branch is None or isinstance(branch, str))
        ):
            continue  # the schema stage reported it
        known = True
        for end, node_id in (("source", source), ("target", target)):
            if node_id not in graph.index_of:
                problems.append(
                    Problem(_p("edges", j, end), f"edge {end} {node_id!r} is not a node id", "UNKNOWN_NODE")
                )
                known = False
        if not known:
            continue
        if source == target:
            problems.append(Problem(_p("edges", j), f"edge from {source!r} to itself", "SELF_LOOP"))
            continue
        key = (source, target, branch)
        if key in seen:
            problems.append(Problem(_p("edges", j), f"same edge as edges[{seen[key]}]", "DUPLICATE_EDGE"))
            continue
        seen[key] = j
        if branch != "":  # an empty branch was already reported by the schema stage
            _check_branch(j, source, branch, typed, problems)
        target_type = typed.get(target)
        if target_type is not None and target_type[0].trigger:
            problems.append(
                Problem(_p("edges", j, "target"), f"{target!r} is a trigger; no edge may enter it", "EDGE_INTO_TRIGGER")
            )
            continue
        graph.adjacency[graph.index_of[source]].append((graph.index_of[target], j))


def _check_branch(
    j: int,
    source: str,
    branch: str | None,
    typed: Mapping[str, tuple[NodeType, Mapping[str, Any]]],
    problems: list[Problem],
) -> None:
    """Checks an edge's branch against the branches its source node declares."""
    if source not in typed:
        return  # unknown type or broken node: already reported
    node_type, config = typed[source]
    declared = node_type.branches_for(config)
    if not declared:
        if branch is not None:
            problems.append(
                Problem(
                    _p("edges", j, "branch"),
                    f"node {source!r} ({node_type.type}) has no branches; remove the branch {branch!r}",
                    "BRANCH_ON_PLAIN_NODE",
                )
            )
    elif branch is None:
        problems.append(
            Problem(
                _p("edges", j),
                f"edges leaving {source!r} ({node_type.type}) need a branch: one of {', '.join(declared)}",
                "MISSING_BRANCH",
            )
        )
    elif branch not in declared:
        problems.append(
            Problem(
                _p("edges", j, "branch"),
                f"node {source!r} ({node_type.type}) has no branch {branch!r}; it has {', '.join(declared)}",
                "UNKNOWN_BRANCH",
            )
        )


def _cyclic_components(adjacency: Sequence[Sequence[tuple[int, int]]]) -> list[list[int]]:
    """Strongly connected components with more than one node (Kahn pruning, then iterative Kosaraju)."""
    n = len(adjacency)
    indegree = [0] * n
    for targets in adjacency:
        for t, _ in targets:
            indegree[t] += 1
    queue = [v for v in range(n) if indegree[v] == 0]
    removed = [False] * n
    while queue:
        v = queue.pop()
        removed[v] = True
        for t, _ in adjacency[v]:
            indegree[t] -= 1
            if indegree[t] == 0:
                queue.append(t)
    remaining = [v for v in range(n) if not removed[v]]
    if not remaining:
        return []
    finish: list[int] = []
    visited = [False] * n
    for start in remaining:
        if visited[start]:
            continue
        visited[start] = True
        stack: list[tuple[int, Iterator[tuple[int, int]]]] = [(start, iter(adjacency[start]))]
        while stack:
            v, it = stack[-1]
            for t, _ in it:
                if not removed[t] and not visited[t]:
                    visited[t] = True
                    stack.append((t, iter(adjacency[t])))
                    break
            else:
                stack.pop()
                finish.append(v)
    reverse: list[list[int]] = [[] for _ in range(n)]
    for v in remaining:
        for t, _ in adjacency[v]:
            if not removed[t]:
                reverse[t].append(v)
    component = [-1] * n
    components: list[list[int]] = []
    for root in reversed(finish):
        if component[root] != -1:
            continue
        members = [root]
        component[root] = len(components)
        todo = [root]
        while todo:
            for s in reverse[todo.pop()]:
                if component[s] == -1:
                    component[s] = len(components)
                    members.append(s)
                    todo.append(s)
        components.append(members)
    return sorted((sorted(c) for c in components if len(c) > 1), key=lambda c: c[0])


def _cycle_problems(graph: _Graph) -> list[Problem]:
    """One CYCLE problem per cyclic component: the path names its earliest edge and the message a concrete cycle."""
    problems: list[Problem] = []
    for members in _cyclic_components(graph.adjacency):
        inside = set(members)
        # The earliest edge (by definition order) inside the component closes the reported cycle.
        edge_index, source, target = min((j, v, t) for v in members for t, j in graph.adjacency[v] if t in inside)
        parent: dict[int, int] = {target: -1}
        frontier = [target]
        while source not in parent:  # BFS from target back to source stays inside the component
            nxt: list[int] = []
            for v in frontier:
                for t, _ in graph.adjacency[v]:
                    if t in inside and t not in parent:
                        parent[t] = v
                        nxt.append(t)
            frontier = nxt
        walk = [source]
        while walk[-1] != target:
            walk.append(parent[walk[-1]])
        cycle = [graph.ids[v] for v in [source, *reversed(walk)]]
        shown = cycle if len(cycle) <= 12 else [*cycle[:10], "…", cycle[-1]]
        message = f"the edges form a cycle of {len(cycle) - 1} nodes: {' → '.join(shown)}"
        problems.append(Problem(_p("edges", edge_index), message, "CYCLE"))
    return problems


_SECTIONS = {"nodes": 1, "edges": 2}


def _section_rank(problem: Problem) -> int:
    """Root problems first, then nodes, then edges, then anything else (the order a reader scans a definition)."""
    return _SECTIONS.get(problem.path[0], 3) if problem.path else 0


def validate_definition(
    definition: object, registry: NodeRegistry | None = None, *, templates: bool = True
) -> list[Problem]:
    """Every problem in a workflow definition (schema, node configs, graph, and with ``templates`` the templates and
    their references: ``authoring``), sorted by path; no problem of severity ``error`` means valid."""
    registry = registry if registry is not None else load_registry()
    problems = validate_workflow_document(definition)
    if not isinstance(definition, dict) or not isinstance(definition.get("nodes"), list):
        return problems  # nothing further can be checked reliably
    nodes: list[Any] = definition["nodes"]
    graph, typed, triggers, undetermined = _check_nodes(nodes, registry, problems)
    _check_wait_events(nodes, problems)
    if len(triggers) > 1:
        problems.append(
            Problem(
                ("nodes",),
                f"a workflow needs exactly one trigger node; found {len(triggers)}: {', '.join(triggers)}",
                "TRIGGER_COUNT",
            )
        )
    elif not triggers and not undetermined:
        names = ", ".join(t.type for t in registry.triggers())
        problems.append(
            Problem(("nodes",), f"a workflow needs exactly one trigger node ({names}); found none", "TRIGGER_COUNT")
        )
    edges = definition.get("edges", [])
    if isinstance(edges, list):
        _check_edges(edges, graph, typed, problems)
        problems.extend(_cycle_problems(graph))
    if templates:
        problems.extend(check_templates(definition, registry))
    return sorted(sort_problems(problems), key=_section_rank)


def _number(value: object, default: float | None) -> float | None:
    """A JSON number as float (bools are not numbers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _build_node(i: int, raw: Mapping[str, Any], registry: NodeRegistry) -> Node:
    """A typed Node from a validated raw node."""
    retry_raw: Mapping[str, Any] = raw.get("retry") or {}
    defaults = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=int(retry_raw.get("max_attempts", defaults.max_attempts)),
        initial_interval_s=cast(float, _number(retry_raw.get("initial_interval_s"), defaults.initial_interval_s)),
        backoff=cast(float, _number(retry_raw.get("backoff"), defaults.backoff)),
        max_interval_s=cast(float, _number(retry_raw.get("max_interval_s"), defaults.max_interval_s)),
        jitter=bool(retry_raw.get("jitter", defaults.jitter)),
    )
    position_raw = raw.get("position")
    position = Position(float(position_raw["x"]), float(position_raw["y"])) if isinstance(position_raw, dict) else None
    node_type = registry.get(raw["type"])
    return Node(
        id=raw["id"],
        type=raw["type"],
        config=copy.deepcopy(raw.get("config", {})),
        retry=retry,
        timeout_s=_number(raw.get("timeout_s"), None),
        on_error="continue" if raw.get("on_error") == "continue" else "fail",
        position=position,
        label=raw.get("label"),
        notes=raw.get("notes"),
        trigger=node_type is not None and node_type.trigger,
        index=i,
    )


def parse_definition(definition: object, registry: NodeRegistry | None = None) -> Definition:
    """The typed Definition of a valid definition; raises ValidationFailed carrying every problem otherwise.

    Definitions parsed here are stored versions (saving goes through validate_definition). Their templates are not
    checked here (a version published before the checks existed keeps running; a template fails where it renders).
    One that breaks only
    the schema admission rules (a remote `$ref`, a pattern RE2 refuses: ADMISSION_CODES), added after versions
    were published, still parses, so its runs keep going: the validator factory refuses the schema or pattern
    where it is used (a start's input, a decision's form, a tool call), with a problem that says to republish.
    """
    registry = registry if registry is not None else load_registry()
    problems = [p for p in validate_definition(definition, registry, templates=False) if p.code not in ADMISSION_CODES]
    if problems:
        raise ValidationFailed(problems)
    raw = cast(dict[str, Any], definition)
    nodes = tuple(_build_node(i, n, registry) for i, n in enumerate(raw["nodes"]))
    edges = tuple(
        Edge(source=e["source"], target=e["target"], branch=e.get("branch"), id=e.get("id"), index=j)
        for j, e in enumerate(raw.get("edges", []))
    )
    return Definition(nodes, edges)


MAX_INPUT_BYTES = 1_048_576


_NO_DEFAULT = object()


def schema_defaults(schema: Any) -> Any:
    """What a form pre-filled from ``schema`` holds: its ``default``, else for an object the defaults of its
    properties (recursively; properties without one are left out), else None. The UI's start dialog does the same."""
    found = _defaults(schema)
    return None if found is _NO_DEFAULT else found


def _defaults(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return _NO_DEFAULT
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return _NO_DEFAULT
    found = {name: _defaults(sub) for name, sub in properties.items()}
    return {name: value for name, value in found.items() if value is not _NO_DEFAULT}


def default_input(definition: Definition) -> Any:
    """A run's input when its start gives none: the trigger's input_schema defaults, ``{}`` at least.

    ``{}`` is what the start dialog sends for a trigger without input fields; a required field without a default
    is then reported by check_run_input as missing, as when the input was typed without it.
    """
    found = schema_defaults(definition.trigger.config.get("input_schema"))
    return {} if found is None else found


def check_run_input(definition: Definition, value: Any) -> None:
    """A run's input must match its trigger's input_schema; each problem gets a path under ``input``."""
    schema = definition.trigger.config.get("input_schema")
    if len(repr(value)) > MAX_INPUT_BYTES:
        raise ValidationFailed.one(["input"], f"the input is larger than {MAX_INPUT_BYTES} bytes")
    if not isinstance(schema, dict):
        return
    try:
        compiled = user_schema(schema)
    except UnusableSchema as exc:  # a version stored before today's rules: say what to fix, never fetch or crash
        raise ValidationFailed.one(
            ["input"],
            clip(f"the workflow's input schema cannot be used; fix it in the trigger and publish again: {exc}"),
            "UNUSABLE_SCHEMA",
        ) from None
    problems = compiled.problems(value, ("input",), "INVALID_INPUT")
    if problems:
        raise ValidationFailed(problems)
