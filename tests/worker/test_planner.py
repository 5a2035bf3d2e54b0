"""The planner's edge semantics, exhaustively and without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from studio_shared.definition import parse_definition
from studio_shared.types import StepStatus
from studio_worker.engine.planner import StepState, plan, reset_for_retry, sink_outputs

NOW = datetime(2026, 1, 1, tzinfo=UTC)
P, R, W, S, F, K, C = (
    StepStatus.PENDING,
    StepStatus.RUNNING,
    StepStatus.WAITING,
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.CANCELLED,
)


def node(id: str, type: str = "transform", **extra: Any) -> dict[str, Any]:
    config = {"value": 1} if type == "transform" else extra.pop("config", {})
    return {"id": id, "type": type, "config": config, **extra}


def definition(nodes: list[dict[str, Any]], edges: list[tuple[str, str] | tuple[str, str, str]]) -> Any:
    return parse_definition(
        {
            "nodes": [node("start", "trigger.manual"), *nodes],
            "edges": [dict(zip(("source", "target", "branch"), e, strict=False)) for e in edges],
        }
    )


def states(d: Any, **given: Any) -> dict[str, StepState]:
    out = {n.id: StepState(P) for n in d}
    for key, value in given.items():
        out[key] = value if isinstance(value, StepState) else StepState(value)
    return out


LINEAR = definition([node("a"), node("b")], [("start", "a"), ("a", "b")])
DIAMOND = definition([node("a"), node("b"), node("c")], [("start", "a"), ("start", "b"), ("a", "c"), ("b", "c")])
BRANCH = definition(
    [
        node("cond", "condition", config={"expression": "{{ true }}"}),
        node("yes"),
        node("no"),
        node("after_no"),
        node("join"),
    ],
    [
        ("start", "cond"),
        ("cond", "yes", "true"),
        ("cond", "no", "false"),
        ("no", "after_no"),
        ("yes", "join"),
        ("after_no", "join"),
    ],
)


def test_trigger_is_ready_first() -> None:
    p = plan(LINEAR, states(LINEAR), NOW)
    assert p.ready == ["start"]
    assert not p.finished


def test_linear_chain_advances_one_at_a_time() -> None:
    p = plan(LINEAR, states(LINEAR, start=S), NOW)
    assert p.ready == ["a"]
    p = plan(LINEAR, states(LINEAR, start=S, a=R), NOW)
    assert (p.ready, p.running) == ([], ["a"])
    p = plan(LINEAR, states(LINEAR, start=S, a=S, b=S), NOW)
    assert p.finished
    assert not p.run_failed


def test_diamond_runs_both_sides_concurrently_and_joins_once_both_are_done() -> None:
    p = plan(DIAMOND, states(DIAMOND, start=S), NOW)
    assert p.ready == ["a", "b"]
    p = plan(DIAMOND, states(DIAMOND, start=S, a=S, b=R), NOW)
    assert p.ready == []
    p = plan(DIAMOND, states(DIAMOND, start=S, a=S, b=S), NOW)
    assert p.ready == ["c"]


def test_branch_not_taken_is_skipped_and_the_skip_cascades_but_the_join_runs() -> None:
    taken = StepState(S, branches=("true",))
    p = plan(BRANCH, states(BRANCH, start=S, cond=taken), NOW)
    assert p.ready == ["yes"]
    assert p.skip == ["no", "after_no"]
    p = plan(BRANCH, states(BRANCH, start=S, cond=taken, yes=S, no=K, after_no=K), NOW)
    assert p.ready == ["join"], "a join with one taken and one skipped input runs"


def test_a_node_whose_every_input_was_skipped_is_skipped() -> None:
    none_taken = StepState(S, branches=())
    p = plan(BRANCH, states(BRANCH, start=S, cond=none_taken), NOW)
    assert p.skip == ["yes", "no", "after_no", "join"]
    assert not p.ready


@pytest.mark.parametrize(
    ("source", "edge_runs"),
    [
        (StepState(F), False),
        (StepState(K), False),
        (StepState(C), False),
        (StepState(S), True),
    ],
)
def test_plain_edge_taken_only_after_success(source: StepState, edge_runs: bool) -> None:
    p = plan(LINEAR, states(LINEAR, start=S, a=source), NOW)
    assert (p.ready == ["b"]) is edge_runs


def test_failure_with_on_error_continue_lets_plain_edges_run() -> None:
    d = definition([node("a", on_error="continue"), node("b")], [("start", "a"), ("a", "b")])
    p = plan(d, states(d, start=S, a=F), NOW)
    assert p.ready == ["b"]
    assert not p.run_failed


def test_failure_with_on_error_fail_fails_the_run() -> None:
    p = plan(DIAMOND, states(DIAMOND, start=S, a=F, b=R), NOW)
    assert p.failed == ["a"]
    assert p.run_failed


def test_retry_backoff_keeps_a_pending_step_out_of_ready_until_due() -> None:
    later = NOW + timedelta(seconds=5)
    p = plan(LINEAR, states(LINEAR, start=S, a=StepState(P, wake_at=later)), NOW)
    assert p.ready == []
    assert p.next_wake_at == later
    assert not p.finished
    p = plan(LINEAR, states(LINEAR, start=S, a=StepState(P, wake_at=later)), later)
    assert p.ready == ["a"]


def test_waiting_steps_are_due_at_their_deadline_and_block_finishing() -> None:
    deadline = NOW + timedelta(hours=3)
    p = plan(LINEAR, states(LINEAR, start=S, a=StepState(W, wake_at=deadline)), NOW)
    assert (p.waiting, p.due, p.next_wake_at) == (["a"], [], deadline)
    assert not p.finished
    p = plan(LINEAR, states(LINEAR, start=S, a=StepState(W, wake_at=deadline)), deadline)
    assert p.due == ["a"]
    p = plan(LINEAR, states(LINEAR, start=S, a=StepState(W)), NOW)
    assert p.waiting == ["a"]
    assert p.next_wake_at is None
    assert not p.finished


def test_switch_takes_exactly_the_named_branch() -> None:
    d = definition(
        [
            node("sw", "switch", config={"value": "{{ input.k }}", "cases": ["x", "y"]}),
            node("x"),
            node("y"),
            node("other"),
        ],
        [("start", "sw"), ("sw", "x", "x"), ("sw", "y", "y"), ("sw", "other", "default")],
    )
    p = plan(d, states(d, start=S, sw=StepState(S, branches=("default",))), NOW)
    assert p.ready == ["other"]
    assert p.skip == ["x", "y"]


def test_reset_for_retry_defaults_to_failed_and_cancelled_and_their_downstream() -> None:
    given = states(DIAMOND, start=S, a=F, b=C, c=C)
    assert reset_for_retry(DIAMOND, given, None) == {"a", "b", "c"}
    assert reset_for_retry(DIAMOND, given, "b") == {"b", "c"}
    ok = states(DIAMOND, start=S, a=S, b=S, c=S)
    assert reset_for_retry(DIAMOND, ok, None) == set()


def test_sink_outputs_are_the_succeeded_sinks() -> None:
    taken = StepState(S, branches=("true",))
    given = states(BRANCH, start=S, cond=taken, yes=S, no=K, after_no=K, join=S)
    assert sink_outputs(BRANCH, {"join": {"j": 1}, "yes": 2}, given) == {"join": {"j": 1}}
    d = definition([node("a"), node("b")], [("start", "a"), ("start", "b")])
    assert sink_outputs(d, {"a": 1, "b": 2}, states(d, start=S, a=S, b=F)) == {"a": 1}


def test_large_chain_plans_quickly() -> None:
    n = 2000
    d = definition(
        [node(f"n{i}") for i in range(n)], [("start", "n0"), *((f"n{i}", f"n{i + 1}") for i in range(n - 1))]
    )
    given = states(d, start=S, **{f"n{i}": S for i in range(n // 2)})
    p = plan(d, given, NOW)
    assert p.ready == [f"n{n // 2}"]
