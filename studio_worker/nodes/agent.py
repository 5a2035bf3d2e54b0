"""``agent``: the tool-calling loop. The model answers or asks for tools; HTTP and MCP tools run inline, workflow
tools run as child runs while the step waits holding no worker, and every tool call is a step event.

The tools the model may call are fixed when the step starts: the definition's HTTP and workflow tools, and the
tools its MCP servers list (narrowed by each server's allow-list), saved in the step's state. Nothing the model
or a tool result says can add one: a call to any other name is refused and answered with an error.

The loop's progress (the transcript, the model calls made, the child runs it waits for) lives in the step's
saved state; model answers are memoized per call (``llm.complete``), so a resumed or re-executed agent
continues where it was without paying for an answer twice.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from studio_shared.db import jsondata
from studio_shared.db.types import utcnow
from studio_shared.events import EventKind
from studio_shared.schemas import UnusableSchema, user_schema
from studio_shared.store import tool_calls
from studio_shared.types import HumanTaskStatus
from studio_worker.nodes import http, memory
from studio_worker.nodes import llm_budget as budget
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.children import ChildRuns, Target
from studio_worker.nodes.human import apply_deadlines, load_task, next_deadline, open_task
from studio_worker.nodes.llm import complete, model_credential, usage_of
from studio_worker.nodes.mcp_tools import McpTool, call_tool, list_tools, result_text
from studio_worker.nodes.outputs import derived_id
from studio_worker.nodes.redact import Redactor

MAX_TOOL_RESULT_CHARS = 20_000
MAX_CONVERSATION_CHARS = 20_000  # of the conversation an approval task shows (the latest part)
TRUE_WORDS = frozenset({"true", "1", "yes"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # idempotent by HTTP's definition
ANY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def _children(ctx: NodeContext) -> ChildRuns:
    if ctx.children is None:
        raise NodeError("Unsupported", "agent steps need the run engine's child runs")
    return ctx.children


async def agent(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    targets: dict[str, Any] = {}
    mcp: dict[str, Any] = {}  # server__tool -> {"entry": index in config.tools, **McpTool.state()}
    list_timeout = ctx.need_services().settings.mcp_list_timeout_s if _has_mcp(config) else 0.0
    for index, tool in enumerate(config.get("tools") or []):
        if tool["kind"] == "workflow":
            target = await _children(ctx).resolve(tool["workflow"], tool.get("version"))
            targets[tool["name"]] = target.state()
        elif tool["kind"] == "mcp":
            for listed in await list_tools(ctx, tool, list_timeout):
                mcp[listed.qualified] = {"entry": index, **listed.state()}
    messages: list[dict[str, Any]] = [{"role": "system", "content": str(config["instructions"])}]
    key = memory.conversation_key(config)
    earlier = await memory.load(ctx, key) if key else []
    messages += earlier
    if config.get("message") is not None:
        messages.append({"role": "user", "content": str(config["message"])})
    state: dict[str, Any] = {
        "messages": messages,
        "memory": {"key": key, "earlier": len(earlier)} if key else None,
        "calls": 0,
        "answers": [],  # usage of each model call
        "targets": targets,
        "mcp": mcp,
        "pending": {},  # tool_call_id -> {"index", "name", "deadline"}
        "spawned": 0,
    }
    return await _advance(ctx, config, state)


async def agent_resume(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return await _advance(ctx, config, dict(ctx.state or {}))


async def _advance(ctx: NodeContext, config: dict[str, Any], state: dict[str, Any]) -> NodeResult:
    credential = await model_credential(ctx, config)
    tools = {tool["name"]: tool for tool in config.get("tools") or [] if tool["kind"] != "mcp"}
    for qualified, listed in (state.get("mcp") or {}).items():
        tools[qualified] = {"kind": "mcp", "name": qualified, "entry": listed["entry"], "listed": listed}
    limit = int(config.get("max_iterations") or 8)
    while True:
        if state.get("approvals"):
            waiting = await _collect_approvals(ctx, config, tools, state)
            if waiting is not None:
                return waiting
        if state["pending"]:
            waiting = await _collect_children(ctx, state)
            if waiting is not None:
                return waiting
        if state["calls"] >= limit:
            raise NodeError("MaxIterations", f"the agent made {limit} model calls without a final answer")
        request: dict[str, Any] = {"model": config["model"], "messages": state["messages"]}
        if tools:
            request["tools"] = [await _declaration(ctx, tool, state) for tool in tools.values()]
        if config.get("max_tokens"):
            request["max_tokens"] = config["max_tokens"]
        answer = await complete(ctx, credential, request, index=state["calls"], config=config)
        state["calls"] += 1
        state["answers"].append({"usage": answer.get("usage") or {}})
        message = answer["choices"][0].get("message") or {}
        calls = message.get("tool_calls") or []
        state["messages"].append(
            {"role": "assistant", "content": message.get("content"), **({"tool_calls": calls} if calls else {})}
        )
        if not calls:
            if state.get("memory"):
                earlier = int(state["memory"]["earlier"])
                remembered = state["messages"][1 : 1 + earlier]
                new = state["messages"][1 + earlier :]
                await memory.store(ctx, config, credential, state["memory"]["key"], remembered, new)
            return NodeResult(
                output={
                    "answer": message.get("content"),
                    "transcript": state["messages"],
                    "usage": {**usage_of(state["answers"]), "budgets": await budget.report(ctx, config)},
                }
            )
        for call in calls:
            await _run_tool(ctx, config, tools, state, call)


async def _declaration(ctx: NodeContext, tool: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    parameters = tool.get("parameters") or ANY_OBJECT
    if tool["kind"] == "mcp":
        listed = McpTool.from_state(tool["listed"])
        return {
            "type": "function",
            "function": {"name": tool["name"], "description": listed.description, "parameters": listed.parameters},
        }
    if tool["kind"] == "workflow":
        definition = await _children(ctx).definition(Target.from_state(state["targets"][tool["name"]]))
        parameters = definition.trigger.config.get("input_schema") or ANY_OBJECT
    return {
        "type": "function",
        "function": {"name": tool["name"], "description": tool.get("description", ""), "parameters": parameters},
    }


async def _run_tool(
    ctx: NodeContext, config: dict[str, Any], tools: dict[str, Any], state: dict[str, Any], call: dict[str, Any]
) -> None:
    call_id = str(call.get("id") or f"call_{state['calls']}")
    function = call.get("function") or {}
    name = str(function.get("name"))
    tool = tools.get(name)

    def reply(content: Any) -> None:
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        state["messages"].append({"role": "tool", "tool_call_id": call_id, "content": text[:MAX_TOOL_RESULT_CHARS]})

    if tool is None:
        ctx.event(EventKind.STEP_TOOL_CALL, tool=name, call_id=call_id, error="unknown tool")
        reply({"error": f"there is no tool named {name!r}; use one of: {', '.join(tools)}"})
        return
    try:
        args = jsondata.loads(function.get("arguments") or "{}")
    except ValueError:
        args = None
    schema = tool.get("parameters") if tool["kind"] == "http" else None
    problem = _argument_problem(args, schema)
    if problem:
        ctx.event(EventKind.STEP_TOOL_CALL, tool=name, call_id=call_id, error=problem)
        reply({"error": problem})
        return
    ctx.event(EventKind.STEP_TOOL_CALL, tool=name, call_id=call_id, arguments=args)
    if _needs_approval(ctx, tool, config, args):
        await _ask_approval(ctx, config, state, call_id, name, args)
        return
    await _execute(ctx, config, tool, state, call_id, args)


def _reply(state: dict[str, Any], call_id: str, content: Any) -> None:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    state["messages"].append({"role": "tool", "tool_call_id": call_id, "content": text[:MAX_TOOL_RESULT_CHARS]})


async def _execute(
    ctx: NodeContext, config: dict[str, Any], tool: dict[str, Any], state: dict[str, Any], call_id: str, args: Any
) -> None:
    """Run one (allowed, and approved where that is needed) tool call; its result becomes the tool message."""
    name = str(tool["name"])
    timeout_s = float(config.get("tool_timeout_s") or 30)
    key = f"{state['calls']}:{call_id}"  # the model's call ids are stable: its answers are memoized
    if tool["kind"] == "mcp":
        entry = (config.get("tools") or [])[int(tool["entry"])]
        listed = McpTool.from_state(tool["listed"])

        async def run_mcp() -> Any:
            try:
                return await call_tool(ctx, entry, listed, args, timeout_s)
            except NodeError as exc:
                return {"error": exc.message}

        idempotent = listed.idempotent or bool(entry.get("idempotent"))
        result = await _once(ctx, key, name, idempotent, run_mcp)
        state["messages"].append({"role": "tool", "tool_call_id": call_id, "content": result_text(result)})
        return
    if tool["kind"] == "workflow":
        index = state["spawned"]
        try:
            await _children(ctx).spawn(Target.from_state(state["targets"][name]), [(index, args)])
        except NodeError as exc:
            _reply(state, call_id, {"error": exc.message})
            return
        state["spawned"] = index + 1
        deadline = utcnow() + timedelta(seconds=timeout_s)
        state["pending"][call_id] = {"index": index, "name": name, "deadline": deadline.isoformat()}
        return
    if ctx.render is None:
        raise NodeError("Unsupported", "agent steps need the run engine's templates")
    request = ctx.render(tool["request"], {"args": args}, ("config", "tools", name, "request"))

    async def run_http() -> Any:
        try:
            result = await asyncio.wait_for(http.call(ctx, {**request, "timeout_s": timeout_s}), timeout_s)
            return {"status": result["status"], "body": result["body"]}
        except NodeError as exc:
            return {"error": exc.message}
        except TimeoutError:
            return {"error": f"the tool took longer than {timeout_s:g} s"}

    method = str(request.get("method") or "GET").upper()
    idempotent = bool(tool.get("idempotent", method in SAFE_METHODS))
    _reply(state, call_id, await _once(ctx, key, name, idempotent, run_http))


async def _once(ctx: NodeContext, key: str, name: str, idempotent: bool, run: Callable[[], Awaitable[Any]]) -> Any:
    """``run()``'s result, recorded before and after the call so that a re-executed step does not call twice.

    A finished call answers from its record. A call that started but never finished (the worker died during it)
    runs again only when the tool is idempotent; otherwise the model is told its outcome is unknown: at most
    once for other tools, at least once (and usually exactly once) for idempotent ones.
    """
    services = ctx.need_services()
    record_id = derived_id(ctx, "agent-tool", key)
    async with services.db.connect() as conn:
        memo = await tool_calls.recorded(conn, ctx.tenant_id, record_id)
    if memo is not None and memo.finished:
        ctx.log(f"tool call {name}: result reused from an earlier execution (not called again)")
        return memo.result
    if memo is not None and not idempotent:
        return {
            "error": "this call was interrupted (the worker stopped) and its outcome is unknown; it was not "
            "repeated because the tool is not marked idempotent"
        }
    row = {"id": record_id, "tenant_id": ctx.tenant_id, "run_id": ctx.run_id, "step_id": ctx.step_id, "tool": name}
    async with services.db.begin() as conn:
        await tool_calls.start(conn, row)
    answer = await run()
    # A tool echoing a secret must not put it in the record either. Redacted after the call: the call resolves
    # its credential, which adds that credential's secrets to ctx.secrets (a redactor built before missed them).
    result = Redactor(ctx.secrets)(answer)
    async with services.db.begin() as conn:
        await tool_calls.finish(conn, ctx.tenant_id, record_id, result)
    return result


# -- approval of tool calls --------------------------------------------------------------------------------


def _needs_approval(ctx: NodeContext, tool: dict[str, Any], config: dict[str, Any], args: Any) -> bool:
    """``requires_approval`` on the tool's entry, or its ``approval_rule`` (a template over ``args``) true."""
    entry = (config.get("tools") or [])[int(tool["entry"])] if tool["kind"] == "mcp" else tool
    if entry.get("requires_approval"):
        return True
    rule = entry.get("approval_rule")
    if not rule:
        return False
    if ctx.render is None:
        raise NodeError("Unsupported", "agent steps need the run engine's templates")
    verdict = ctx.render(rule, {"args": args}, ("config", "tools", str(tool["name"]), "approval_rule"))
    return verdict is True or str(verdict).strip().lower() in TRUE_WORDS


