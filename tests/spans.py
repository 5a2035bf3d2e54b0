"""Spans as the tests see them: the API process's from an in-memory exporter, the `studio worker` processes' from the
JSON lines they write (STUDIO_OTEL_SPANS_FILE, see tests/conftest.py), both as plain data (``tracing.as_dict``)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from studio_shared import tracing
from tests.conftest import SERVICES, Workers

Span = dict[str, Any]


def worker_spans(workers: Workers) -> list[Span]:
    return [
        json.loads(line)
        for path in workers.logs.glob("spans-*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]


async def spans_of(
    trace_id: str, exporter: InMemorySpanExporter, workers: Workers, want_steps: int, timeout: float = 20
) -> list[Span]:
    """Every span of the trace, the API's and (services mode) the workers', once the workers' steps are exported."""
    deadline = time.monotonic() + timeout
    while True:
        found = [tracing.as_dict(s) for s in exporter.get_finished_spans()]
        if SERVICES:
            found += worker_spans(workers)
        found = [s for s in found if s["trace_id"] == trace_id]
        if sum(s["name"].startswith("step ") for s in found) >= want_steps or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def one(spans: list[Span], name: str) -> Span:
    named = [s for s in spans if s["name"] == name]
    assert len(named) == 1, (name, [s["name"] for s in spans])
    return named[0]


def tree(spans: list[Span]) -> str:
    """The span tree as indented text (the README shows one)."""
    children: dict[str | None, list[Span]] = {}
    ids = {s["span_id"] for s in spans}
    for s in sorted(spans, key=lambda s: s["start_ns"]):
        children.setdefault(s["parent_id"] if s["parent_id"] in ids else None, []).append(s)

    def lines(parent: str | None, depth: int) -> list[str]:
        out = []
        for s in children.get(parent, []):
            ms = (s["end_ns"] - s["start_ns"]) / 1e6
            out.append(f"{'  ' * depth}{s['name']}  [{s['service']}, {ms:.1f} ms]")
            out += lines(s["span_id"], depth + 1)
        return out

    return "\n".join(lines(None, 0))
