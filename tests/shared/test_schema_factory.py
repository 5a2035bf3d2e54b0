"""The validator factory (``studio_shared.schemas.validators``) and what it promises, whoever wrote the schema:
nothing fetched, RE2 for every pattern, bounded work, and messages that echo JSON, capped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import referencing.exceptions

from studio_shared.definition import parse_definition, validate_definition
from studio_shared.errors import ValidationFailed
from studio_shared.schemas import budget, load_registry, regex, validators
from studio_shared.schemas.admission import MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, refusals
from studio_shared.schemas.regex import MAX_PATTERN_CHARS, RegexError, compile_regex
from studio_shared.schemas.validators import REGISTRY, UnusableSchema, UserValidator, user_schema
from tests.timing import HANG_S

EVIL = "a" * 5000 + "!"
REDOS = "^(a+)+$"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def charges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The units every metered validation from now on charges, one entry per charge (work counted, not timed)."""
    spent: list[int] = []
    real = budget.Meter.spend

    def spend(meter: budget.Meter, units: int) -> None:
        spent.append(units)
        real(meter, units)

    monkeypatch.setattr(budget.Meter, "spend", spend)
    return spent


# -- references ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"$ref": "http://127.0.0.1:8397/internal/config.json"}, ("$ref",)),
        ({"properties": {"a": {"$ref": "file:///etc/passwd"}}}, ("properties", "a", "$ref")),
        ({"$ref": "https://json-schema.org/draft/2020-12/schema"}, ("$ref",)),  # not even the meta-schema
        ({"items": {"$dynamicRef": "https://example.org/s#meta"}}, ("items", "$dynamicRef")),
        ({"$ref": "other.json#/$defs/a"}, ("$ref",)),  # relative: resolved against a base, i.e. fetched
        ({"enum": [{"$ref": "//example.org/x"}]}, ("enum", "0", "$ref")),  # a JSON pointer can make data a schema
        ({"$ref": "#/$defs/missing"}, ("$ref",)),
        ({"$ref": "#nowhere"}, ("$ref",)),
        ({"properties": {"a": {"$schema": "http://json-schema.org/draft-07/schema#"}}}, ("properties", "a", "$schema")),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, ("$schema",)),
        ({"$defs": {"a": {"$id": "https://example.org/a"}}}, ("$defs", "a", "$id")),
    ],
)
def test_admission_refuses_what_would_leave_the_document(schema: dict[str, Any], path: tuple[str, ...]) -> None:
    assert [(r.path, r.code) for r in refusals(schema)] == [(path, "UNSAFE_SCHEMA")]
    with pytest.raises(UnusableSchema) as refused:
        user_schema(schema)
    assert refused.value.problems[0].path == path


def test_admission_accepts_references_inside_the_document() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.org/root.json",
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/a"},
            "b": {"$ref": "#b"},
            "c": {"$ref": "#/properties/a"},
            "d": {"$ref": "#/$defs/with%20space"},
            "tree": {"$ref": "#"},
        },
        "$defs": {"a": {"type": "integer"}, "b": {"$anchor": "b", "type": "string"}, "with space": {}},
    }
    assert refusals(schema) == []
    compiled = user_schema(schema)
    assert compiled.problems({"a": 1, "b": "x", "c": 2, "tree": {"a": 3}}) == []
    assert [p.path for p in compiled.problems({"a": "x", "tree": {"b": 1}})] == [("a",), ("tree", "b")]


