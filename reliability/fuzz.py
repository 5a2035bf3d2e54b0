"""Hypothesis fuzzing: the strategies ``tests/gql/test_fuzz.py`` uses in-process, and ``hostile-fuzz``, which
sends more of the same to the real services.

``hostile-fuzz``: a real ``studio serve`` and ``studio worker`` on PostgreSQL and Redis. Workflow definitions
drawn near and far from valid go through ``validateDefinition`` and ``createWorkflow``; the ones accepted are
published and run with drawn inputs; GraphQL documents generated from ``schema.graphql`` by hypothesis-graphql
(valid and invalid ones) go to ``/graphql``. Counted: answers by status (never a 5xx), masked internal errors
(0), problems without a path, a code or a message (0), tracebacks in the server's log (0), and the fuzzed runs
that did not reach a final status (0). Examples are derandomized: a failure repeats.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from bench.engine import REPO
from reliability.faults import _wait_final
from reliability.hostile import fresh_client, services, tracebacks
from reliability.outcome import Measured, Outcome
from studio_shared.rbac import Role

VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path message code } }"
CREATE = """mutation($n: String!, $d: JSON!) {
  createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { path message code } } }"""
PUBLISH = "mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { path message code } } }"
START = """mutation($w: ID!, $i: JSON) {
  startRun(workflowId: $w, input: $i) { run { id } errors { path message code } } }"""
INTERNAL = "Internal error"


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, derandomized (the same every run)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def definitions(types: list[str]) -> st.SearchStrategy[Any]:
    """Workflow definitions near valid (real node types and ids, drawn configs) and far from it."""
    ids = st.sampled_from(["start", "a", "b", "c", "", "A-1", "x" * 70, "1a", "a b", "ü"]) | st.text(max_size=8)
    node = st.fixed_dictionaries(
        {"id": ids, "type": st.sampled_from([*types, "nope", "", "http.request "]) | st.text(max_size=6)},
        optional={
            "config": json_values,
            "retry": json_values | st.fixed_dictionaries({"max_attempts": st.integers(-5, 50)}),
            "timeout_s": st.integers(-10, 10**7)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=3),
            "on_error": st.sampled_from(["fail", "continue", "branch", "??"]),
            "position": json_values,
        },
    )
    edge = st.fixed_dictionaries(
        {"source": ids, "target": ids},
        optional={"branch": st.text(max_size=6) | st.none(), "extra": json_values},
    )
    shaped = st.fixed_dictionaries(
        {"nodes": st.lists(node | json_values, max_size=6), "edges": st.lists(edge | json_values, max_size=6)},
        optional={"extra": json_values},
    )
    return (shaped | json_values).filter(lambda d: d is not None)  # null is refused by JSON! itself


def runnable(types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Chains of a manual trigger and transform/condition nodes with drawn configs: many are valid, so the
    fuzzing reaches publish and the engine, not only the validator."""
    config = st.fixed_dictionaries(
        {"value": json_values | st.sampled_from(["{{ input }}", "{{ input.a.b }}", "{{ 1/0 }}", "{{ steps }}"])}
    )
    cond = st.fixed_dictionaries(
        {"expression": st.sampled_from(["input", "input.x > 1", "1/0", "", "steps.n1.output"]) | st.text(max_size=10)}
    )
    middle = st.lists(
        st.sampled_from(["transform", "condition"]).flatmap(
            lambda t: st.fixed_dictionaries({"type": st.just(t), "config": config if t == "transform" else cond})
        ),
        min_size=1,
        max_size=4,
    )

    def chain(steps: list[dict[str, Any]]) -> dict[str, Any]:
        nodes_ = [{"id": "start", "type": "trigger.manual", "config": {}}]
        nodes_ += [{"id": f"n{i}", **step} for i, step in enumerate(steps, 1)]
        edges = [
            {"source": a["id"], "target": b["id"], **({"branch": "true"} if a["type"] == "condition" else {})}
            for a, b in itertools.pairwise(nodes_)
        ]
        return {"nodes": nodes_, "edges": edges}

    return middle.map(chain)


SCALARS = {
    "JSON": st.builds(lambda v: nodes.String(json.dumps(v)), json_values) | st.just(nodes.Int(1)),
    "DateTime": st.sampled_from(["2026-11-26T09:00:00Z", "yesterday", ""]).map(nodes.String),
}