def _conversation(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        text = message.get("content")
        calls = message.get("tool_calls") or []
        if calls:
            asked = ", ".join(f"{(c.get('function') or {}).get('name')}(…)" for c in calls)
            text = f"{text or ''} [asks for {asked}]".strip()
        lines.append(f"{message.get('role')}: {text}")
    joined = "\n".join(lines)
    return joined if len(joined) <= MAX_CONVERSATION_CHARS else "…" + joined[-MAX_CONVERSATION_CHARS:]


async def _ask_approval(
    ctx: NodeContext, config: dict[str, Any], state: dict[str, Any], call_id: str, name: str, args: Any
) -> None:
    """Open a human task for the call (once per call, even when the step runs again) and remember it."""
    options = dict(config.get("approval") or {})
    arguments = json.dumps(args, indent=2, default=str)
    message = f"Tool: {name}\n\nArguments:\n{arguments}\n\nConversation so far:\n{_conversation(state['messages'])}"
    task_config = {**options, "title": f"Approve the agent's call to {name}", "message": message, "form_schema": None}
    task = await open_task(ctx, task_config, key=f"agent-tool-approval:{state['calls']}:{call_id}")
    state.setdefault("approvals", {})[call_id] = {"task_id": str(task.id), "name": name, "args": args}


async def _collect_approvals(
    ctx: NodeContext, config: dict[str, Any], tools: dict[str, Any], state: dict[str, Any]
) -> NodeResult | None:
    """Run the approved calls, answer the rejected or expired ones; a NodeResult to keep waiting, or None."""
    still: dict[str, Any] = {}
    deadlines: list[datetime] = []
    for call_id, entry in dict(state["approvals"]).items():
        task = await apply_deadlines(ctx, await load_task(ctx, uuid.UUID(entry["task_id"])))
        if task.status is HumanTaskStatus.APPROVED:
            await _execute(ctx, config, tools[entry["name"]], state, call_id, entry["args"])
            continue
        if task.status is HumanTaskStatus.OPEN:
            still[call_id] = entry
            deadline = next_deadline(task)
            if deadline is not None:
                deadlines.append(deadline)
            continue
        reason = {
            HumanTaskStatus.REJECTED: task.comment or "no comment",
            HumanTaskStatus.EXPIRED: "nobody approved the call in time",
        }.get(task.status, "the approval was cancelled")
        ctx.event(EventKind.STEP_TOOL_CALL, tool=entry["name"], call_id=call_id, error="rejected")
        _reply(state, call_id, f"rejected: {reason}")
    state["approvals"] = still
    if not still:
        return None
    deadlines += [datetime.fromisoformat(p["deadline"]) for p in state["pending"].values()]
    return NodeResult(wait_until=min(deadlines) if deadlines else None, wait=True, state=state)


def _has_mcp(config: dict[str, Any]) -> bool:
    return any(tool["kind"] == "mcp" for tool in config.get("tools") or [])


def _argument_problem(args: Any, schema: dict[str, Any] | None) -> str | None:
    if not isinstance(args, dict):
        return "the arguments must be a JSON object"
    if schema:
        try:
            problem = user_schema(schema).first_message(args)
        except UnusableSchema as exc:  # a version stored before today's rules: refused, never fetched
            return f"the tool's parameter schema cannot be used; the workflow must be fixed and published again: {exc}"
        if problem is not None:
            return f"invalid arguments: {problem}"
    return None


async def _collect_children(ctx: NodeContext, state: dict[str, Any]) -> NodeResult | None:
    """Answer finished (or overdue) workflow tool calls; a NodeResult to keep waiting, or None to go on."""
    children = _children(ctx)
    pending: dict[str, Any] = state["pending"]
    finished = await children.outcomes([p["index"] for p in pending.values()])
    now = utcnow()
    still: dict[str, Any] = {}
    for call_id, entry in pending.items():
        outcome = finished.get(entry["index"])
        overdue = now.isoformat() >= entry["deadline"]
        # Cancelling an overdue child pokes this run, which makes the engine run this resume again: a child
        # cancelled after its deadline reads as the timeout, so the transcript (and the memoized model call
        # that follows) is the same both times.
        if outcome is not None and not (overdue and outcome.status == "CANCELLED"):
            content = (
                {"output": outcome.output}
                if outcome.succeeded
                else {"error": f"the workflow {outcome.status.lower()}", "detail": outcome.error}
            )
        elif overdue:
            content = {"error": "the workflow did not finish in time; it was cancelled"}
        else:
            still[call_id] = entry
            continue
        text = json.dumps(content, default=str)[:MAX_TOOL_RESULT_CHARS]
        state["messages"].append({"role": "tool", "tool_call_id": call_id, "content": text})
    if still:
        state["pending"] = still
        wake = min(entry["deadline"] for entry in still.values())
        return NodeResult(wait_until=datetime.fromisoformat(wake), state=state)
    overdue = [e["index"] for cid, e in pending.items() if cid not in still and e["index"] not in finished]
    if overdue:
        await children.cancel_active()
    state["pending"] = {}
    return None


SPECS = [NodeSpec("agent", agent, resume=agent_resume, raw_fields=frozenset({"tools"}), resume_on_poke=True)]
