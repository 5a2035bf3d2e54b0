"""What one GraphQL operation costs before its resolvers, for the documents the run monitor and the subscriber fleet
send thousands of times: the schema's extensions, parsing and validation (both cached per document: every
operation here is a hit), then an immediate refusal. In-process, no services; prints a table.

Each operation runs through ``build_schema(settings)`` as the API runs it, with a context that holds no credentials:
the first field's permission check refuses it, so nothing reads the database and the figure is the same fixed
work for every configuration compared. Run the same command on two checkouts to compare them (the module only uses
``build_schema``), e.g. before and after a change of the validation rules or their cache.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from studio_gql.context import Context
from studio_gql.schema import build_schema
from studio_shared.settings import Env, Settings

NAME = "graphql-validation"
HELP = "per-operation cost of extensions, cached parsing and validation for the monitor's and subscribers' documents"

# The run monitor's query and subscription (frontend/src/api/operations.ts) and the subscriber fleet's
# subscription (reliability/live.py).
MONITOR_QUERY = """query RunWithDefinition($id: ID!, $version: Int!) {
  run(id: $id) {
    id status version input output error createdAt startedAt finishedAt
    workflow { id name version(version: $version) { definition } }
    steps { stepId nodeType status attempt }
  }
}"""
MONITOR_EVENTS = """subscription RunEvents($runId: ID!, $afterSeq: Int) {
  runEvents(runId: $runId, afterSeq: $afterSeq) { seq kind stepId status at final }
}"""
FLEET_EVENTS = "subscription($id: ID!) { runEvents(runId: $id) { seq runId kind at final } }"
RUN_ID = "00000000-0000-4000-8000-000000000001"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=10_000, help="operations per measurement (default 10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per row; the median is shown")


def _context() -> Context:
    # No credentials: the first field's permission check refuses the operation before any resolver reads anything.
    return Context(state=None, request=None, response=None)  # type: ignore[arg-type]


async def _query(schema: Any, document: str, variables: dict[str, Any]) -> None:
    result = await schema.execute(document, variable_values=variables, context_value=_context())
    if not result.errors or "authentication required" not in result.errors[0].message:
        raise AssertionError(f"expected the permission refusal, got {result.errors}")


async def _subscription(schema: Any, document: str, variables: dict[str, Any]) -> None:
    stream = await schema.subscribe(document, variable_values=variables, context_value=_context())
    results = [item async for item in stream] if hasattr(stream, "__aiter__") else [stream]
    if not results or not results[0].errors or "authentication required" not in results[0].errors[0].message:
        raise AssertionError(f"expected the permission refusal, got {results}")


async def _per_operation_us(call: Callable[[], Awaitable[None]], repeat: int, rounds: int) -> float:
    """CPU time per operation (this process's, so other processes on the machine weigh less), median of rounds."""
    await call()  # the first call parses and validates: every call measured below is a cache hit
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            await call()
        samples.append((time.process_time() - started) / repeat * 1e6)
    return statistics.median(samples)


async def measure(repeat: int, rounds: int) -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    for env in (Env.DEVELOPMENT, Env.PRODUCTION):
        # Production hides "Did you mean …?" (validation and execution) and introspection.
        settings = Settings(env=env, jwt_secret="x" * 32, secret_key="y" * 32)
        schema = build_schema(settings)
        cases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("run monitor query", functools.partial(_query, schema, MONITOR_QUERY, {"id": RUN_ID, "version": 1})),
            ("run monitor runEvents", functools.partial(_subscription, schema, MONITOR_EVENTS, {"runId": RUN_ID})),
            ("subscriber fleet runEvents", functools.partial(_subscription, schema, FLEET_EVENTS, {"id": RUN_ID})),
        ]
        for label, call in cases:
            rows.append((f"{env.value}: {label}", await _per_operation_us(call, repeat, rounds)))
    return rows


def main(args: argparse.Namespace) -> int:
    rows = asyncio.run(measure(args.repeat, args.rounds))
    print(f"{'operation (refused at its first field)':<48} {'CPU µs per operation':>21}")
    for label, us in rows:
        print(f"{label:<48} {us:>21,.1f}")
    return 0