def graphql_documents(mode: Mode, count: int) -> list[str]:
    sdl = (REPO / "schema.graphql").read_text()
    return examples(from_schema(sdl, custom_scalars=SCALARS, mode=mode), count)


class Tally:
    """What the fuzzed requests got back."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.masked: list[str] = []
        self.pathless: list[str] = []
        self.server_errors: list[str] = []

    def answer(self, what: str, response: httpx.Response) -> dict[str, Any] | None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{what}: {response.status_code} {response.text[:160]}")
        if INTERNAL in response.text:
            self.masked.append(f"{what}: {response.text[:160]}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    def problems(self, what: str, problems: list[dict[str, Any]]) -> None:
        for problem in problems:
            if not (isinstance(problem.get("path"), list) and problem.get("message") and problem.get("code")):
                self.pathless.append(f"{what}: {problem}")


async def hostile_fuzz(runs: int) -> Outcome:
    count = max(50, runs * 3)
    tally = Tally()
    started_runs: list[uuid.UUID] = []
    async with services(worker=True) as sv:
        types = sv.state.registry.types()
        token = {"authorization": f"Bearer {sv.a.tokens[Role.ADMIN]}"}
        began = time.monotonic()
        async with fresh_client(sv.base, timeout_s=30) as client:

            async def call(what: str, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
                response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=token)
                body = tally.answer(what, response)
                return None if body is None or body.get("errors") else body["data"]

            drawn = examples(definitions(types), count) + examples(runnable(types), count)
            inputs = examples(json_values, len(drawn))
            for index, (definition, input_) in enumerate(zip(drawn, inputs, strict=True)):
                what = f"definition {index}"
                if (checked := await call(what, VALIDATE, {"d": definition})) is not None:
                    tally.problems(what, checked["validateDefinition"])
                made = await call(what, CREATE, {"n": f"fuzz-{index}", "d": definition})
                if made is None:
                    continue
                tally.problems(what, made["createWorkflow"]["errors"])
                workflow = made["createWorkflow"]["workflow"]
                if workflow is None:
                    continue
                published = await call(what, PUBLISH, {"id": workflow["id"]})
                if published is None or published["publishWorkflow"]["errors"]:
                    continue
                start = await call(what, START, {"w": workflow["id"], "i": input_})
                if start is not None:
                    tally.problems(what, start["startRun"]["errors"])
                    if start["startRun"]["run"]:
                        started_runs.append(uuid.UUID(start["startRun"]["run"]["id"]))
            documents = graphql_documents(Mode.POSITIVE, count) + graphql_documents(Mode.NEGATIVE, count)
            for index, document in enumerate(documents):
                response = await client.post("/graphql", json={"query": document}, headers=token)
                tally.answer(f"document {index}", response)
        elapsed = time.monotonic() - began
        statuses = await _wait_final(sv.observer, started_runs, 60)
        stuck = len(started_runs) - sum(1 for status in statuses.values() if status.final)
        logged = tracebacks(sv)
        alive = sv.alive()
    requests = sum(tally.statuses.values())
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
    print("| definitions | documents | requests | answers | 5xx | masked | problems without path | runs started "
          "| runs not final | tracebacks | s |")  # fmt: skip
    print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(drawn)} | {len(documents)} | {requests:,} | {statuses} | {len(tally.server_errors)}"
        f" | {len(tally.masked)} | {len(tally.pathless)} | {len(started_runs)} | {stuck} | {logged} | {elapsed:.0f} |"
    )
    for line in (tally.server_errors + tally.masked + tally.pathless)[:5]:
        print(f"  {line}")
    outcome = Outcome(
        figures={
            "requests": f"{requests:,}",
            "5xx": str(len(tally.server_errors)),
            "masked": str(len(tally.masked)),
            "runs started": str(len(started_runs)),
            "tracebacks": str(logged),
        }
    )
    outcome.check("no 5xx", not tally.server_errors)
    outcome.check("no masked internal error", not tally.masked)
    outcome.check("every problem has a path, a code and a message", not tally.pathless)
    outcome.check("fuzzed workflows reached the engine", len(started_runs) > 0)
    outcome.check("every fuzzed run reached a final status", stuck == 0)
    outcome.check("no traceback in the server's log; the services stayed up", logged == 0 and alive)
    return outcome


SCENARIOS = [
    Measured(
        "hostile-fuzz",
        "hypothesis-drawn definitions (created, published, run) and hypothesis-graphql documents against the services",
        hostile_fuzz,
    ),
]
