"""Flow nodes whose work is other runs: foreach (a child per item), subworkflow (one child), loop (in turn).

Each starts its first children, then waits holding no worker. Every time a child finishes, its final
transaction pokes the parent run; the parent's driver then resumes the step, which looks only at the
children it still waits for (``pending``, at most ``max_concurrency``), starts the next ones, and finishes
once none is left. Progress lives in the step's saved state and in the child rows themselves, so a driver
that dies between spawning children and saving its state finds them again instead of spawning twice.
"""

from __future__ import annotations

from typing import Any

from studio_worker.nodes.base import ChildOutcome, NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.children import ChildRuns, Target

CHILD_FAILED = {"FAILED": "failed", "CANCELLED": "was cancelled"}


def _children(ctx: NodeContext) -> ChildRuns:
    children = ctx.children
    if children is None:
        raise NodeError("Unsupported", f"{ctx.node_type} steps need the run engine's child runs")
    return children


def _render_input(ctx: NodeContext, template: Any, extra: dict[str, Any]) -> Any:
    if ctx.render is None:
        raise NodeError("Unsupported", f"{ctx.node_type} steps need the run engine's templates")
    return ctx.render(template, extra, ("config", "input"))


def _failure(outcome: ChildOutcome, what: str) -> NodeError:
    message = (outcome.error or {}).get("message") or "no message"
    return NodeError(
        "ChildFailed",
        f"{what} {CHILD_FAILED.get(outcome.status, outcome.status.lower())} in child run {outcome.run_id}: {message}",
    )


async def _sync_spawned(children: ChildRuns, state: dict[str, Any]) -> None:
    """Children this step spawned but did not save in its state (its driver died in between) are adopted.

    The common case costs one key lookup: is there a child at the index the state says comes next?
    """
    todo: list[int] | None = state.get("todo")  # a resumed foreach spawns these item indexes, in this order

    def index(k: int) -> int:
        return k if todo is None else todo[k]

    if todo is not None and state["spawned"] >= len(todo):
        return
    if not await children.exists(Target.from_state(state["target"]), index(state["spawned"])):
        return
    spawned = await children.spawned()
    if spawned > state["spawned"]:
        state["pending"] = sorted({*state["pending"], *(index(k) for k in range(state["spawned"], spawned))})
        state["spawned"] = spawned


# -- foreach ---------------------------------------------------------------------------------------------


