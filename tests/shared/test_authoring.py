"""The authoring checks of a draft (studio_shared.authoring): a corpus of broken templates, each with the exact
problem expected, and a corpus of valid ones that must give no problem at all."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from studio_shared.definition import parse_definition, validate_definition
from studio_shared.errors import ERROR, WARNING
from studio_shared.templates import default_templates

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "number"},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": False,
        },
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    },
    "additionalProperties": False,
}


def graph(template: Any, *, field: str = "value", schema: Any = ORDER_SCHEMA) -> dict[str, Any]:
    """start → shape (transform) → check (condition) → [true] big → use; [false] small → use.

    ``use`` (nodes[5]) is the transform holding ``template`` in its config ``field``.
    """
    trigger_config: dict[str, Any] = {} if schema is None else {"input_schema": schema}
    return {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": trigger_config},
            {"id": "shape", "type": "transform", "config": {"value": {"total": "{{ input.amount }}", "n": 3}}},
            {"id": "check", "type": "condition", "config": {"expression": "{{ input.amount > 100 }}"}},
            {"id": "big", "type": "http.request", "config": {"url": "https://example.org/big"}},
            {"id": "small", "type": "transform", "config": {"value": "small"}},
            {"id": "use", "type": "transform", "config": {field: template}},
            {"id": "after", "type": "transform", "config": {"value": 1}},
        ],
        "edges": [
            {"source": "start", "target": "shape"},
            {"source": "shape", "target": "check"},
            {"source": "check", "target": "big", "branch": "true"},
            {"source": "check", "target": "small", "branch": "false"},
            {"source": "big", "target": "use"},
            {"source": "small", "target": "use"},
            {"source": "use", "target": "after"},
        ],
    }


# (template, path under nodes[5].config, severity, code, exact message)
BROKEN: list[tuple[Any, str, str, str, str]] = [
    (
        "{{ input.amount + }}",
        "value",
        ERROR,
        "TEMPLATE_SYNTAX",
        "syntax error at 18: unexpected 'end of print statement'",
    ),
    (
        "Total: {{ input.amount | nosuchfilter }}",
        "value",
        ERROR,
        "UNKNOWN_FILTER",
        "unknown filter 'nosuchfilter' at 25",
    ),
    (
        "{{ input.amount | uper }}",
        "value",
        ERROR,
        "UNKNOWN_FILTER",
        "unknown filter 'uper' at 18; did you mean 'upper'?",
    ),
    ("{{ input.amount is nosuchtest }}", "value", ERROR, "UNKNOWN_TEST", "unknown test 'nosuchtest' at 19"),
    (
        "{{ steps.nope.output }}",
        "value",
        ERROR,
        "UNKNOWN_STEP",
        "unknown step 'nope' at 9: no node has this id; the nodes are start, shape, check, big, small, after",
    ),
    (
        "{{ steps.after.output }}",
        "value",
        ERROR,
        "STEP_NOT_UPSTREAM",
        "step 'after' is not upstream at 9: it runs after this node, so its output is never there; "
        "connect it before this node",
    ),
    (
        "{{ steps.use.output }}",
        "value",
        ERROR,
        "STEP_NOT_UPSTREAM",
        "step 'use' is this node at 9: a node cannot read its own output",
    ),
    (
        "{{ steps.big.output.status }}",
        "value",
        WARNING,
        "STEP_MAY_BE_SKIPPED",
        "step 'big' may be skipped at 9: this node can run without it (it is on another branch); "
        "use steps.big.output | default(…) or steps.get('big')",
    ),
    (
        "{{ steps.shape.output.nonexistent_field.deep }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'nonexistent_field' at 22: steps.shape.output has only: n, total",
    ),
    (
        "{{ steps.shape.result }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'result' at 15: steps.shape has only: output",
    ),
    (
        "{{ steps.check.output.value }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'value' at 22: steps.check.output has only: result",
    ),
    (
        "{{ steps.check.output.result.x }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "steps.check.output.result is a boolean, so it has no field 'x' at 29",
    ),
    (
        "{{ input.amont }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'amont' at 9: input has only: amount, customer, lines",
    ),
    (
        "{{ input.customer.email }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'email' at 18: input.customer has only: name, tags",
    ),
    (
        "{{ input.lines[0].price }}",
        "value",
        WARNING,
        "UNDECLARED_FIELD",
        "field 'price' is not declared at 18: input.lines[0] lists sku (and may have others)",
    ),
    (
        "{{ run.owner }}",
        "value",
        ERROR,
        "NO_SUCH_FIELD",
        "unknown field 'owner' at 7: run has only: id, workflow, version, trigger, resume_urls",
    ),
    ("{{ item }}", "value", ERROR, "UNKNOWN_NAME", "unknown name 'item' at 3 — templates can read input, steps, run"),
    (
        "{{ 1 }}{% if input.amount %}x{% endif %}",
        "value",
        ERROR,
        "TEMPLATE_REFUSED",
        "statements ({% … %}) are not allowed at 7: a template is text with {{ expression }} parts only — use "
        "`a if condition else b`, filters like | join, | map, | select, or .get(...)",
    ),
    (
        "a {# note #} {{ 1 }}",
        "value",
        ERROR,
        "TEMPLATE_REFUSED",
        "comments ({# … #}) are not allowed in templates at 2; remove them",
    ),
    (
        "{{ input.__class__ }}",
        "value",
        ERROR,
        "TEMPLATE_REFUSED",
        "attribute '__class__' is not accessible (names starting with '__' are private) at 8",
    ),
    (
        "{{ loop }}",
        "value",
        ERROR,
        "TEMPLATE_REFUSED",
        "the name 'loop' is not available at 3; use input, steps or run",
    ),
    ("{{ 'abc }}", "value", ERROR, "TEMPLATE_SYNTAX", 'syntax error at 3: unexpected char "\'"'),
    (
        "line one\n  {{ input.amount | nosuchfilter }}",
        "value",
        ERROR,
        "UNKNOWN_FILTER",
        "unknown filter 'nosuchfilter' at 29 (line 2, column 21)",
    ),
    (
        "x\r\n{{ input.amount | nosuchfilter }}",
        "value",
        ERROR,
        "UNKNOWN_FILTER",
        "unknown filter 'nosuchfilter' at 21 (line 2, column 19)",
    ),
    (
        {"deep": ["ok", "{{ input.amount | nosuchfilter }}"]},
        "value.deep[1]",
        ERROR,
        "UNKNOWN_FILTER",
        "unknown filter 'nosuchfilter' at 18",
    ),
    (
        "{{ steps.nope.output | default(0) }}",
        "value",
        WARNING,
        "UNKNOWN_STEP",
        "unknown step 'nope' at 9: no node has this id; the nodes are start, shape, check, big, small, after",
    ),
]

VALID: list[Any] = [
    "plain text, no template",
    "{% not a template without double braces %}",
    "{{ input.amount * 2 }}",
    "{{ input.customer.name | upper }} has {{ input.customer.tags | length }} tags",
    "{{ input.lines[0].sku }}",
    "{{ input.get('missing', 1) }}",
    "{{ input.customer.items() | list }}",
    "{{ steps.shape.output.total }} / {{ steps.shape.output['n'] }}",
    "{{ steps.check.output.result }}",
    "{{ steps.start.output.amount }}",
    "{{ steps.big.output.status | default(0) }}",
    "{{ steps.big.output is defined }}",
    "{{ steps.get('big') }}",
    "{{ steps[input.customer.name].output }}",
    "{{ steps.shape.output.total.anything }}",
    "{{ input.customer.name.upper() }}",
    "{{ run.id ~ run.workflow ~ run.version ~ run.trigger }}",
    "{{ range(3) | list }}",
    "{{ {'a': 1}.a }}",
    "{{ input.amount if input.amount is number else 0 }}",
    {"nested": ["{{ input.amount }}", {"x": "{{ steps.check.output.result }}"}]},
]


@pytest.mark.parametrize(
    ("template", "field", "severity", "code", "message"), BROKEN, ids=[str(b[4])[:50] for b in BROKEN]
)
def test_broken_template_gives_exactly_its_problem(
    template: Any, field: str, severity: str, code: str, message: str
) -> None:
    problems = validate_definition(graph(template))
    assert [(p.dotted, p.severity, p.code, p.message) for p in problems] == [
        (f"nodes[5].config.{field}", severity, code, message)
    ]


@pytest.mark.parametrize("template", VALID, ids=[str(v)[:50] for v in VALID])
def test_valid_template_gives_no_problem(template: Any) -> None:
    assert validate_definition(graph(template)) == []


def test_each_mistake_of_one_template_is_reported_in_text_order() -> None:
    problems = validate_definition(graph("{{ input.x | nofilter }} {{ steps.nope.output }}"))
    assert [p.message for p in problems] == [
        "unknown filter 'nofilter' at 13",
        "unknown field 'x' at 9: input has only: amount, customer, lines",
        "unknown step 'nope' at 34: no node has this id; the nodes are start, shape, check, big, small, after",
    ]


def test_an_open_schema_warns_and_a_missing_schema_checks_nothing() -> None:
    open_schema = {"type": "object", "properties": {"amount": {"type": "number"}}}
    [problem] = validate_definition(graph("{{ input.amont }}", schema=open_schema))
    assert (problem.severity, problem.message) == (
        WARNING,
        "field 'amont' is not declared at 9: input lists amount (and may have others)",
    )
    assert validate_definition(graph("{{ input.anything.at.all }}", schema=None)) == []


def test_a_skipped_or_failed_upstream_step_is_a_warning() -> None:
    definition = graph("{{ steps.small.output }}")
    [problem] = validate_definition(definition)
    assert (problem.severity, problem.code) == (WARNING, "STEP_MAY_BE_SKIPPED")
    definition = graph("{{ steps.shape.output.n }}")
    definition["nodes"][1]["on_error"] = "continue"
    [problem] = validate_definition(definition)
    assert (problem.severity, problem.message) == (
        WARNING,
        "step 'shape' may have failed at 9: it has on_error: continue, and a failed step has no output",
    )


def test_a_step_on_no_path_is_an_error() -> None:
    definition = graph("{{ steps.lonely.output }}")
    definition["nodes"].append({"id": "lonely", "type": "transform", "config": {"value": 1}})
    definition["edges"].append({"source": "start", "target": "lonely"})
    [problem] = validate_definition(definition)
    assert problem.message == (
        "step 'lonely' is not upstream at 9: it has no path to this node, so its output is never there; "
        "connect it before this node"
    )


def test_a_node_s_own_names_are_known_in_its_own_fields_only() -> None:
    definition = graph("{{ item }}")
    definition["nodes"][5] = {
        "id": "use",
        "type": "foreach",
        "config": {
            "items": "{{ input.lines }}",
            "workflow_id": "w",
            "input": {"sku": "{{ item.sku }}", "i": "{{ index }}"},
        },
    }
    problems = [p for p in validate_definition(definition) if p.path[:2] == ("nodes", "5")]
    assert [p.code for p in problems if p.code.startswith(("UNKNOWN_NAME", "TEMPLATE"))] == []
    definition["nodes"][5]["config"]["items"] = "{{ item }}"
    assert "UNKNOWN_NAME" in [p.code for p in validate_definition(definition)]


def test_a_code_step_s_source_is_not_a_template() -> None:
    """Code may hold ``{{`` (a JavaScript object in a template literal, a Python f-string's braces): its source is
    passed to the sandbox as written, so the template checks leave it alone; the step's output is still checked
    where later steps read it."""
    source = "function main(input) {\n  return `{{ nosuchname | nosuchfilter }}`;\n}\n"
    definition = graph("{{ steps.use.output.anything }}")
    definition["nodes"][5] = {"id": "use", "type": "code", "config": {"language": "javascript", "source": source}}
    definition["nodes"][6]["config"]["value"] = "{{ steps.use.output.anything }}"
    assert [p for p in validate_definition(definition) if p.severity == ERROR] == []
    definition["nodes"][5]["type"] = "transform"
    definition["nodes"][5]["config"] = {"value": source}
    errors = {p.code for p in validate_definition(definition) if p.severity == ERROR}
    assert {"UNKNOWN_NAME", "UNKNOWN_FILTER"} <= errors  # the same text as a template: checked and refused


def test_registry_output_schemas_are_closed_where_outputs_are_exact() -> None:
    for template, message in [
        (
            "{{ steps.http.output.code }}",
            "unknown field 'code' at 21: steps.http.output has only: body, headers, status",
        ),
        ("{{ steps.http.output.headers['x-id'] }}", None),
    ]:
        definition = {
            "nodes": [
                {"id": "start", "type": "trigger.manual", "config": {}},
                {"id": "http", "type": "http.request", "config": {"url": "https://example.org"}},
                {"id": "t", "type": "transform", "config": {"value": template}},
            ],
            "edges": [{"source": "start", "target": "http"}, {"source": "http", "target": "t"}],
        }
        assert [p.message for p in validate_definition(definition)] == ([message] if message else [])


def test_template_problems_never_stop_a_stored_version_from_parsing() -> None:
    definition = graph("{{ input.amount | nosuchfilter }}")
    assert validate_definition(definition)
    parsed = parse_definition(copy.deepcopy(definition))
    assert parsed.node("use").config == {"value": "{{ input.amount | nosuchfilter }}"}


def test_a_template_over_the_length_limit_is_refused_without_parsing() -> None:
    [problem] = validate_definition(graph("{{ 1 }}" + "x" * 20_000))
    assert (problem.code, problem.message) == (
        "TEMPLATE_TOO_LONG",
        "the template is 20,007 characters long; the limit is 20,000 — shorten it",
    )


def test_the_ssti_corpus_is_checked_without_rendering_and_each_refused_entry_is_an_error() -> None:
    corpus = json.loads((Path(__file__).parent.parent / "corpora" / "ssti.json").read_text(encoding="utf-8"))
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger.manual", "config": {}}]
    for i, entry in enumerate(corpus):
        nodes.append({"id": f"t{i}", "type": "transform", "config": {"value": entry["payload"]}})
    definition = {"nodes": nodes, "edges": [{"source": "start", "target": n["id"]} for n in nodes[1:]]}
    problems = validate_definition(definition)  # parses all of them; raises nothing, renders nothing
    assert all(p.path[0] == "nodes" and p.path[2:] == ("config", "value") for p in problems)
    flagged = {int(p.path[1]) - 1 for p in problems if p.severity == ERROR}
    refused_at_compile = {
        i for i, entry in enumerate(corpus) if default_templates().check(entry["payload"]) and "{{" in entry["payload"]
    }
    assert refused_at_compile <= flagged  # whatever the sandbox refuses to compile, the checker calls an error


def test_a_message_trigger_s_input_is_its_type_s_output() -> None:
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger.message", "config": {"channel": "orders"}},
            {"id": "t", "type": "transform", "config": {"value": "{{ input.text }} {{ input.txet }}"}},
        ],
        "edges": [{"source": "start", "target": "t"}],
    }
    assert [(p.severity, p.message) for p in validate_definition(definition)] == [
        (WARNING, "field 'txet' is not declared at 26: input lists channel, sender, text (and may have others)")
    ]


def test_templates_longer_than_the_cache_takes_are_checked_each_time() -> None:
    long = "x" * 1_500 + "{{ input.amount | nosuchfilter }}"
    for _ in range(2):
        [problem] = validate_definition(graph(long))
        assert problem.message == "unknown filter 'nosuchfilter' at 1518"


@pytest.mark.parametrize(
    "definition",
    [
        {"nodes": [{"id": "t", "type": "transform", "config": {"value": "{{ steps.x.output }}"}}], "edges": "no"},
        {"nodes": [None, 3, {"id": ["x"], "type": "transform", "config": {"value": "{{ input.a }}"}}]},
        {"nodes": [{"id": "a", "type": "transform", "config": "{{ 1 }}"}], "edges": [{"source": {}, "target": []}]},
        {"nodes": [{"id": "a", "type": 7, "config": {"value": "{{ steps.a.output }}"}}], "edges": [None]},
        {
            "nodes": [
                {"id": "start", "type": "trigger.manual", "config": {"input_schema": {"$ref": "#/x"}}},
                {"id": "a", "type": "agent", "config": {"tools": [None, {"request": "{{ args.q | nofilter }}"}]}},
                {"id": "b", "type": "transform", "config": {"value": "{{ steps.a.output.answer.x }}"}},
            ],
            "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
        },
    ],
)
def test_broken_definitions_never_break_the_checks(definition: Any) -> None:
    problems = validate_definition(definition)  # no exception, whatever the shape
    assert problems and all(p.message for p in problems)
