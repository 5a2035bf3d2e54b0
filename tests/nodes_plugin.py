"""Test-only node types, loaded with STUDIO_NODE_PLUGINS=tests.nodes_plugin in the API and every worker.

Each records its executions as lines in a sink file (O_APPEND writes are atomic across processes), so a
test can count exactly how often a step really ran, whichever worker process ran it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from studio_worker.nodes import NodeContext, NodeError, NodeResult, NodeSpec

log = logging.getLogger("tests.nodes")
_SINK = {"type": "string", "title": "Sink file", "description": "File that records each execution."}


def _doc(type_: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": type_,
        "title": type_,
        "category": "Testing",
        "description": f"{type_}: a node for the studio's own tests.",
        "config_schema": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"sink": _SINK, **properties},
            "required": required or [],
        },
        "output_schema": {"type": "object"},
        "branches": [],
    }


NODE_TYPES = [
    _doc("test.flaky", {"fail_times": {"type": "integer", "minimum": 0}}, ["fail_times"]),
    _doc("test.sleep", {"seconds": {"type": "number", "minimum": 0}}, ["seconds"]),
    _doc("test.count", {}),
    _doc("test.gate", {"gate": {"type": "string", "description": "Fails while this file exists."}}, ["gate"]),
    # A node whose output holds the number its text names, as a parser of upstream data might ("inf", "nan").
    _doc("test.number", {"value": {"type": "string"}}, ["value"]),
    # A node that emits an event of the kind it is given (a kind longer than the column, for one).
    _doc("test.event", {"kind": {"type": "string"}}, ["kind"]),
]


def record(ctx: NodeContext, config: dict[str, Any], what: str) -> None:
    # A process log line from inside a step: the ids bound to it are tested (tests/gql/test_logs.py).
    log.info("test node %s: %s", ctx.step_id, what)
    sink = config.get("sink")
    if not sink:
        return
    line = json.dumps(
        {"run": str(ctx.run_id), "step": ctx.step_id, "attempt": ctx.attempt, "key": ctx.idempotency_key, "what": what}
    )
    fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def flaky(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    record(ctx, config, "call")
    if ctx.attempt <= int(config["fail_times"]):
        raise NodeError("Flaky", f"failing on purpose (attempt {ctx.attempt})", retryable=True)
    return NodeResult(output={"attempt": ctx.attempt})


async def sleep(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    record(ctx, config, "start")
    await asyncio.sleep(float(config["seconds"]))
    record(ctx, config, "done")
    return NodeResult(output={"slept": config["seconds"]})


async def count(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    record(ctx, config, "call")
    return NodeResult(output={"counted": True})


async def gate(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    record(ctx, config, "call")
    if config["gate"] and await asyncio.to_thread(os.path.exists, config["gate"]):
        raise NodeError("GateClosed", f"the gate {config['gate']} is closed")
    return NodeResult(output={"passed": True})


async def number(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return NodeResult(output={"total": float(config["value"]), "items": [1, {"deep": float(config["value"])}]})


async def event(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    # Past the typed contract on purpose: a kind the database refuses (tests/worker/test_stored_outputs.py).
    ctx.events.append((config["kind"], {"n": 1}))
    return NodeResult(output={"emitted": config["kind"]})


SPECS = [
    NodeSpec("test.flaky", flaky),
    NodeSpec("test.sleep", sleep),
    NodeSpec("test.count", count),
    NodeSpec("test.gate", gate),
    NodeSpec("test.number", number),
    NodeSpec("test.event", event),
]


def sink_lines(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
