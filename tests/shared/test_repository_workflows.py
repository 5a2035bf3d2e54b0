"""Every workflow definition in the repository that is meant to be valid validates with zero errors, templates and
their references included: the examples (`studio demo`), and the definitions written in tests, benches and
reliability scenarios.

They are collected from the source: every dict literal with a "nodes" key that can be evaluated in its module's
namespace (module constants, and literals inside functions that use only module names), and every module-level
function without required parameters that builds one (called, e.g. ``bench.engine.w10``), plus the builders
listed in ``BUILDERS`` with arguments. A definition with structural errors (schema, graph) is a fixture of an
invalid workflow and is not held to this; a definition that is meant to break its templates is listed in
``BROKEN_ON_PURPOSE`` with the reason.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_shared.authoring import TEMPLATE_CODES
from studio_shared.definition import validate_definition
from studio_shared.errors import ERROR
from studio_shared.examples import examples

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("tests", "bench", "reliability")
# (file, line of the literal or name of the builder) -> why its templates are broken on purpose.
BROKEN_ON_PURPOSE: dict[tuple[str, str], str] = {}
# Builders that take arguments: module, function, arguments.
BUILDERS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("reliability.faults", "definition", ("sink.jsonl",)),
    ("reliability.hostile", "fan_out", ([{"id": "t", "type": "transform", "config": {"value": "{{ input }}"}}],)),
]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _has_nodes(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "nodes" for k in node.keys)


def _collected() -> Iterator[tuple[str, Any]]:
    for item in examples():
        yield f"studio_shared/examples: {item['name']}", item["definition"]
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text("utf-8")
            if '"nodes"' not in source:
                continue
            tree = ast.parse(source)
            module = importlib.import_module(_module_name(path))
            where = str(path.relative_to(ROOT))
            for node in ast.walk(tree):
                if _has_nodes(node):
                    assert isinstance(node, ast.Dict)
                    try:
                        value = eval(compile(ast.Expression(node), where, "eval"), dict(vars(module)))  # noqa: S307
                    except NameError:
                        continue  # uses local names: reached through its builder, if it has one
                    yield f"{where}:{node.lineno}", value
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and any(_has_nodes(n) for n in ast.walk(node)):
                    builder = getattr(module, node.name)
                    parameters = inspect.signature(builder).parameters.values()
                    if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
                        yield f"{where}:{node.name}()", builder()
    for module_name, function, arguments in BUILDERS:
        build: Callable[..., Any] = getattr(importlib.import_module(module_name), function)
        yield f"{module_name}.{function}{arguments!r}"[:120], build(*arguments)


def _definitions() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for where, value in _collected():
        if isinstance(value, dict) and isinstance(value.get("nodes"), list):
            found.append((where, value))
    return found


DEFINITIONS = _definitions()


def test_the_collection_reaches_every_kind_of_source() -> None:
    places = {where.split("/")[0].split(":")[0] for where, _ in DEFINITIONS}
    assert {"studio_shared", "tests", "bench", "reliability"} <= places
    assert len(DEFINITIONS) >= 30


@pytest.mark.parametrize(("where", "definition"), DEFINITIONS, ids=[where for where, _ in DEFINITIONS])
def test_every_workflow_meant_valid_has_no_template_error(where: str, definition: Any) -> None:
    problems = validate_definition(definition)
    if any(p.severity == ERROR and p.code not in TEMPLATE_CODES for p in problems):
        return  # a fixture of a structurally invalid workflow
    errors = [f"{p.dotted}: {p.message}" for p in problems if p.severity == ERROR]
    key = next((k for k in BROKEN_ON_PURPOSE if where.startswith(k[0]) and where.endswith(k[1])), None)
    if key is not None:
        assert errors, f"{where} is listed as broken on purpose ({BROKEN_ON_PURPOSE[key]}) but has no error"
        return
    assert errors == [], where
