"""foreach, subworkflow and loop: child runs of their own, in the mode of this pass."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.events import channels
from studio_shared.store import workflows
from studio_shared.types import RunStatus
from tests.conftest import TenantFixture
from tests.nodes_plugin import sink_lines
from tests.worker.engine_harness import actor, assert_events_contiguous, chain, publish, wait_for

pytestmark = pytest.mark.usefixtures("workers")


def node(id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "config": config}


async def children_of(state: AppState, tenant: TenantFixture, run_id: uuid.UUID) -> list[models.Run]:
    async with state.sessions() as s:
        rows = await s.scalars(
            sa.select(models.Run)
            .where(models.Run.tenant_id == tenant.id, models.Run.parent_run_id == run_id)
            .order_by(models.Run.item_index)
        )
        return list(rows)


async def start(state: AppState, tenant: TenantFixture, definition: dict[str, Any], input: Any = None) -> uuid.UUID:
    workflow_id = await publish(state, tenant, definition, name="parent")
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input=input)
    return run.id


def max_overlap(lines: list[dict[str, Any]]) -> int:
    """The most children between their start and done at once, from the sink's append order."""
    running = peak = 0
    for line in lines:
        running += 1 if line["what"] == "start" else -1 if line["what"] == "done" else 0
        peak = max(peak, running)
    return peak


@pytest.fixture
async def doubler(state: AppState, tenant: TenantFixture) -> uuid.UUID:
    """A child workflow whose output is {"double": input.n * 2}."""
    return await publish(state, tenant, chain(node("double", "transform", value="{{ input.n * 2 }}")), name="double")


@pytest.mark.parametrize("count", [0, 1, 1000])
async def test_foreach_collects_outputs_in_item_order(
    state: AppState, tenant: TenantFixture, doubler: uuid.UUID, count: int
) -> None:
    parent = chain(
        node(
            "each",
            "foreach",
            items="{{ input.numbers }}",
            workflow=str(doubler),
            input={"n": "{{ item }}"},
            max_concurrency=20,
        ),
    )
    run_id = await start(state, tenant, parent, {"numbers": list(range(count))})
    # A deadline for a hang, not a figure: 1,000 children took 51.7 s of the old 60 on PostgreSQL at a load of 10.
    done = await wait_for(state, tenant.id, run_id, timeout=300)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["each"].output == {"results": [{"double": 2 * i} for i in range(count)], "errors": []}
    children = await children_of(state, tenant, run_id)
    assert [c.item_index for c in children] == list(range(count))
    assert all(c.parent_step_id == "each" and c.depth == 1 and c.status is RunStatus.SUCCEEDED for c in children)
    assert max_running(children) <= 20, "never more children RUNNING at once than max_concurrency"
    assert_events_contiguous(done)