async def foreach(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    children = _children(ctx)
    items = config["items"]
    if not isinstance(items, list):
        raise NodeError(
            "InvalidItems", f"items must be a list, but the template gave {type(items).__name__}: check config.items"
        )
    limit = children.max_foreach_items
    if len(items) > limit:
        raise NodeError("TooManyItems", f"items has {len(items)} entries; a foreach takes at most {limit}")
    target = await children.resolve(config["workflow"], config.get("version"))
    state: dict[str, Any] = {"target": target.state(), "spawned": 0, "pending": [], "todo": None}
    if children.generation > 0:
        # Resumed by retryRun: items a child already did keep their outputs; only the others run again.
        done = await children.succeeded_indexes()
        state["todo"] = [i for i in range(len(items)) if i not in done]
    return await _foreach_progress(ctx, config, state)


async def foreach_resume(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return await _foreach_progress(ctx, config, dict(ctx.state or {}))


async def _foreach_progress(ctx: NodeContext, config: dict[str, Any], state: dict[str, Any]) -> NodeResult:
    children = _children(ctx)
    items: list[Any] = config["items"]
    target = Target.from_state(state["target"])
    await _sync_spawned(children, state)
    finished = await children.outcomes(state["pending"])
    failed = [outcome for outcome in finished.values() if not outcome.succeeded]
    if failed and config.get("on_item_error", "fail_fast") == "fail_fast":
        await children.cancel_active()
        # The cause, not its consequence: a sibling this step cancelled (a resume interrupted after the cancel) is
        # named only when no child failed.
        first = min(failed, key=lambda outcome: (outcome.status == "CANCELLED", outcome.index))
        raise _failure(first, f"item {first.index}")
    pending = [i for i in state["pending"] if i not in finished]
    todo: list[int] | None = state.get("todo")  # None: every item, in order
    start = state["spawned"]
    stop = min(
        len(items) if todo is None else len(todo), start + int(config.get("max_concurrency") or 1) - len(pending)
    )
    if stop > start:
        indexes = list(range(start, stop)) if todo is None else todo[start:stop]
        inputs = [
            (i, _render_input(ctx, config.get("input", "{{ item }}"), {"item": items[i], "index": i})) for i in indexes
        ]
        await children.spawn(target, inputs)
        pending.extend(indexes)
    state.update(spawned=max(start, stop), pending=pending)
    if pending:
        return NodeResult(wait=True, state=state)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    for outcome in await children.all_outcomes():
        results.append(outcome.output if outcome.succeeded else None)
        if not outcome.succeeded:
            errors.append({"index": outcome.index, "run_id": outcome.run_id, "error": outcome.error})
    return NodeResult(output={"results": results, "errors": errors})


# -- subworkflow -----------------------------------------------------------------------------------------


async def subworkflow(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    children = _children(ctx)
    target = await children.resolve(config["workflow"], config.get("version"))
    state = {"target": target.state(), "spawned": 0, "pending": []}
    await _sync_spawned(children, state)
    if not state["spawned"]:
        await children.spawn(target, [(0, _render_input(ctx, config.get("input", {}), {}))])
        state.update(spawned=1, pending=[0])
    return await subworkflow_resume(ctx, {**config}, state)


async def subworkflow_resume(
    ctx: NodeContext, config: dict[str, Any], state: dict[str, Any] | None = None
) -> NodeResult:
    state = dict(state if state is not None else ctx.state or {})
    finished = await _children(ctx).outcomes([0])
    if 0 not in finished:
        return NodeResult(wait=True, state=state)
    if not finished[0].succeeded:
        raise _failure(finished[0], "the workflow")
    return NodeResult(output=finished[0].output)


# -- loop ------------------------------------------------------------------------------------------------


async def loop(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    children = _children(ctx)
    target = await children.resolve(config["workflow"], config.get("version"))
    state: dict[str, Any] = {"target": target.state(), "spawned": 0, "pending": []}
    await _sync_spawned(children, state)
    if not state["spawned"]:
        await _next_iteration(ctx, config, state, previous=None)
    return await loop_resume(ctx, config, state)


async def loop_resume(ctx: NodeContext, config: dict[str, Any], state: dict[str, Any] | None = None) -> NodeResult:
    children = _children(ctx)
    state = dict(state if state is not None else ctx.state or {})
    iteration = state["spawned"] - 1
    finished = await children.outcomes([iteration])
    if iteration not in finished:
        return NodeResult(wait=True, state=state)
    outcome = finished[iteration]
    if not outcome.succeeded:
        raise _failure(outcome, f"iteration {iteration}")
    done = iteration + 1 >= int(config.get("max_iterations") or 1)
    until = config.get("until")
    if not done and until:
        if ctx.render is None:
            raise NodeError("Unsupported", "loop steps need the run engine's templates")
        done = bool(ctx.render(until, {"output": outcome.output, "iteration": iteration}, ("config", "until")))
    if done:
        return NodeResult(output={"iterations": iteration + 1, "output": outcome.output})
    await _next_iteration(ctx, config, state, previous=outcome.output)
    return NodeResult(wait=True, state=state)


async def _next_iteration(ctx: NodeContext, config: dict[str, Any], state: dict[str, Any], previous: Any) -> None:
    iteration = state["spawned"]
    child_input = _render_input(ctx, config.get("input", {}), {"iteration": iteration, "previous": previous})
    await _children(ctx).spawn(Target.from_state(state["target"]), [(iteration, child_input)])
    state.update(spawned=iteration + 1, pending=[iteration])


SPECS = [
    NodeSpec("foreach", foreach, resume=foreach_resume, raw_fields=frozenset({"input"}), resume_on_poke=True),
    NodeSpec(
        "subworkflow", subworkflow, resume=subworkflow_resume, raw_fields=frozenset({"input"}), resume_on_poke=True
    ),
    NodeSpec("loop", loop, resume=loop_resume, raw_fields=frozenset({"input", "until"}), resume_on_poke=True),
]
