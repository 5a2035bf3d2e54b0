"""Validating a 1,000-node draft: ``validate_definition`` as saving and publishing run it (schema, configs, graph,
every template parsed once and its references checked against the graph and the schemas), and the same without
the template checks, so the difference is their cost. In-process, no services; prints a table.

The draft: a manual trigger with an input schema, then blocks of a condition whose two branches (an HTTP request,
a transform) join in a transform reading both, the input and the condition; each block reads the one before it.
Every node has templates; the draft is valid (no error), with the warnings its branch joins deserve.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from studio_shared.authoring import clear_cache
from studio_shared.definition import validate_definition
from studio_shared.errors import ERROR
from studio_shared.schemas import load_registry

NAME = "validation"
HELP = "validate_definition of a 1,000-node draft with templates: with and without the template checks"

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "number"},
        "customer": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False},
    },
    "additionalProperties": False,
}


def draft(size: int = 1000) -> dict[str, Any]:
    """A valid draft of exactly ``size`` nodes: the trigger, whole blocks of four, then a chain of transforms."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger.manual", "config": {"input_schema": INPUT_SCHEMA}}]
    edges: list[dict[str, Any]] = []
    previous = "start"
    for b in range((size - 1) // 4):
        check, call, note, join = f"c{b}", f"h{b}", f"n{b}", f"j{b}"
        before = "{{ steps." + previous + ".output }}"
        nodes += [
            {"id": check, "type": "condition", "config": {"expression": "{{ input.amount > " + str(b) + " }}"}},
            {
                "id": call,
                "type": "http.request",
                "config": {
                    "url": "https://example.org/orders/{{ input.customer.name | urlencode }}",
                    "method": "POST",
                    "body": {"previous": before, "amount": "{{ input.amount * 2 }}"},
                },
            },
            {"id": note, "type": "transform", "config": {"value": {"who": "{{ input.customer.name | upper }}"}}},
            {
                "id": join,
                "type": "transform",
                "config": {
                    "value": {
                        "status": "{{ steps." + call + ".output.status | default(0) }}",
                        "who": "{{ steps." + note + ".output.who }}",
                        "big": "{{ steps." + check + ".output.result }}",
                        "text": "Order of {{ input.customer.name }}: {{ input.amount | round(2) }} EUR",
                    }
                },
            },
        ]
        edges += [
            {"source": previous, "target": check},
            {"source": check, "target": call, "branch": "true"},
            {"source": check, "target": note, "branch": "false"},
            {"source": call, "target": join},
            {"source": note, "target": join},
        ]
        previous = join
    for t in range(size - len(nodes)):  # the rest: a chain of transforms, each reading the one before
        tail = f"t{t}"
        nodes.append({"id": tail, "type": "transform", "config": {"value": "{{ steps." + previous + ".output }}"}})
        edges.append({"source": previous, "target": tail})
        previous = tail
    return {"nodes": nodes, "edges": edges}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in the draft (default 1000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed validations of each kind (default 7)")


def measure(size: int, repeat: int) -> list[tuple[str, float, float]]:
    """(label, median wall ms, median CPU ms) of validate_definition: templates parsed cold (the parse cache
    emptied first: a draft seen for the first time), warm (validated again unchanged: the save after a validation,
    the publish after a save), and without the template checks."""
    registry = load_registry()
    definition = draft(size)
    problems = validate_definition(definition, registry)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        raise AssertionError(f"the benchmark's draft must be valid: {errors[:3]}")
    rows: list[tuple[str, float, float]] = []
    kinds = (
        ("with template checks, cold", True, True),
        ("with template checks, warm (unchanged draft)", True, False),
        ("structure only (no template checks)", False, False),
    )
    for label, templates, cold in kinds:
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(repeat):
            if cold:
                clear_cache()
            started, started_cpu = time.perf_counter(), time.process_time()
            validate_definition(definition, registry, templates=templates)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        rows.append((f"{len(definition['nodes'])} nodes, {label}", statistics.median(wall), statistics.median(cpu)))
    return rows


def main(args: argparse.Namespace) -> int:
    rows = measure(args.nodes, args.repeat)
    templates = sum(1 for _ in _templates(draft(args.nodes)))
    print(f"{templates:,} templates in the draft; CPU time is the figure to compare on a busy machine")
    print(f"{'validate_definition':<56} {'wall ms':>10} {'CPU ms':>10}")
    for label, wall, cpu in rows:
        print(f"{label:<56} {wall:>10,.1f} {cpu:>10,.1f}")
    return 0


def _templates(value: Any) -> Any:
    if isinstance(value, str) and "{{" in value:
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _templates(item)
    elif isinstance(value, list):
        for item in value:
            yield from _templates(item)
