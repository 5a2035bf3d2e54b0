"""The example workflows in studio_shared/examples: the files `studio demo` creates, tests and the UI's tests read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import studio_shared.examples as examples_module
from studio_shared.definition import validate_definition
from studio_shared.examples import HELLO_TRANSFORM, example, examples


def test_every_example_is_a_valid_workflow() -> None:
    found = examples()
    assert [e["name"] for e in found] == ["Approve large orders", "Hello, transform"]
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