def test_the_registry_retrieves_nothing_even_when_asked_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backstop behind admission: a validator built on REGISTRY never opens a URL, whatever `$ref` says."""
    opened: list[str] = []
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: opened.append(str(a[0])))
    validator = UserValidator({"$ref": "http://127.0.0.1:9/x.json"}, registry=REGISTRY)
    with pytest.raises(referencing.exceptions.Unresolvable):
        list(validator.iter_errors(1))
    assert opened == []


# -- patterns: RE2, linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"properties": {"x": {"pattern": REDOS}}}, {"x": EVIL}),
        ({"type": "string", "pattern": REDOS}, EVIL),  # the fast path
        ({"patternProperties": {REDOS: {"type": "integer"}}}, {EVIL: "x", "aa": "x"}),
        ({"patternProperties": {REDOS: True}, "additionalProperties": False}, {EVIL: 1}),
        ({"patternProperties": {REDOS: True}, "unevaluatedProperties": False}, {EVIL: 1}),
        ({"propertyNames": {"pattern": REDOS}}, {EVIL: 1}),
        ({"$defs": {"p": {"pattern": REDOS}}, "items": {"$ref": "#/$defs/p"}}, [EVIL] * 20),
        ({"type": "string", "format": "regex"}, "(" * 5000),
    ],
)
def test_every_keyword_that_matches_a_pattern_is_linear(schema: dict[str, Any], instance: Any) -> None:
    problems, elapsed = timed(lambda: user_schema(schema, formats=True).problems(instance))
    assert problems, "the instance is invalid"
    assert elapsed < HANG_S, f"{elapsed:.2f} s"  # a backtracking engine: hours; RE2: milliseconds
    assert all(p.code in {"INVALID", "INVALID_PATTERN"} for p in problems)


def test_patterns_mean_what_they_meant() -> None:
    compiled = user_schema(
        {
            "properties": {"code": {"pattern": "^[A-Z]{3}-\\d+$"}, "word": {"pattern": "(?i)refund"}},
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": False,
        }
    )
    assert compiled.problems({"code": "ABC-12", "word": "a REFUND", "x-tag": "t"}) == []
    assert [p.path for p in compiled.problems({"code": "abc-12", "x-tag": 1, "other": 1})] == [
        ("code",),
        ("other",),
        ("x-tag",),
    ]


def test_regex_errors_say_why_in_re2_terms() -> None:
    for pattern, reason in [("((", "missing )"), ("(?=a)", "invalid perl operator"), ("a" * 1001, "longer than")]:
        with pytest.raises(RegexError, match=reason.replace("(", "\\(").replace(")", "\\)")):
            compile_regex(pattern)
    assert MAX_PATTERN_CHARS == 1000
    with pytest.raises(RegexError, match="no UTF-8 form"):  # refused, never a UnicodeEncodeError
        compile_regex("a\ud800")


def test_a_lone_surrogate_in_the_text_is_matched_not_a_crash() -> None:
    compiled = user_schema({"properties": {"x": {"pattern": "^a"}}})
    assert [p.path for p in compiled.problems({"x": "\ud800b"})] == [("x",)]


# -- bounded work ------------------------------------------------------------------------------------------


def _nested_any_of(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "unevaluatedProperties": False, "properties": {"x": {}}}
    for _ in range(depth):
        schema = {"anyOf": [schema, {"type": "object"}], "unevaluatedProperties": False}
    return schema


def test_a_schema_whose_work_multiplies_stops_at_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under 1 KB, and 18 s on jsonschema at depth 14 (each level multiplies the work): stopped at the budget.
    Work counted, not timed (an elapsed < 2.5 s took 3.96 s on a loaded machine): every keyword call charges a
    unit, and the validation stops at the first charge past the budget."""
    schema = _nested_any_of(16)
    assert len(json.dumps(schema)) < 1200
    compiled = user_schema(schema)
    spent = charges(monkeypatch)
    problems = compiled.problems({"x": 1}, ("input",))
    assert [(p.path, p.code) for p in problems] == [(("input",), "TOO_COMPLEX")]
    assert sum(spent[:-1]) <= budget.DEFAULT_UNITS < sum(spent), "stopped at the first charge past the budget"
    assert len(spent) <= budget.DEFAULT_UNITS + 1
    assert user_schema(_nested_any_of(2)).problems({"x": 1}) == []


def test_a_long_pattern_over_a_long_text_is_charged_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "ab" * 500_000
    schema = {"properties": {"x": {"pattern": "[ab]*a[ab]{900}c"}}}  # RE2's slowest path: ~8 s for 1 MB
    compiled = user_schema(schema)
    spent = charges(monkeypatch)
    searched: list[str] = []
    real_search = regex.Regex.search

    def search(pattern: regex.Regex, value: str) -> bool:
        searched.append(value)
        return real_search(pattern, value)

    monkeypatch.setattr(regex.Regex, "search", search)
    problems = compiled.problems({"x": text})
    assert [p.code for p in problems] == ["TOO_COMPLEX"]
    assert len(searched) == 1 and spent[-1] > budget.DEFAULT_UNITS, "the one search was refused on its charge"
    assert user_schema({"properties": {"x": {"pattern": "^[ab]+$"}}}).problems({"x": text}) == []


