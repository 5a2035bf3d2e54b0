"""A test step's filled-in upstream (``studio_worker.draft_tests.fill_upstream``): pure, over parsed definitions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from studio_shared.db import models
from studio_shared.definition import parse_definition
from studio_shared.errors import ValidationFailed
from studio_shared.schemas import load_registry
from studio_shared.types import StepStatus
from studio_worker.draft_tests import fill_upstream
from tests.worker.engine_harness import chain

REGISTRY = load_registry()
BRANCHY = chain(
    {"id": "check", "type": "condition", "config": {"expression": "{{ input.ok }}"}},
    {"id": "yes", "type": "transform", "config": {"value": "yes"}},
    {"id": "no", "type": "transform", "config": {"value": "no"}},
    {"id": "join", "type": "transform", "config": {"value": "{{ steps.check.output }}"}},
    edges=[("start", "check"), ("check", "yes", "true"), ("check", "no", "false"), ("yes", "join"), ("no", "join")],
)


def step(step_id: str, status: StepStatus, output: Any = None, branches: list[str] | None = None) -> models.Step:
    return models.Step(
        tenant_id=uuid.uuid4(),
        run_id=uuid.uuid4(),
        step_id=step_id,
        node_type="x",
        status=status,
        output=output,
        branches=branches,
    )


def statuses(filled: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {sid: values["status"].value for sid, values in filled.items()}


def test_ancestors_are_filled_in_and_everything_else_skipped() -> None:
    definition = parse_definition(BRANCHY, REGISTRY)
    filled = fill_upstream(definition, "yes", {"ok": True}, {"check": {"result": True}}, {}, {})
    assert statuses(filled) == {"start": "SUCCEEDED", "check": "SUCCEEDED", "no": "SKIPPED", "join": "SKIPPED"}
    assert filled["start"]["output"] == {"ok": True}  # the trigger's output is the input
    assert filled["check"]["branches"] == ["true"]  # derived from the typed output
    assert filled["check"]["envelope"]["logs"] == ["not run by this test step: output typed by hand"]


def test_the_edge_into_the_tested_node_is_taken_whatever_branch_the_data_chose() -> None:
    definition = parse_definition(BRANCHY, REGISTRY)
    earlier = {
        "start": step("start", StepStatus.SUCCEEDED, {}),
        "check": step("check", StepStatus.SUCCEEDED, {"result": False}, ["false"]),
    }
    filled = fill_upstream(definition, "yes", None, {}, earlier, {})
    assert filled["check"]["branches"] == ["false", "true"]


def test_a_step_skipped_in_the_chosen_run_is_skipped_and_a_node_whose_parents_all_were_is_refused() -> None:
    definition = parse_definition(BRANCHY, REGISTRY)
    earlier = {
        "start": step("start", StepStatus.SUCCEEDED, {}),
        "check": step("check", StepStatus.SUCCEEDED, {"result": True}, ["true"]),
        "yes": step("yes", StepStatus.SUCCEEDED, "yes"),
        "no": step("no", StepStatus.SKIPPED),
    }
    filled = fill_upstream(definition, "join", None, {}, earlier, {})
    assert statuses(filled) == {"start": "SUCCEEDED", "check": "SUCCEEDED", "yes": "SUCCEEDED", "no": "SKIPPED"}
    earlier["yes"] = step("yes", StepStatus.SKIPPED)
    with pytest.raises(ValidationFailed) as refused:
        fill_upstream(definition, "join", None, {}, earlier, {})
    assert refused.value.problems[0].code == "SKIPPED"


def test_sources_in_order_typed_then_the_run_then_pins_and_missing_ones_are_named() -> None:
    definition = parse_definition(BRANCHY, REGISTRY)
    pins = {"check": {"output": {"result": True}, "branches": ["true"]}, "yes": {"output": "pinned", "branches": None}}
    earlier = {"yes": step("yes", StepStatus.SUCCEEDED, "from the run")}
    filled = fill_upstream(definition, "join", None, {"no": "typed"}, earlier, pins)
    assert filled["yes"]["output"] == "from the run" and "pinned" not in filled["yes"]["envelope"]
    assert filled["check"]["output"] == {"result": True} and filled["check"]["envelope"]["pinned"] is True
    assert filled["no"]["output"] == "typed"
    with pytest.raises(ValidationFailed) as refused:
        fill_upstream(definition, "join", None, {}, {}, {})
    problem = refused.value.problems[0]
    assert problem.code == "MISSING_UPSTREAM" and "'check', 'yes', 'no'" in problem.message, problem.message
