"""The example workflows in studio_shared/examples: the files `studio demo` creates, tests and the UI's tests read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import studio_shared.examples as examples_module
from studio_shared.definition import (
    check_run_input,
    default_input,
    parse_definition,
    schema_defaults,
    validate_definition,
)
from studio_shared.examples import HELLO_TRANSFORM, example, examples


def test_every_example_is_a_valid_workflow() -> None:
    found = examples()
    assert [e["name"] for e in found] == ["Approve large orders", "Hello, transform", "Summarize orders with code"]
    for item in found:
        assert item["description"]
        assert validate_definition(item["definition"]) == [], item["name"]


def test_each_call_returns_a_fresh_copy() -> None:
    first = example(HELLO_TRANSFORM)
    first["definition"]["nodes"].clear()
    assert example(HELLO_TRANSFORM)["definition"]["nodes"]


def test_a_file_of_another_shape_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "odd.json").write_text(json.dumps({"name": "Odd", "definition": {"nodes": []}}))
    monkeypatch.setattr(examples_module.resources, "files", lambda _package: tmp_path)
    with pytest.raises(ValueError, match=r"odd\.json must hold exactly \['definition', 'description', 'name'\]"):
        examples()


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, None),
        ({"type": "object"}, None),
        ({"type": "object", "default": {"a": 1}}, {"a": 1}),
        (
            {"type": "object", "properties": {"a": {"default": 0}, "b": {"type": "string"}, "c": {"default": None}}},
            {"a": 0, "c": None},
        ),
        (
            {"properties": {"o": {"properties": {"x": {"default": [1]}, "y": {}}}, "e": {"properties": {}}}},
            {"o": {"x": [1]}, "e": {}},
        ),
        ({"properties": "not an object"}, None),
    ],
)
def test_schema_defaults_are_what_the_start_dialog_pre_fills(schema: Any, expected: Any) -> None:
    assert schema_defaults(schema) == expected


def test_a_schema_default_is_a_copy() -> None:
    schema = {"properties": {"tags": {"default": ["a"]}}}
    schema_defaults(schema)["tags"].append("b")
    assert schema["properties"]["tags"]["default"] == ["a"]


def test_every_example_starts_without_typing() -> None:
    """The input of a first "Start run" (the defaults) fits each example's trigger, with no field left to fill."""
    for item in examples():
        definition = parse_definition(item["definition"])
        check_run_input(definition, default_input(definition))