def max_running(children: list[models.Run]) -> int:
    """The most children whose [started_at, finished_at] intervals overlap at any moment."""
    edges = sorted(
        [(c.started_at, 1) for c in children] + [(c.finished_at, -1) for c in children], key=lambda e: (e[0], e[1])
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def test_foreach_honours_max_concurrency(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink = str(tmp_path / "sink")
    child = await publish(state, tenant, chain(node("nap", "test.sleep", seconds=0.15, sink=sink)), name="nap")
    parent = chain(node("each", "foreach", items="{{ input.items }}", workflow=str(child), input={}, max_concurrency=3))
    run_id = await start(state, tenant, parent, {"items": list(range(12))})
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    lines = sink_lines(sink)
    assert [line["what"] for line in lines].count("done") == 12, "every item ran exactly once"
    assert len({line["run"] for line in lines}) == 12
    assert 2 <= max_overlap(lines) <= 3, "at most max_concurrency children at once (and really in parallel)"


@pytest.fixture
async def picky(state: AppState, tenant: TenantFixture) -> uuid.UUID:
    """A child workflow that fails when its input says so: {"bad": true}."""
    definition = chain(
        node("check", "condition", expression="{{ input.bad }}"),
        node("boom", "fail", message="item {{ input.n }} is bad"),
        node("ok", "transform", value="{{ input.n }}"),
        edges=[("start", "check"), ("check", "boom", "true"), ("check", "ok", "false")],
    )
    return await publish(state, tenant, definition, name="picky")


def picky_parent(picky: uuid.UUID, on_item_error: str, concurrency: int = 2) -> dict[str, Any]:
    return chain(
        node(
            "each",
            "foreach",
            items="{{ input.items }}",
            workflow=str(picky),
            input={"n": "{{ item }}", "bad": "{{ item == 2 }}"},
            max_concurrency=concurrency,
            on_item_error=on_item_error,
        )
    )


async def test_foreach_continue_records_each_failed_item(
    state: AppState, tenant: TenantFixture, picky: uuid.UUID
) -> None:
    run_id = await start(state, tenant, picky_parent(picky, "continue"), {"items": [0, 1, 2, 3]})
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    output = done.steps["each"].output
    assert output["results"] == [{"ok": 0}, {"ok": 1}, None, {"ok": 3}]
    [error] = output["errors"]
    failed = (await children_of(state, tenant, run_id))[2]
    assert error["index"] == 2 and error["run_id"] == str(failed.id) and failed.status is RunStatus.FAILED
    assert "item 2 is bad" in error["error"]["message"]


async def test_foreach_fail_fast_fails_the_step_naming_the_child(
    state: AppState, tenant: TenantFixture, picky: uuid.UUID
) -> None:
    run_id = await start(state, tenant, picky_parent(picky, "fail_fast", concurrency=1), {"items": [0, 1, 2, 3, 4]})
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.FAILED
    children = await children_of(state, tenant, run_id)
    failed = next(c for c in children if c.status is RunStatus.FAILED)
    error = done.steps["each"].error
    assert error["type"] == "ChildFailed" and str(failed.id) in error["message"] and "item 2" in error["message"]
    assert len(children) == 3, "items after the failure never started (max_concurrency 1)"


async def test_foreach_rejects_items_that_are_not_a_list(
    state: AppState, tenant: TenantFixture, doubler: uuid.UUID
) -> None:
    parent = chain(node("each", "foreach", items="{{ input.numbers }}", workflow=str(doubler)))
    run_id = await start(state, tenant, parent, {"numbers": {"not": "a list"}})
    done = await wait_for(state, tenant.id, run_id)
    assert done.run.status is RunStatus.FAILED
    assert done.steps["each"].error["type"] == "InvalidItems"
    assert "dict" in done.steps["each"].error["message"]


async def test_nested_foreach(state: AppState, tenant: TenantFixture, doubler: uuid.UUID) -> None:
    inner = await publish(
        state,
        tenant,
        chain(node("each", "foreach", items="{{ input.row }}", workflow=str(doubler), input={"n": "{{ item }}"})),
        name="inner",
    )
    parent = chain(node("rows", "foreach", items="{{ input.grid }}", workflow=str(inner), input={"row": "{{ item }}"}))
    run_id = await start(state, tenant, parent, {"grid": [[1, 2], [], [3]]})
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    rows = [r["each"]["results"] for r in done.steps["rows"].output["results"]]
    assert rows == [[{"double": 2}, {"double": 4}], [], [{"double": 6}]]


async def test_subworkflow_runs_the_pinned_or_the_latest_version(state: AppState, tenant: TenantFixture) -> None:
    child = await publish(state, tenant, chain(node("v", "transform", value="one {{ input.x }}")), name="versioned")
    async with state.sessions.begin() as s:
        await workflows.update(
            s,
            tenant.id,
            actor(tenant),
            state.registry,
            child,
            definition=chain(node("v", "transform", value="two {{ input.x }}")),
        )
        await workflows.publish(s, tenant.id, actor(tenant), state.registry, child, None)
    parent = chain(
        node("pinned", "subworkflow", workflow=str(child), version=1, input={"x": "{{ input.x }}"}),
        node("latest", "subworkflow", workflow=str(child), input={"x": "{{ input.x }}"}),
    )
    run_id = await start(state, tenant, parent, {"x": "!"})
    done = await wait_for(state, tenant.id, run_id, timeout=30)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["pinned"].output == {"v": "one !"}
    assert done.steps["latest"].output == {"v": "two !"}
    assert {c.version for c in await children_of(state, tenant, run_id)} == {1, 2}


async def test_subworkflow_failure_names_the_child_run(
    state: AppState, tenant: TenantFixture, picky: uuid.UUID
) -> None:
    parent = chain(node("call", "subworkflow", workflow=str(picky), input={"n": 7, "bad": True}))
    run_id = await start(state, tenant, parent)
    done = await wait_for(state, tenant.id, run_id, timeout=30)
    [child] = await children_of(state, tenant, run_id)
    assert done.run.status is RunStatus.FAILED and child.status is RunStatus.FAILED
    assert str(child.id) in done.steps["call"].error["message"]
    assert "item 7 is bad" in done.steps["call"].error["message"]


async def test_subworkflow_of_an_unknown_workflow_fails_clearly(state: AppState, tenant: TenantFixture) -> None:
    run_id = await start(state, tenant, chain(node("call", "subworkflow", workflow=str(uuid.uuid4()))))
    done = await wait_for(state, tenant.id, run_id)
    assert done.steps["call"].error["type"] == "WorkflowNotFound"


async def test_loop_until_a_condition_and_until_the_maximum(state: AppState, tenant: TenantFixture) -> None:
    step = await publish(state, tenant, chain(node("next", "transform", value="{{ input.n + 1 }}")), name="inc")
    parent = chain(
        node(
            "until",
            "loop",
            workflow=str(step),
            input={"n": "{{ previous.next if previous else 0 }}"},
            until="{{ output.next >= 3 }}",
            max_iterations=10,
        ),
        node(
            "capped",
            "loop",
            workflow=str(step),
            input={"n": "{{ previous.next if previous else 10 }}"},
            until="{{ output.next > 1000 }}",
            max_iterations=4,
        ),
    )
    run_id = await start(state, tenant, parent)
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["until"].output == {"iterations": 3, "output": {"next": 3}}
    assert done.steps["capped"].output == {"iterations": 4, "output": {"next": 14}}
    loops = [c for c in await children_of(state, tenant, run_id) if c.parent_step_id == "until"]
    assert [c.item_index for c in loops] == [0, 1, 2]


async def test_cancelling_the_parent_cancels_its_children(
    state: AppState, tenant: TenantFixture, tmp_path: Path
) -> None:
    sink = str(tmp_path / "sink")
    child = await publish(state, tenant, chain(node("nap", "test.sleep", seconds=30, sink=sink)), name="long")
    parent = chain(node("each", "foreach", items="{{ input.items }}", workflow=str(child), input={}, max_concurrency=2))
    run_id = await start(state, tenant, parent, {"items": list(range(6))})
    for _ in range(500):
        if len(sink_lines(sink)) >= 2:
            break
        await asyncio.sleep(0.02)
    await state.control.cancel_run(tenant.id, actor(tenant), run_id)
    done = await wait_for(state, tenant.id, run_id, timeout=20)
    assert done.run.status is RunStatus.CANCELLED
    for _ in range(500):
        children = await children_of(state, tenant, run_id)
        if all(c.status.final for c in children):
            break
        await asyncio.sleep(0.02)
    assert len(children) == 2, "no child started after the cancel"
    assert {c.status for c in children} == {RunStatus.CANCELLED}
    assert [line["what"] for line in sink_lines(sink)].count("done") == 0


async def test_a_workflow_calling_itself_stops_at_the_depth_limit(state: AppState, tenant: TenantFixture) -> None:
    async with state.sessions.begin() as s:
        row = await workflows.create(
            s,
            tenant.id,
            actor(tenant),
            state.registry,
            name="recursive",
            description=None,
            definition=chain(node("again", "transform", value=1)),
        )
        await workflows.publish(s, tenant.id, actor(tenant), state.registry, row.id, None)
        await workflows.update(
            s,
            tenant.id,
            actor(tenant),
            state.registry,
            row.id,
            definition=chain(node("again", "subworkflow", workflow=str(row.id))),
        )
        await workflows.publish(s, tenant.id, actor(tenant), state.registry, row.id, None)
    run, _ = await state.control.start_run(tenant.id, "test", row.id)
    done = await wait_for(state, tenant.id, run.id, timeout=60)
    assert done.run.status is RunStatus.FAILED
    async with state.sessions() as s:
        depths = list(
            await s.scalars(
                sa.select(models.Run.depth).where(models.Run.tenant_id == tenant.id, models.Run.workflow_id == row.id)
            )
        )
    assert max(depths) == state.settings.max_run_depth
    async with state.sessions() as s:
        deepest = await s.scalar(
            sa.select(models.Step)
            .join(models.Run, models.Run.id == models.Step.run_id)
            .where(models.Run.tenant_id == tenant.id, models.Run.depth == max(depths), models.Step.step_id == "again")
        )
    assert deepest is not None and deepest.error["type"] == "RecursionLimit"


async def test_retry_reruns_only_the_failed_items(state: AppState, tenant: TenantFixture, tmp_path: Path) -> None:
    sink, closed = str(tmp_path / "sink"), tmp_path / "gate"
    closed.touch()
    child = await publish(state, tenant, chain(node("pass", "test.gate", gate="{{ input.gate }}", sink=sink)), name="g")
    parent = chain(
        node(
            "each",
            "foreach",
            items="{{ input.items }}",
            workflow=str(child),
            input={"gate": f"{{{{ '{closed}' if item == 3 else '' }}}}"},
            max_concurrency=3,
            on_item_error="continue",
        ),
        node("check", "condition", expression="{{ steps.each.output.errors | length == 0 }}"),
        node("stop", "fail", message="some items failed"),
        node("fine", "transform", value="{{ steps.each.output.results | length }}"),
        edges=[("start", "each"), ("each", "check"), ("check", "stop", "false"), ("check", "fine", "true")],
    )
    run_id = await start(state, tenant, parent, {"items": list(range(8))})
    failed = await wait_for(state, tenant.id, run_id, timeout=60)
    assert failed.run.status is RunStatus.FAILED
    assert [e["index"] for e in failed.steps["each"].output["errors"]] == [3]

    closed.unlink()  # the cause is fixed: resume from the fan-out
    await state.control.retry_run(tenant.id, actor(tenant), run_id, "each")
    done = await wait_for(state, tenant.id, run_id, timeout=60)
    assert done.run.status is RunStatus.SUCCEEDED, done.run.error
    assert done.steps["each"].output == {"results": [{"pass": {"passed": True}}] * 8, "errors": []}
    assert done.steps["fine"].output == 8
    calls = [line["run"] for line in sink_lines(sink)]
    children = await children_of(state, tenant, run_id)
    by_index: dict[int, list[models.Run]] = {}
    for c in children:
        by_index.setdefault(c.item_index, []).append(c)
    assert {i: len(runs) for i, runs in by_index.items()} == {i: 2 if i == 3 else 1 for i in range(8)}
    assert len(calls) == 9 and len(set(calls)) == 9, "each kept item ran once; item 3 once more, in a new run"
    assert_events_contiguous(done)


async def test_graphql_lists_children_and_links_them_to_the_parent(
    state: AppState, tenant: TenantFixture, doubler: uuid.UUID, gql: Any
) -> None:
    parent = chain(
        node("each", "foreach", items="{{ input.numbers }}", workflow=str(doubler), input={"n": "{{ item }}"})
    )
    run_id = await start(state, tenant, parent, {"numbers": [1, 2, 3]})
    await wait_for(state, tenant.id, run_id, timeout=30)
    query = """query($id: ID!, $after: String) { run(id: $id) {
        children(first: 2, after: $after, stepId: "each") {
          edges { cursor node { itemIndex parentStepId depth status parent { id } } } pageInfo { hasNextPage } } } }"""
    first = (await gql.data(query, {"id": str(run_id)}, tenant.token()))["run"]["children"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await gql.data(query, {"id": str(run_id), "after": first["edges"][-1]["cursor"]}, tenant.token())
    nodes = [e["node"] for e in first["edges"] + rest["run"]["children"]["edges"]]
    assert sorted(n["itemIndex"] for n in nodes) == [0, 1, 2]
    assert all(n["parentStepId"] == "each" and n["depth"] == 1 and n["status"] == "SUCCEEDED" for n in nodes)
    assert {n["parent"]["id"] for n in nodes} == {str(run_id)}
    other_step = await gql.data(query.replace('stepId: "each"', 'stepId: "nope"'), {"id": str(run_id)}, tenant.token())
    assert other_step["run"]["children"]["edges"] == []


async def test_child_run_events_carry_the_parent_link(
    state: AppState, tenant: TenantFixture, doubler: uuid.UUID
) -> None:
    parent = chain(
        node("each", "foreach", items="{{ input.numbers }}", workflow=str(doubler), input={"n": "{{ item }}"})
    )
    workflow_id = await publish(state, tenant, parent, name="parent")
    seen: list[dict[str, Any]] = []
    async with state.bus.subscribe(channels.tenant_runs(tenant.id)) as live:
        run, _ = await state.control.start_run(tenant.id, "test", workflow_id, input={"numbers": [1, 2]})
        while not any(m.get("run_id") == str(run.id) and m.get("final") for m in seen):
            message = await live.get(timeout=20)
            assert message is not None, "the parent's final event never came"
            seen.append(message)
    children = [m for m in seen if m["run_id"] != str(run.id)]
    assert {m["kind"] for m in children} >= {"run.queued", "run.started", "run.succeeded"}
    assert {m.get("parent_run_id") for m in children} == {str(run.id)}
    assert all("parent_run_id" not in m for m in seen if m["run_id"] == str(run.id))


async def test_another_tenants_workflow_reads_as_missing(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    theirs = await publish(state, other_tenant, chain(node("secret", "transform", value="theirs")), name="theirs")
    errors = {}
    for target in (str(theirs), str(uuid.uuid4())):
        run_id = await start(state, tenant, chain(node("call", "subworkflow", workflow=target)))
        done = await wait_for(state, tenant.id, run_id)
        assert done.run.status is RunStatus.FAILED
        errors[target] = {
            **done.steps["call"].error,
            "message": done.steps["call"].error["message"].replace(target, "<id>"),
        }
        assert await children_of(state, tenant, run_id) == []
    assert len({str(sorted(e.items())) for e in errors.values()}) == 1, errors
    async with state.sessions() as s:
        leaked = await s.scalar(sa.select(sa.func.count()).where(models.Run.workflow_id == theirs))
    assert leaked == 0, "no run of the other tenant's workflow was started"
