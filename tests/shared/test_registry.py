"""Tests of the node-type registry: the shipped schema files, config/output validation, documents and ETags."""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from studio_shared.schemas import (
    DEFAULT_COLOR,
    DEFAULT_ICON,
    CompiledSchema,
    NodeRegistry,
    RegistryError,
    etag_of,
    load_registry,
    registry_document,
    step_output_schema,
    validate_step_output,
    workflow_compiled,
    workflow_schema,
    workflow_schema_document,
)

CONTRACT_TYPES = [
    "trigger.manual",
    "trigger.webhook",
    "trigger.schedule",
    "trigger.message",
    "transform",
    "condition",
    "switch",
    "delay",
    "fail",
    "http.request",
    "llm.chat",
    "agent",
    "human.approval",
    "artifact.write",
    "message.reply",
    "email.send",
    "sql.query",
    "foreach",
    "subworkflow",
    "loop",
    "code",
    "wait.event",
]
TRIGGERS = {"trigger.manual", "trigger.webhook", "trigger.schedule", "trigger.message"}
BRANCHES = {
    "condition": ["true", "false"],
    "human.approval": ["approved", "rejected"],
    "wait.event": ["received", "timeout"],
}
TEMPLATE_FIELDS = {
    "condition": ["expression"],
    "switch": ["value"],
    "fail": ["message"],
    "http.request": ["url"],
    "agent": ["instructions"],
    "human.approval": ["title", "message"],
    "artifact.write": ["name", "content"],
    "message.reply": ["channel", "text"],
    "email.send": ["to", "cc", "bcc", "subject", "text", "html"],
    "foreach": ["items"],
    "loop": ["until"],
}


def node_files() -> dict[str, bytes]:
    """The shipped node type files, by file name."""
    folder = resources.files("studio_shared.schemas").joinpath("nodes")
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.name.endswith(".json")}


def walk_properties(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) under `properties` anywhere in `schema`, including $defs and items."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            found.append((f"{path}.{name}", prop))
        for key, value in schema.items():
            if key in ("examples", "default", "const", "enum", "if"):
                continue
            if isinstance(value, dict | list):
                found.extend(walk_properties(value, f"{path}/{key}"))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            found.extend(walk_properties(item, f"{path}[{i}]"))
    return found


def test_every_contract_node_type_is_registered() -> None:
    registry = load_registry()
    assert sorted(registry.types()) == sorted(CONTRACT_TYPES)
    assert len(registry) == len(CONTRACT_TYPES)
    for type_ in CONTRACT_TYPES:
        node_type = registry.get(type_)
        assert node_type is not None
        assert type_ in registry
        assert registry[type_] is node_type
    assert registry.get("nope") is None
    assert sorted(node_files()) == sorted(f"{t}.json" for t in CONTRACT_TYPES)


