"""A new run's rows (``studio_worker.engine.records.new_runs``), built once for every caller, and the process's one
definition cache (``studio_worker.engine.definitions``)."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from studio_gql.state import AppState
from studio_shared.db.jsondata import encode
from studio_shared.definition import parse_definition
from studio_shared.events import EventKind
from studio_shared.schemas import load_registry
from studio_shared.types import RunStatus, StepStatus
from studio_worker.engine.definitions import Definitions
from studio_worker.engine.records.new_runs import NewRun, Parent, new_run
from tests.worker.engine_harness import chain

REGISTRY = load_registry()
DOCUMENT = chain(
    {"id": "a", "type": "transform", "config": {"value": 1}},
    {"id": "b", "type": "transform", "config": {"value": 2}},
)
DEFINITION = parse_definition(DOCUMENT, REGISTRY)
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
TENANT, WORKFLOW, VERSION = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ROOT = Path(__file__).resolve().parents[2]


def build(**extra: Any) -> NewRun:
    base: dict[str, Any] = {
        "tenant_id": TENANT,
        "workflow_id": WORKFLOW,
        "version_id": VERSION,
        "version": 3,
        "definition": DEFINITION,
        "input": {"name": "ada"},
        "trigger": "manual",
        "trigger_data": {"via": "test"},
        "now": NOW,
    }
    return new_run(**{**base, **extra})


def test_a_start_is_queued_with_a_pending_step_per_node_and_its_first_event() -> None:
    new = build(idempotency_key="k", created_by="user:1")
    run = new.run
    assert run["status"] is RunStatus.QUEUED and run["last_seq"] == 1 and run["signal"] == 0
    assert run["depth"] == 0 and run["parent_run_id"] is None and run["held_since"] is None and run["test"] is False
    # The quotas count the input and trigger data as stored; the row stores the encoded values.
    assert run["stored_bytes"] == encode({"name": "ada"}).size + encode({"via": "test"}).size
    assert new.row()["input"] == encode({"name": "ada"})
    assert run["input"] == {"name": "ada"}  # the run as the caller answers with it
    steps = new.steps
    assert [s["step_id"] for s in steps] == ["start", "a", "b"]
    assert {s["run_id"] for s in steps} == {run["id"]} and all("status" not in s for s in steps)  # column default
    event = new.event
    assert (event.seq, event.kind, event.status, event.run_id) == (1, EventKind.RUN_QUEUED, RunStatus.QUEUED, run["id"])
    assert event.data == {"trigger": "manual", "version": 3} and event.parent_run_id is None


def test_a_held_test_run_says_so() -> None:
    new = build(test=True, held=True)
    assert new.run["test"] is True and new.run["held_since"] == NOW
    assert new.event.data == {"trigger": "manual", "version": 3, "test": True}


def test_a_child_is_linked_to_its_parent_and_counts_its_input_only() -> None:
    parent = Parent(uuid.uuid4(), "loop", 7)
    stored = encode([1, 2, 3])
    new = build(
        input=[1, 2, 3], stored_input=stored, parent=parent, trigger="parent", trigger_data=parent.link(), depth=2
    )
    run = new.run
    assert (run["parent_run_id"], run["parent_step_id"], run["item_index"], run["depth"]) == (
        parent.run_id,
        "loop",
        7,
        2,
    )
    assert run["stored_bytes"] == stored.size  # its trigger data is only its link: not counted
    assert new.row()["input"] is stored
    link = {"parent_run_id": str(parent.run_id), "parent_step_id": "loop", "item_index": 7}
    assert run["trigger_data"] == link
    assert new.event.data == {**link, "trigger": "parent", "version": 3}
    assert new.event.parent_run_id == parent.run_id


def test_filled_steps_name_the_same_columns_and_count_their_documents() -> None:
    envelope = {"step_id": "a", "run_id": "earlier", "status": "SUCCEEDED"}
    filled = {"a": {"status": StepStatus.SUCCEEDED, "attempt": 1, "output": {"x": 1}, "envelope": envelope}}
    new = build(filled=filled)
    steps = {s["step_id"]: s for s in new.steps}
    assert len({frozenset(s) for s in steps.values()}) == 1  # one executemany
    assert steps["b"]["status"] is StepStatus.PENDING and steps["b"]["attempt"] == 0 and steps["b"]["output"] is None
    run_id = new.run["id"]
    assert steps["a"]["envelope"]["run_id"] == str(run_id) and envelope["run_id"] == "earlier"
    documents = encode({"x": 1}).size + encode(steps["a"]["envelope"]).size
    inputs = encode({"name": "ada"}).size + encode({"via": "test"}).size
    assert new.run["stored_bytes"] == inputs + documents


def test_every_caller_builds_new_runs_with_the_one_builder() -> None:
    """Control's starts (and through it test runs, test steps and replays), a step's child runs and a failed run's
    error run."""
    callers = set()
    for path in (ROOT / "studio_worker").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "new_run":
                callers.add(path.relative_to(ROOT).as_posix())
    assert callers == {
        "studio_worker/control.py",
        "studio_worker/engine/children.py",
        "studio_worker/engine/error_workflows.py",
    }


def test_the_definition_cache_keeps_the_most_recently_used() -> None:
    cache = Definitions(REGISTRY, size=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache.remember(first, DOCUMENT)
    cache.remember(second, DOCUMENT)
    assert cache.get(first) is not None  # now the most recent
    cache.remember(third, DOCUMENT)
    assert len(cache) == 2 and cache.get(second) is None and cache.get(first) is not None
    assert cache.get(uuid.uuid4()) is None


async def test_an_embedded_process_has_one_definition_cache(state: AppState) -> None:
    """The API process hosting the run engine (the embedded default): Control parses into the engine's cache, not a
    second one; without an engine in the process (workers elsewhere), Control has one of its own."""
    if state.run_engine is not None:
        assert state.control._definitions is state.run_engine.definitions
    else:
        assert isinstance(state.control._definitions, Definitions)