def test_unique_items_is_linear_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work counted, not timed: each item's identity is taken once (its nested values once each), where jsonschema
    compares all 2e8 pairs of 20,000 objects."""
    compiled = user_schema({"type": "array", "uniqueItems": True})
    distinct = [{"id": i, "tags": [i, str(i)]} for i in range(20_000)]
    identities = 0
    real_identity = validators._identity

    def counted(value: Any) -> Any:
        nonlocal identities
        identities += 1
        return real_identity(value)

    monkeypatch.setattr(validators, "_identity", counted)
    assert compiled.problems(distinct) == []
    assert identities == 2 * len(distinct), "one per item and one per nested list: linear"
    monkeypatch.undo()
    assert compiled.problems([1, True]) == [] and compiled.problems([0, False, None, "0", [0], {"0": 0}]) == []
    [same] = compiled.problems([{"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]}])
    assert same.message == 'items must be unique; {"a": [1.0, {"b": 2}]} appears more than once'


def test_problems_are_capped_and_deep_values_are_a_problem_not_a_crash() -> None:
    compiled = user_schema({"type": "array", "items": {"type": "integer"}})
    assert len(compiled.problems(["x"] * 1000)) == 100
    recursive = user_schema({"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"})
    deep: Any = []
    for _ in range(3000):
        deep = [deep]
    assert [p.code for p in recursive.problems(deep)] == ["TOO_COMPLEX"]


def test_size_and_depth_caps_are_stated() -> None:
    wide = {"type": "object", "properties": {f"field{i}": {"type": "string"} for i in range(3000)}}
    [too_big] = refusals(wide)
    assert f"at most {MAX_SCHEMA_BYTES:,} are allowed" in too_big.message
    deep: dict[str, Any] = {}
    for _ in range(MAX_SCHEMA_DEPTH):
        deep = {"not": deep}
    [too_deep] = refusals(deep)
    assert f"deeper than {MAX_SCHEMA_DEPTH} levels" in too_deep.message
    assert refusals(deep["not"]) == []


# -- messages: JSON, capped ----------------------------------------------------------------------------------


def test_messages_echo_json_never_a_python_repr() -> None:
    compiled = user_schema(
        {
            "type": "object",
            "required": ["id", "it's"],
            "properties": {
                "n": {"type": "integer"},
                "e": {"enum": ["a", "b"]},
                "c": {"const": {"k": True}},
                "o": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "m": {"multipleOf": 3},
                "p": {"pattern": "^x"},
                "u": {"type": "array", "uniqueItems": True},
                "x": {"type": "object", "additionalProperties": False, "properties": {"k": {}}},
            },
        }
    )
    value = {
        "n": "x",
        "e": "z",
        "c": {"k": None},
        "o": None,
        "m": 4,
        "p": "y" * 500,
        "u": [{"a": None}, {"a": None}],
        "x": {"k": 1, "bad": 2},
    }
    problems = compiled.problems(value)
    assert [(".".join(p.path), p.message) for p in problems] == [
        ("", '"id" is a required property'),
        ("", '"it\'s" is a required property'),
        ("c", 'must be {"k": true}; got {"k": null}'),
        ("e", 'must be one of "a", "b"; got "z"'),
        ("m", "must be a multiple of 3; got 4"),
        ("n", "must be integer, not string"),
        ("o", "must match exactly one of 2 alternatives (closest: must be string, not null)"),
        ("p", '"' + "y" * 58 + '… does not match the pattern "^x"'),
        ("u", 'items must be unique; {"a": null} appears more than once'),
        ("x.bad", 'unknown property "bad"; allowed: k'),
    ]
    text = json.dumps([p.message for p in problems])
    for python in ("'x'", "None", "True", "{'"):
        assert python not in text, python


# -- at save, and for stored versions -----------------------------------------------------------------------


def _trigger(config: dict[str, Any], type_: str = "trigger.manual") -> dict[str, Any]:
    return {"nodes": [{"id": "start", "type": type_, "config": config}], "edges": []}


def test_validate_definition_checks_every_user_schema_and_pattern() -> None:
    registry = load_registry()
    remote = {"$ref": "http://127.0.0.1/x.json"}
    approval = {"id": "ask", "type": "human.approval", "config": {"title": "t", "form_schema": remote}}
    tool = {"kind": "http", "name": "t", "description": "d", "parameters": remote, "request": {"url": "https://x.org"}}
    agent = {"id": "agent", "type": "agent", "config": {"model": "m", "instructions": "i", "tools": [tool]}}
    definition = _trigger({"input_schema": {"properties": {"a": {"pattern": "(("}}}})
    definition["nodes"] += [approval, agent]
    definition["edges"] = [
        {"source": "start", "target": "ask"},
        {"source": "ask", "target": "agent", "branch": "approved"},
    ]
    found = [(p.dotted, p.code) for p in validate_definition(definition, registry)]
    assert found == [
        ("nodes[0].config.input_schema.properties.a.pattern", "INVALID_PATTERN"),
        ("nodes[1].config.form_schema.$ref", "UNSAFE_SCHEMA"),
        ("nodes[2].config.tools[0].parameters.$ref", "UNSAFE_SCHEMA"),
    ]
    message = _trigger({"channel": "c", "pattern": "(?<=a)b"}, "trigger.message")
    assert [(p.dotted, p.code) for p in validate_definition(message, registry)] == [
        ("nodes[0].config.pattern", "INVALID_PATTERN")
    ]


def test_a_stored_version_that_breaks_only_the_new_rules_still_parses() -> None:
    """Its runs keep going; the factory refuses the schema where it is used (tests/gql/test_schema_attacks.py)."""
    stored = _trigger({"input_schema": {"properties": {"a": {"$ref": "http://127.0.0.1/x"}, "b": {"pattern": "(("}}}})
    assert parse_definition(stored).trigger.config["input_schema"]["properties"]["b"] == {"pattern": "(("}
    broken = _trigger({"input_schema": {"properties": {"a": {"minimum": "x"}}}})  # a rule as old as the studio
    with pytest.raises(ValidationFailed):
        parse_definition(broken)
