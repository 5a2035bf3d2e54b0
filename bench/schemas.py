"""Validation against user schemas: the cost of checking a run's input (a validator built per start, as before the
validator factory, against the factory's cached schema with its fast path), saving a definition, and the ReDoS
figures (Python's ``re`` on ``^(a+)+$``, doubling per character, against RE2 on 5,000 characters). In-process, no
services; prints a table."""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from studio_shared.definition import validate_definition
from studio_shared.schemas import load_registry, user_schema
from studio_shared.schemas.regex import compile_regex

NAME = "schemas"
HELP = "run-input validation per start (before/after the validator factory), saves, ReDoS figures"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order", "amount", "email"],
    "properties": {
        "order": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4,8}$"},
        "amount": {"type": "number", "minimum": 0},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "email": {"type": "string", "maxLength": 200},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            },
        },
        "note": {"type": "string"},
    },
    "additionalProperties": False,
}
VALID = {
    "order": "FR-123456",
    "amount": 42.5,
    "currency": "EUR",
    "email": "a@b.example",
    "items": [{"sku": f"s{i}", "qty": i + 1} for i in range(10)],
}
INVALID = {**VALID, "amount": -1, "items": [{"sku": 1, "qty": 0}]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=2000, help="calls per measurement (default 2000)")


def _per_call_us(call: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(samples)


def _before(instance: object) -> object:
    validator = Draft202012Validator(SCHEMA)  # what check_run_input did on every start
    return sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))


def _after(instance: object) -> object:
    return user_schema(SCHEMA).problems(instance, ("input",), "INVALID_INPUT")


def main(args: argparse.Namespace) -> int:
    registry = load_registry()
    nodes = [{"id": "start", "type": "trigger.manual", "config": {"input_schema": SCHEMA}}]
    nodes += [{"id": f"t{i}", "type": "transform", "config": {"value": "{{ input.order }}"}} for i in range(50)]
    definition = {"nodes": nodes, "edges": [{"source": "start", "target": f"t{i}"} for i in range(50)]}
    rows = [
        ("run input, valid: validator built per start (before)", _per_call_us(lambda: _before(VALID), args.repeat)),
        ("run input, valid: factory, cached + fast path (after)", _per_call_us(lambda: _after(VALID), args.repeat)),
        ("run input, 3 problems: validator built per start (before)", _per_call_us(lambda: _before(INVALID), 500)),
        ("run input, 3 problems: factory, cached (after)", _per_call_us(lambda: _after(INVALID), 500)),
        (
            "validate_definition, 51 nodes with an input_schema",
            _per_call_us(lambda: validate_definition(definition, registry), 50),
        ),
    ]
    print(f"{'measurement':<62} {'µs per call':>12}")
    for label, us in rows:
        print(f"{label:<62} {us:>12,.1f}")
    print("\nReDoS: ^(a+)+$ against 'a' * n + '!'")
    backtracking = re.compile("^(a+)+$")
    for n in (18, 20, 22, 24):
        started = time.perf_counter()
        backtracking.search("a" * n + "!")
        print(f"  Python re, n = {n:>5}: {time.perf_counter() - started:8.3f} s")
    linear = compile_regex("^(a+)+$")
    for n in (24, 5_000, 100_000):
        started = time.perf_counter()
        linear.search("a" * n + "!")
        print(f"  RE2,       n = {n:>5}: {time.perf_counter() - started:8.5f} s")
    return 0
