"""Tests of workflow definition validation (every rule, exact codes and paths) and of the typed Definition model."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from studio_shared.definition import (
    Definition,
    Edge,
    Node,
    Position,
    RetryPolicy,
    parse_definition,
    validate_definition,
)
from studio_shared.errors import Problem, ValidationFailed
from studio_shared.examples import APPROVE_LARGE_ORDERS, example
from studio_shared.schemas import workflow_schema
from tests.timing import HANG_S

# The demo's example workflow: contract §3's definition with a position on every node.
CONTRACT_EXAMPLE: dict[str, Any] = example(APPROVE_LARGE_ORDERS)["definition"]


def base() -> dict[str, Any]:
    """start (manual trigger) -> a (transform) -> b (transform)."""
    return {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": {}},
            {"id": "a", "type": "transform", "config": {"value": "{{ input }}"}},
            {"id": "b", "type": "transform", "config": {"value": 1}},
        ],
        "edges": [{"source": "start", "target": "a"}, {"source": "a", "target": "b"}],
    }


def edit(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """base() with `change` applied."""
    definition = base()
    change(definition)
    return definition


def set_node(i: int, **fields: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["nodes"][i].update(fields)


def set_edge(j: int, **fields: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["edges"][j].update(fields)


def add_nodes(*nodes: dict[str, Any]) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["nodes"].extend(nodes)


def add_edges(*edges: dict[str, Any]) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["edges"].extend(edges)


def both(*changes: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], object]:
    return lambda d: [change(d) for change in changes]


CONDITION = {"id": "c", "type": "condition", "config": {"expression": "{{ input.ok }}"}}
SWITCH = {"id": "s", "type": "switch", "config": {"value": "{{ input.country }}", "cases": ["DE", "FR"]}}
HTTP = {"id": "h", "type": "http.request", "config": {"url": "https://example.org"}}

INVALID: list[tuple[str, object, list[tuple[str, str]]]] = [
    ("root is a list", [], [("INVALID_SCHEMA", "")]),
    ("root is a string", "nodes", [("INVALID_SCHEMA", "")]),
    ("root is null", None, [("INVALID_SCHEMA", "")]),
    ("missing nodes", {"edges": []}, [("INVALID_SCHEMA", "")]),
    ("nodes not a list", {"nodes": {"start": {}}}, [("INVALID_SCHEMA", "nodes")]),
    ("unknown top-level key", edit(lambda d: d.update(extra=1)), [("INVALID_SCHEMA", "extra")]),
    ("node not an object", edit(lambda d: d["nodes"].append("x")), [("INVALID_SCHEMA", "nodes[3]")]),
    (
        "bad node id",
        edit(both(set_node(2, id="2b"), set_edge(1, target="2b"))),
        [("INVALID_SCHEMA", "nodes[2].id")],
    ),
    (
        "node id too long",
        edit(both(set_node(2, id="b" * 65), set_edge(1, target="b" * 65))),
        [
            ("INVALID_SCHEMA", "nodes[2].id"),
            ("INVALID_SCHEMA", "edges[1].target"),
        ],
    ),
    ("node without type", edit(lambda d: d["nodes"][2].pop("type")), [("INVALID_SCHEMA", "nodes[2]")]),
    ("unknown node key", edit(set_node(1, colour="red")), [("INVALID_SCHEMA", "nodes[1].colour")]),
    ("bad retry", edit(set_node(1, retry={"max_attempts": 0})), [("INVALID_SCHEMA", "nodes[1].retry.max_attempts")]),
    ("bad on_error", edit(set_node(1, on_error="ignore")), [("INVALID_SCHEMA", "nodes[1].on_error")]),
    ("bad timeout", edit(set_node(1, timeout_s=0)), [("INVALID_SCHEMA", "nodes[1].timeout_s")]),
    ("bad position", edit(set_node(1, position={"x": 1})), [("INVALID_SCHEMA", "nodes[1].position")]),
    ("config not an object", edit(set_node(1, config=[])), [("INVALID_SCHEMA", "nodes[1].config")]),
    (
        "duplicate node id",
        edit(add_nodes({"id": "a", "type": "transform", "config": {"value": 2}})),
        [
            ("DUPLICATE_ID", "nodes[3].id"),
        ],
    ),
    ("unknown node type", edit(set_node(2, type="teleport")), [("UNKNOWN_NODE_TYPE", "nodes[2].type")]),
    ("transform without value", edit(set_node(2, config={})), [("INVALID_CONFIG", "nodes[2].config")]),
    (
        "http.request without url",
        edit(
            both(
                add_nodes({"id": "h", "type": "http.request", "config": {"method": "GET"}}),
                add_edges({"source": "b", "target": "h"}),
            )
        ),
        [("INVALID_CONFIG", "nodes[3].config")],
    ),
    (
        "http.request without config",
        edit(both(add_nodes({"id": "h", "type": "http.request"}), add_edges({"source": "b", "target": "h"}))),
        [("INVALID_CONFIG", "nodes[3].config")],
    ),
    (
        "http.request timeout of the wrong type",
        edit(
            both(
                add_nodes({"id": "h", "type": "http.request", "config": {"url": "u", "timeout_s": "fast"}}),
                add_edges({"source": "b", "target": "h"}),
            )
        ),
        [("INVALID_CONFIG", "nodes[3].config.timeout_s")],
    ),
    (
        "http.request url of the wrong type",
        edit(
            both(
                add_nodes({"id": "h", "type": "http.request", "config": {"url": 42}}),
                add_edges({"source": "b", "target": "h"}),
            )
        ),
        [("INVALID_CONFIG", "nodes[3].config.url")],
    ),
    (
        "unknown config property",
        edit(set_node(2, config={"value": 1, "valu": 2})),
        [("INVALID_CONFIG", "nodes[2].config.valu")],
    ),
    (
        "deep config error",
        edit(set_node(2, type="llm.chat", config={"model": "m", "messages": [{"role": "bot", "content": "x"}]})),
        [("INVALID_CONFIG", "nodes[2].config.messages[0].role")],
    ),
    ("edge without target", edit(lambda d: d["edges"][1].pop("target")), [("INVALID_SCHEMA", "edges[1]")]),
    ("edge with unknown key", edit(set_edge(1, animated=True)), [("INVALID_SCHEMA", "edges[1].animated")]),
    ("dangling edge source", edit(set_edge(1, source="ghost")), [("UNKNOWN_NODE", "edges[1].source")]),
    ("dangling edge target", edit(set_edge(1, target="ghost")), [("UNKNOWN_NODE", "edges[1].target")]),
    ("zero triggers", edit(set_node(0, type="transform", config={"value": 0})), [("TRIGGER_COUNT", "nodes")]),
    ("empty workflow", {"nodes": [], "edges": []}, [("TRIGGER_COUNT", "nodes")]),
    (
        "two triggers",
        edit(add_nodes({"id": "hook", "type": "trigger.webhook", "config": {}})),
        [
            ("TRIGGER_COUNT", "nodes"),
        ],
    ),
    ("cycle", edit(add_edges({"source": "b", "target": "a"})), [("CYCLE", "edges[1]")]),
    ("self loop", edit(add_edges({"source": "b", "target": "b"})), [("SELF_LOOP", "edges[2]")]),
    (
        "edge into trigger",
        edit(add_edges({"source": "b", "target": "start"})),
        [("EDGE_INTO_TRIGGER", "edges[2].target")],
    ),
    ("duplicate edge", edit(add_edges({"source": "a", "target": "b"})), [("DUPLICATE_EDGE", "edges[2]")]),
    ("duplicate edge id", edit(both(set_edge(0, id="e"), set_edge(1, id="e"))), [("DUPLICATE_ID", "edges[1].id")]),
    ("branch on plain node", edit(set_edge(1, branch="true")), [("BRANCH_ON_PLAIN_NODE", "edges[1].branch")]),
    (
        "undeclared condition branch",
        edit(
            both(
                add_nodes(CONDITION),
                add_edges({"source": "b", "target": "c"}, {"source": "c", "target": "h", "branch": "maybe"}),
                add_nodes(HTTP),
            )
        ),
        [("UNKNOWN_BRANCH", "edges[3].branch")],
    ),
    (
        "missing branch from condition",
        edit(
            both(add_nodes(CONDITION, HTTP), add_edges({"source": "b", "target": "c"}, {"source": "c", "target": "h"}))
        ),
        [("MISSING_BRANCH", "edges[3]")],
    ),
    (
        "wrong branch from approval",
        edit(
            both(
                add_nodes({"id": "ok", "type": "human.approval", "config": {"title": "t"}}, HTTP),
                add_edges({"source": "b", "target": "ok"}, {"source": "ok", "target": "h", "branch": "true"}),
            )
        ),
        [("UNKNOWN_BRANCH", "edges[3].branch")],
    ),
    (
        "switch with an unknown case",
        edit(
            both(
                add_nodes(SWITCH, HTTP),
                add_edges({"source": "b", "target": "s"}, {"source": "s", "target": "h", "branch": "IT"}),
            )
        ),
        [("UNKNOWN_BRANCH", "edges[3].branch")],
    ),
    (
        "switch case named default",
        edit(
            both(
                add_nodes({**SWITCH, "config": {"value": "v", "cases": ["DE", "default"]}}),
                add_edges({"source": "b", "target": "s"}),
            )
        ),
        [("INVALID_CONFIG", "nodes[3].config.cases[1]")],
    ),
    (
        "agent tool without url",
        edit(
            set_node(
                2,
                type="agent",
                config={
                    "model": "m",
                    "instructions": "i",
                    "tools": [{"kind": "http", "name": "t", "description": "d", "request": {"method": "GET"}}],
                },
            )
        ),
        [("INVALID_CONFIG", "nodes[2].config.tools[0].request")],
    ),
]


def codes_and_paths(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.code, p.dotted) for p in problems]


def test_contract_example_is_valid() -> None:
    assert validate_definition(copy.deepcopy(CONTRACT_EXAMPLE)) == []
    definition = parse_definition(copy.deepcopy(CONTRACT_EXAMPLE))
    assert definition.trigger.id == "start"
    assert definition.topological_order() == ("start", "check", "ok", "notify")
    assert definition.sinks() == ("notify",)
    notify = definition.node("notify")
    assert notify.retry == RetryPolicy(max_attempts=3, initial_interval_s=1.0, backoff=2.0)
    assert notify.timeout_s == 30.0
    assert notify.position == Position(900.0, 0.0)
    assert notify.config["value"]["run"] == "{{ run.id }}"
    assert [e.branch for e in definition.outgoing("check")] == ["true", "false"]


def test_base_is_valid() -> None:
    assert validate_definition(base()) == []


@pytest.mark.parametrize(("name", "definition", "expected"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_definitions(name: str, definition: object, expected: list[tuple[str, str]]) -> None:
    problems = validate_definition(definition)
    assert codes_and_paths(problems) == expected, [(p.code, p.dotted, p.message) for p in problems]
    for problem in problems:
        assert problem.message
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(definition)
    assert caught.value.problems == problems


def test_messages_name_what_is_wrong() -> None:
    cycle = validate_definition(edit(add_edges({"source": "b", "target": "a"})))
    assert cycle[0].message.endswith("a → b → a")
    triggers = validate_definition(edit(add_nodes({"id": "hook", "type": "trigger.webhook", "config": {}})))
    assert "start" in triggers[0].message and "hook" in triggers[0].message
    dangling = validate_definition(edit(set_edge(1, target="ghost")))
    assert "ghost" in dangling[0].message
    branch = validate_definition(
        edit(both(add_nodes(SWITCH, HTTP), add_edges({"source": "b", "target": "s"}, {"source": "s", "target": "h"})))
    )
    assert codes_and_paths(branch) == [("MISSING_BRANCH", "edges[3]")]
    assert "DE, FR, default" in branch[0].message


def test_switch_branches_from_cases_and_default_are_valid() -> None:
    definition = edit(
        both(
            add_nodes(SWITCH, HTTP, {**HTTP, "id": "h2"}),
            add_edges(
                {"source": "b", "target": "s"},
                {"source": "s", "target": "h", "branch": "DE"},
                {"source": "s", "target": "h", "branch": "FR"},
                {"source": "s", "target": "h2", "branch": "default"},
            ),
        )
    )
    assert validate_definition(definition) == []
    parsed = parse_definition(definition)
    assert [e.branch for e in parsed.outgoing("s")] == ["DE", "FR", "default"]


def test_null_branch_from_a_plain_node_is_fine() -> None:
    assert validate_definition(edit(set_edge(1, branch=None))) == []


def test_condition_and_approval_branches_are_valid() -> None:
    assert validate_definition(copy.deepcopy(CONTRACT_EXAMPLE)) == []
    definition = copy.deepcopy(CONTRACT_EXAMPLE)
    definition["edges"].append({"source": "ok", "target": "notify", "branch": "rejected"})
    assert validate_definition(definition) == []


def test_every_problem_is_reported_at_once() -> None:
    definition = base()
    definition["nodes"].append({"id": "h", "type": "http.request", "config": {"timeout_s": "fast"}})
    definition["nodes"].append({"id": "x", "type": "teleport"})
    definition["nodes"].append({"id": "a", "type": "transform", "config": {"value": 1}})
    definition["nodes"].append(CONDITION)
    definition["nodes"][0]["retry"] = {"max_attempts": 99}
    definition["edges"] += [
        {"source": "b", "target": "ghost"},
        {"source": "b", "target": "c"},
        {"source": "c", "target": "h"},
        {"source": "h", "target": "start"},
        {"source": "x", "target": "h", "branch": "whatever"},
    ]
    problems = validate_definition(definition)
    assert codes_and_paths(problems) == [
        ("INVALID_SCHEMA", "nodes[0].retry.max_attempts"),
        ("INVALID_CONFIG", "nodes[3].config"),
        ("INVALID_CONFIG", "nodes[3].config.timeout_s"),
        ("UNKNOWN_NODE_TYPE", "nodes[4].type"),
        ("DUPLICATE_ID", "nodes[5].id"),
        ("UNKNOWN_NODE", "edges[2].target"),
        ("MISSING_BRANCH", "edges[4]"),
        ("EDGE_INTO_TRIGGER", "edges[5].target"),
    ]
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(definition)
    assert len(caught.value.problems) == len(problems)
    assert "nodes[3].config.timeout_s" in str(caught.value)


def test_unknown_types_do_not_cause_a_spurious_trigger_count() -> None:
    definition = {"nodes": [{"id": "start", "type": "trigger.manul", "config": {}}], "edges": []}
    assert codes_and_paths(validate_definition(definition)) == [("UNKNOWN_NODE_TYPE", "nodes[0].type")]


def test_several_cycles_are_each_reported() -> None:
    definition = edit(
        both(
            add_nodes(
                {"id": "c", "type": "transform", "config": {"value": 0}},
                {"id": "d", "type": "transform", "config": {"value": 0}},
            ),
            add_edges(
                {"source": "b", "target": "a"},
                {"source": "start", "target": "c"},
                {"source": "c", "target": "d"},
                {"source": "d", "target": "c"},
            ),
        )
    )
    problems = validate_definition(definition)
    assert codes_and_paths(problems) == [("CYCLE", "edges[1]"), ("CYCLE", "edges[4]")]
    assert problems[1].message.endswith("c → d → c")


def diamond() -> Definition:
    """start -> b, start -> a, a -> c, b -> c, c -> d, declared with b before a."""
    return parse_definition(
        {
            "nodes": [
                {"id": "start", "type": "trigger.manual"},
                {"id": "b", "type": "transform", "config": {"value": "b"}},
                {"id": "a", "type": "transform", "config": {"value": "a"}},
                {"id": "c", "type": "transform", "config": {"value": "c"}},
                {"id": "d", "type": "transform", "config": {"value": "d"}},
            ],
            "edges": [
                {"source": "start", "target": "a"},
                {"source": "start", "target": "b"},
                {"source": "a", "target": "c"},
                {"source": "b", "target": "c"},
                {"source": "c", "target": "d"},
            ],
        }
    )


def test_diamond_helpers() -> None:
    definition = diamond()
    assert definition.topological_order() == ("start", "b", "a", "c", "d")
    assert definition.topological_order() is definition.topological_order()
    assert definition.downstream_of("start") == {"a", "b", "c", "d"}
    assert definition.downstream_of("a") == {"c", "d"}
    assert definition.downstream_of("d") == set()
    assert definition.upstream_of("c") == {"start", "a", "b"}
    assert definition.sinks() == ("d",)
    assert definition.trigger.id == "start"
    assert definition.trigger.trigger
    assert [e.target for e in definition.outgoing("start")] == ["a", "b"]
    assert [e.source for e in definition.incoming("c")] == ["a", "b"]
    assert definition.incoming("start") == ()
    assert definition.node("c").config == {"value": "c"}
    assert definition.node("c").index == 3
    assert "a" in definition and "zz" not in definition
    assert definition.get("zz") is None
    assert len(definition) == 5
    assert [n.id for n in definition] == ["start", "b", "a", "c", "d"]
    with pytest.raises(KeyError):
        definition.node("zz")
    with pytest.raises(KeyError):
        definition.downstream_of("zz")


def test_parsed_nodes_get_defaults_and_private_configs() -> None:
    raw = base()
    definition = parse_definition(raw)
    node = definition.node("a")
    assert node.retry == RetryPolicy()
    assert node.on_error == "fail"
    assert node.timeout_s is None and node.position is None and node.label is None
    raw["nodes"][1]["config"]["value"] = "changed"
    assert definition.node("a").config == {"value": "{{ input }}"}
    assert definition.edges[1] == Edge(source="a", target="b", index=1)


def test_retry_defaults_match_the_schema() -> None:
    retry = workflow_schema()["$defs"]["retry"]["properties"]
    defaults = RetryPolicy()
    for name in ("max_attempts", "initial_interval_s", "backoff", "max_interval_s", "jitter"):
        assert retry[name]["default"] == getattr(defaults, name), name
    policy = RetryPolicy(max_attempts=5, initial_interval_s=1, backoff=2, max_interval_s=5)
    assert [policy.interval_after(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert RetryPolicy(backoff=10, max_interval_s=60).interval_after(10_000) == 60


def test_retry_jitter_spreads_the_wait_by_twenty_percent_and_keeps_the_cap() -> None:
    """Bug 1 of issue 18: `jitter` (default true, ±20 %) used to be ignored."""
    policy = RetryPolicy(initial_interval_s=10, backoff=2, max_interval_s=100)
    assert policy.jitter, "on by default, as workflow.schema.json says"
    assert policy.wait_after(2, 0.0) == pytest.approx(16)  # 20 s, 20 % shorter
    assert policy.wait_after(2, 0.5) == pytest.approx(20)
    assert policy.wait_after(2, 1.0) == pytest.approx(24)  # 20 % longer
    assert policy.wait_after(2, 7.0) == pytest.approx(24), "a draw outside [0, 1] is clamped"
    waits = {policy.wait_after(1, i / 100) for i in range(101)}
    assert min(waits) == pytest.approx(8) and max(waits) == pytest.approx(12) and len(waits) == 101
    assert policy.wait_after(10, 1.0) == 100, "never past max_interval_s"
    assert policy.wait_after(10, 0.0) == pytest.approx(80)
    steady = RetryPolicy(initial_interval_s=10, jitter=False)
    assert {steady.wait_after(1, d) for d in (0.0, 0.3, 1.0)} == {10}


def test_definition_constructed_directly() -> None:
    nodes = (Node(id="t", type="trigger.webhook"), Node(id="x", type="transform", config={"value": 1}, index=1))
    definition = Definition(nodes, (Edge("t", "x"),))
    assert definition.trigger.id == "t"
    assert definition.topological_order() == ("t", "x")
    with pytest.raises(ValueError, match="duplicate"):
        Definition((nodes[0], nodes[0]))
    with pytest.raises(ValueError, match="unknown node"):
        Definition(nodes, (Edge("t", "ghost"),))
    with pytest.raises(ValueError, match="cycle"):
        Definition(nodes, (Edge("t", "x"), Edge("x", "t"))).topological_order()


def chain(n: int) -> dict[str, Any]:
    nodes = [{"id": "n0", "type": "trigger.manual", "config": {}}]
    nodes += [
        {
            "id": f"n{i}",
            "type": "http.request",
            "config": {"url": f"https://example.org/{i}", "timeout_s": 5},
            "retry": {"max_attempts": 2},
            "position": {"x": i * 10, "y": 0},
        }
        for i in range(1, n)
    ]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}", "id": f"e{i}"} for i in range(n - 1)]
    return {"nodes": nodes, "edges": edges}


def test_a_5000_node_chain_validates_quickly() -> None:
    definition = chain(5000)
    started = time.perf_counter()
    problems = validate_definition(definition)
    elapsed = time.perf_counter() - started
    assert problems == []
    assert elapsed < HANG_S, elapsed  # typically well under 0.2 s
    parsed = parse_definition(definition)
    order = parsed.topological_order()
    assert order == tuple(f"n{i}" for i in range(5000))
    assert len(parsed.downstream_of("n0")) == 4999
    assert len(parsed.upstream_of("n4999")) == 4999
    assert parsed.sinks() == ("n4999",)


def test_a_5000_node_cycle_is_found_without_recursion() -> None:
    definition = chain(5000)
    definition["edges"].append({"source": "n4999", "target": "n1"})
    problems = validate_definition(definition)
    assert codes_and_paths(problems) == [("CYCLE", "edges[1]")]
    assert "4999 nodes" in problems[0].message
    assert len(problems[0].message) < 300