def test_the_readme_lists_every_node_type_under_its_category() -> None:
    """The README's node table is where a reader looks first: a new type is listed there, in its category."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    table = readme.split("## Node types", 1)[1].split("\n## ", 1)[0]
    listed = {
        name.strip("` "): row.split("|")[1].strip()
        for row in table.splitlines()
        if row.startswith("| ") and "`" in row
        for name in row.split("|")[2].split(",")
    }
    assert {t.type: t.category for t in load_registry().all()} == listed


def test_load_registry_is_cached() -> None:
    assert load_registry() is load_registry()


def test_all_is_sorted_by_category_then_type() -> None:
    types = load_registry().all()
    assert [(t.category, t.type) for t in types] == sorted((t.category, t.type) for t in types)
    assert {t.category for t in types} <= {"Triggers", "Logic", "Integrations", "AI", "Human", "Data", "Flow"}


@pytest.mark.parametrize("name", sorted(node_files()))
def test_node_file_is_well_formed(name: str) -> None:
    doc = json.loads(node_files()[name])
    assert name == f"{doc['type']}.json"
    for key in (
        "type",
        "title",
        "category",
        "color",
        "icon",
        "description",
        "config_schema",
        "output_schema",
        "branches",
    ):
        assert key in doc, key  # every built-in type is drawn with its own icon and its category's colour
    assert "Example" in doc["description"] or "example" in doc["description"]
    Draft202012Validator.check_schema(doc["config_schema"])
    if doc["output_schema"] is not None:
        Draft202012Validator.check_schema(doc["output_schema"])
    refs = [prop["$ref"] for _, prop in walk_properties(doc) if "$ref" in prop]
    assert all(ref.startswith("#/") for ref in refs), refs  # no remote references for the frontend to chase
    config = doc["config_schema"]
    assert config["type"] == "object"
    assert config["additionalProperties"] is False
    assert set(config["required"]) <= set(config["properties"])
    assert config["x-ui-order"] == list(config["properties"])
    for path, prop in walk_properties(config):
        assert prop.get("title"), f"{name}: {path} has no title"
        assert prop.get("description"), f"{name}: {path} has no description"


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_examples_and_defaults_validate(type_: str) -> None:
    registry = load_registry()
    node_type = registry[type_]
    examples = node_type.config_schema.get("examples")
    assert examples, f"{type_} has no config examples"
    for example in examples:
        assert registry.validate_config(type_, example) == [], example
        assert registry.validate_config(type_, node_type.with_defaults(example)) == []
        # Every declared default is itself a valid value for its property.
        for name, value in node_type.defaults().items():
            assert registry.validate_config(type_, {**example, name: value}) == [], (name, value)
    if not node_type.config_schema["required"]:
        assert registry.validate_config(type_, {}) == []
        assert registry.validate_config(type_, node_type.defaults()) == []


@pytest.mark.parametrize(("type_", "fields"), sorted(TEMPLATE_FIELDS.items()))
def test_template_fields_carry_the_ui_hint(type_: str, fields: list[str]) -> None:
    properties = load_registry()[type_].config_schema["properties"]
    for name in fields:
        assert properties[name]["x-ui-widget"] == "template", name
        assert properties[name]["type"] == "string"


def test_branches_and_trigger_flags() -> None:
    registry = load_registry()
    for node_type in registry.all():
        assert node_type.trigger is (node_type.type in TRIGGERS)
        expected = BRANCHES.get(node_type.type, [])
        assert list(node_type.branches) == expected
        assert node_type.raw["branches"] == expected
        if node_type.type == "switch":
            assert node_type.dynamic_branches == "cases"
            assert node_type.branching
        else:
            assert node_type.dynamic_branches is None
            assert node_type.branching is bool(expected)
            assert node_type.branches_for({"cases": ["x"]}) == expected
    assert [t.type for t in registry.triggers()] == sorted(TRIGGERS)


def test_code_source_is_a_code_field_whose_language_comes_from_language() -> None:
    code = load_registry()["code"]
    source = code.config_schema["properties"]["source"]
    assert source["x-ui-widget"] == "code"
    assert source["x-ui-language-field"] == "language"
    assert code.config_schema["properties"]["language"]["enum"] == ["javascript", "python"]
    assert code.with_defaults({"language": "python", "source": "x"})["timeout_s"] == 5


def test_code_limits_are_bounded() -> None:
    registry = load_registry()
    base = {"language": "javascript", "source": "function main() { return 1 }"}
    assert registry.validate_config("code", base) == []
    assert registry.validate_config("code", {**base, "timeout_s": 60, "memory_mb": 512}) == []
    bad = [
        ({"timeout_s": 61}, ("timeout_s",)),
        ({"timeout_s": 0}, ("timeout_s",)),
        ({"memory_mb": 513}, ("memory_mb",)),
        ({"memory_mb": 8}, ("memory_mb",)),
        ({"language": "ruby"}, ("language",)),
        ({"source": ""}, ("source",)),
    ]
    for change, path in bad:
        assert [p.path for p in registry.validate_config("code", {**base, **change})] == [path], change


def test_switch_branches_come_from_its_cases() -> None:
    switch = load_registry()["switch"]
    assert switch.branches_for({"value": "{{ input.x }}", "cases": ["DE", "FR"]}) == ["DE", "FR", "default"]
    assert switch.branches_for({}) == ["default"]
    assert switch.branches_for(None) == ["default"]
    assert switch.branches_for({"cases": "DE"}) == ["default"]
    assert switch.branches_for({"cases": ["DE", 3, "", "DE", "default"]}) == ["DE", "default"]


def test_validate_config_reports_paths_relative_to_the_config() -> None:
    registry = load_registry()
    problems = registry.validate_config("http.request", {"timeout_s": "fast", "bogus": 1, "method": "FETCH"})
    assert [(p.path, p.code) for p in problems] == [
        ((), "INVALID_CONFIG"),
        (("bogus",), "INVALID_CONFIG"),
        (("method",), "INVALID_CONFIG"),
        (("timeout_s",), "INVALID_CONFIG"),
    ]
    assert "url" in problems[0].message
    assert "bogus" in problems[1].message
    assert "GET" in problems[2].message
    assert "number" in problems[3].message and "string" in problems[3].message
    prefixed = registry.validate_config("http.request", {"url": 5}, prefix=("nodes", "3", "config"))
    assert [p.dotted for p in prefixed] == ["nodes[3].config.url"]
    unknown = registry.validate_config("nope", {})
    assert [(p.path, p.code) for p in unknown] == [((), "UNKNOWN_NODE_TYPE")]


def test_nested_config_errors_have_precise_paths() -> None:
    registry = load_registry()
    agent = {
        "model": "m",
        "instructions": "i",
        "tools": [
            {"kind": "http", "name": "bad name", "description": "d", "request": {}},
            {"kind": "workflow", "name": "w", "description": "d", "workflow": "wf", "version": 0},
            {"kind": "ftp"},
        ],
    }
    assert sorted(p.path for p in registry.validate_config("agent", agent)) == sorted(
        [("tools", "0", "name"), ("tools", "0", "request"), ("tools", "1", "version"), ("tools", "2", "kind")]
    )
    chat = {"model": "m", "messages": [{"role": "robot", "content": "hi"}], "temperature": 3}
    assert [p.path for p in registry.validate_config("llm.chat", chat)] == [
        ("messages", "0", "role"),
        ("temperature",),
    ]
    switch = {"value": "x", "cases": ["a", "default"]}
    assert [p.path for p in registry.validate_config("switch", switch)] == [("cases", "1")]
    assert [p.path for p in registry.validate_config("switch", {"value": "x", "cases": ["a", "a"]})] == [("cases",)]
    message = {"channel": "c", "pattern": "(unclosed"}
    assert [p.path for p in registry.validate_config("trigger.message", message)] == [("pattern",)]
    manual = {"input_schema": {"type": "object", "properties": {"a": {"minimum": "x"}}}}
    assert [p.path for p in registry.validate_config("trigger.manual", manual)] == [
        ("input_schema", "properties", "a", "minimum")
    ]
    assert registry.validate_config("trigger.manual", {"input_schema": {"type": "object", "required": ["a"]}}) == []
    approval = {"title": "t", "assignees": ["not-an-email"], "required_approvals": 0}
    assert [p.path for p in registry.validate_config("human.approval", approval)] == [
        ("assignees", "0"),
        ("required_approvals",),
    ]
    foreach = {"items": "{{ input.xs }}", "workflow": "wf", "max_concurrency": 101, "on_item_error": "skip"}
    assert [p.path for p in registry.validate_config("foreach", foreach)] == [("max_concurrency",), ("on_item_error",)]
    assert [p.path for p in registry.validate_config("delay", {"seconds": -1})] == [("seconds",)]
    assert registry.validate_config("delay", {"seconds": 3 * 86400}) == []
    assert [p.path for p in registry.validate_config("loop", {"workflow": "w", "max_iterations": 1001})] == [
        ("max_iterations",)
    ]


def test_validate_output() -> None:
    registry = load_registry()
    assert registry.validate_output("http.request", {"status": 200, "headers": {"a": "b"}, "body": None}) == []
    assert [p.path for p in registry.validate_output("http.request", {"status": "200", "headers": {}})] == [
        (),
        ("status",),
    ]
    assert registry.validate_output("condition", {"result": True}) == []
    assert [p.code for p in registry.validate_output("condition", {"result": "yes"})] == ["INVALID_OUTPUT"]
    assert registry.validate_output("delay", {}) == []
    assert registry.validate_output("delay", {"x": 1}) != []
    assert registry.validate_output("fail", None) == []
    assert registry.validate_output("transform", [1, "anything"]) == []
    assert registry.validate_output("trigger.manual", {"amount": 3}) == []
    approval = {"decision": "approved", "comment": None, "data": {"reason": "ok"}, "decided_by": "a@example.org"}
    assert registry.validate_output("human.approval", approval) == []
    assert registry.validate_output("human.approval", {**approval, "decision": "maybe"}) != []
    assert (
        registry.validate_output("foreach", {"results": [1], "errors": [{"index": 0, "run_id": "r", "error": {}}]})
        == []
    )
    assert registry.validate_output("llm.chat", {"text": "hi", "json": None, "usage": {"total_tokens": 3}}) == []
    # Outputs that are exact have closed schemas, so the authoring checks can call a misspelt field an error.
    assert [p.path for p in registry.validate_output("condition", {"result": True, "extra": 1})] == [("extra",)]
    assert [
        p.path for p in registry.validate_output("http.request", {"status": 200, "headers": {}, "body": 1, "x": 1})
    ] == [("x",)]
    usage = {"total_tokens": 3, "cost": 1}
    assert [p.path for p in registry.validate_output("llm.chat", {"text": "", "json": None, "usage": usage})] == [
        ("usage", "cost")
    ]
    decided = {
        **approval,
        "timed_out": False,
        "task_id": "t1",
        "decisions": [{"decided_by": "a@example.org", "decision": "APPROVE", "comment": None}],
    }
    assert registry.validate_output("human.approval", decided) == []
    assert registry.validate_output("human.approval", {**decided, "extra": 1}) != []


def test_documents_and_etags() -> None:
    registry = load_registry()
    files = node_files()
    for node_type in registry.all():
        data = registry.document(node_type.type)
        assert data == files[f"{node_type.type}.json"]
        assert registry.etag(node_type.type) == hashlib.sha256(data).hexdigest() == etag_of(data)
        assert json.loads(data) == node_type.raw
    everything = registry.registry_document()
    assert everything == registry_document()
    assert [d["type"] for d in json.loads(everything)] == [t.type for t in registry.all()]
    assert registry.registry_etag() == etag_of(everything)
    with pytest.raises(KeyError):
        registry.document("nope")


def test_etag_is_stable_and_follows_the_content() -> None:
    files = {f"nodes/{name}": data for name, data in node_files().items()}
    first, second = NodeRegistry(files), NodeRegistry(dict(files))
    assert first.registry_etag() == second.registry_etag() == load_registry().registry_etag()
    assert first.etag("delay") == second.etag("delay")
    doc = json.loads(files["nodes/delay.json"])
    doc["title"] = "Wait"
    changed = NodeRegistry({**files, "nodes/delay.json": json.dumps(doc).encode()})
    assert changed.etag("delay") != first.etag("delay")
    assert changed.etag("fail") == first.etag("fail")
    assert changed.registry_etag() != first.registry_etag()
    assert changed["delay"].title == "Wait"
    assert etag_of(b"") == hashlib.sha256(b"").hexdigest()


def _delay_doc() -> dict[str, Any]:
    return copy.deepcopy(load_registry()["delay"].raw)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["config_schema"]["properties"]["seconds"].update(type="nope"), "config_schema"),
        (lambda d: d.update(output_schema={"type": 5}), "output_schema"),
        (lambda d: d.update(type="other"), "file name"),
        (lambda d: d.pop("branches"), "branches"),
        (lambda d: d["config_schema"].pop("additionalProperties"), "additionalProperties"),
        (lambda d: d.update(dynamic_branches="nope"), "dynamic_branches"),
        (lambda d: d.update(color="red"), "color"),
        (lambda d: d.update(color="#0891b2;background:url(x)"), "color"),
        (lambda d: d.update(icon='M0 0"/><script>alert(1)</script>'), "icon"),
        (lambda d: d.update(icon="M0 0" * 2000), "icon"),
    ],
)
def test_broken_files_fail_loudly(mutate: Any, fragment: str) -> None:
    doc = _delay_doc()
    mutate(doc)
    with pytest.raises(RegistryError, match=fragment):
        NodeRegistry({"nodes/delay.json": json.dumps(doc).encode()})


def test_icons_and_colours_come_from_the_files_with_defaults_for_types_without() -> None:
    registry = load_registry()
    colours = {t.category: t.color for t in registry}
    assert len(set(colours.values())) == len(colours), "each category its own colour"
    assert len({t.icon for t in registry}) == len(registry), "each type its own icon"
    bare = _delay_doc()
    del bare["icon"], bare["color"]
    plain = NodeRegistry({"nodes/delay.json": json.dumps(bare).encode()})["delay"]
    assert (plain.icon, plain.color) == (DEFAULT_ICON, DEFAULT_COLOR)


def test_a_category_has_one_colour() -> None:
    fail = copy.deepcopy(load_registry()["fail"].raw)
    fail["color"] = "#000000"  # fail is in Flow, like delay
    with pytest.raises(RegistryError, match="category 'Flow' is #0891b2"):
        NodeRegistry(
            {"nodes/delay.json": json.dumps(_delay_doc()).encode(), "nodes/fail.json": json.dumps(fail).encode()}
        )


def test_bad_json_and_duplicates_fail_loudly() -> None:
    with pytest.raises(RegistryError, match="not valid JSON"):
        NodeRegistry({"nodes/delay.json": b"{"})
    data = json.dumps(_delay_doc()).encode()
    with pytest.raises(RegistryError, match="defined twice"):
        NodeRegistry({"a": data, "b": data})


def test_workflow_and_step_output_schemas() -> None:
    for schema in (workflow_schema(), step_output_schema()):
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(workflow_schema_document()) == workflow_schema()
    mine = workflow_schema()
    mine["title"] = "changed"
    assert workflow_schema()["title"] != "changed"  # callers get copies
    envelope = {
        "run_id": "run_1",
        "step_id": "notify",
        "node_type": "http.request",
        "status": "FAILED",
        "attempt": 2,
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": None,
        "output": None,
        "error": {"type": "HttpStatusError", "message": "503", "retryable": True},
        "artifacts": ["art_1"],
        "logs": ["GET https://example.org -> 503"],
    }
    assert validate_step_output(envelope) == []
    assert validate_step_output({**envelope, "error": None, "status": "SUCCEEDED", "output": {"x": 1}}) == []
    problems = validate_step_output({**envelope, "status": "DONE", "attempt": -1, "error": {"type": "X"}})
    assert [p.dotted for p in problems] == ["attempt", "error", "error", "status"]
    # Each final status has its shape: a step that ran made an attempt, only FAILED and CANCELLED carry an error.
    assert [p.dotted for p in validate_step_output({**envelope, "attempt": 0})] == ["attempt"]
    assert [p.dotted for p in validate_step_output({**envelope, "status": "SUCCEEDED"})] == ["error"]
    assert [p.dotted for p in validate_step_output({**envelope, "error": None})] == ["error"]
    skipped = {**envelope, "status": "SKIPPED", "attempt": 0, "error": None, "artifacts": []}
    assert validate_step_output(skipped) == []
    assert [p.dotted for p in validate_step_output({**skipped, "output": 1})] == ["output"]
    cancelled = {**skipped, "status": "CANCELLED", "error": {"type": "Cancelled", "message": "why", "retryable": False}}
    assert validate_step_output(cancelled) == []
    assert [p.dotted for p in validate_step_output({**cancelled, "error": None})] == ["error"]
    assert {p.code for p in problems} == {"INVALID_ENVELOPE"}


def _nearly_valid_definitions() -> list[Any]:
    base: dict[str, Any] = {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "a", "type": "transform", "config": {"value": 1}, "retry": {"max_attempts": 3, "jitter": False}},
        ],
        "edges": [{"source": "start", "target": "a", "branch": None, "id": "e1"}],
    }
    variants: list[Any] = [base, [], "x", None, {}, {"nodes": []}, {"nodes": {}}]
    edits: list[tuple[str, int, str, Any]] = [
        ("nodes", 0, "id", "1x"),
        ("nodes", 0, "id", 5),
        ("nodes", 0, "id", "x" * 65),
        ("nodes", 0, "position", {"x": 1}),
        ("nodes", 0, "position", {"x": 1, "y": True}),
        ("nodes", 1, "retry", {"max_attempts": 0}),
        ("nodes", 1, "retry", {"max_attempts": 1.0}),
        ("nodes", 1, "retry", {"max_attempts": 21}),
        ("nodes", 1, "retry", {"backoff": 0.5}),
        ("nodes", 1, "retry", {"jitter": 1}),
        ("nodes", 1, "retry", {"extra": 1}),
        ("nodes", 1, "timeout_s", 0),
        ("nodes", 1, "timeout_s", True),
        ("nodes", 1, "on_error", "ignore"),
        ("nodes", 1, "config", []),
        ("nodes", 1, "label", 3),
        ("nodes", 1, "colour", "red"),
        ("edges", 0, "branch", ""),
        ("edges", 0, "branch", 1),
        ("edges", 0, "target", None),
        ("edges", 0, "weight", 1),
    ]
    for section, index, key, value in edits:
        variant = copy.deepcopy(base)
        variant[section][index][key] = value
        variants.append(variant)
    variants.append({**copy.deepcopy(base), "extra": True})
    variants.append({**copy.deepcopy(base), "viewport": {"x": 0, "y": 0, "zoom": 0}})
    return variants


def test_fast_check_never_accepts_what_jsonschema_rejects() -> None:
    compiled = workflow_compiled()
    variants = _nearly_valid_definitions()
    assert compiled.fast_check(variants[0])
    for variant in variants:
        valid = compiled.validator.is_valid(variant)
        assert compiled.fast_check(variant) == valid, variant
        assert compiled.is_valid(variant) == valid
    registry = load_registry()
    for node_type in registry.all():
        checker = CompiledSchema(node_type.config_schema, node_type.type)
        for example in node_type.config_schema["examples"]:
            for candidate in (example, {**example, "bogus": 1}, dict.fromkeys(example), {}):
                if checker.fast_check(candidate):
                    assert checker.validator.is_valid(candidate), (node_type.type, candidate)
