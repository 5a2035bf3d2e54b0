"""The ``code`` node through real workflow runs, in the mode of this pass (embedded, or PostgreSQL + Redis with
real ``studio worker`` processes): both languages read the input, the earlier steps and the run, return the step's
output, print into its logs, and fail without retries when the code fails. The escape and exhaustion corpus is
test_code_corpus.py."""

from __future__ import annotations

from typing import Any

import pytest

from studio_gql.state import AppState
from studio_worker.code.python import sandbox_status
from tests.conftest import TenantFixture, missing_service
from tests.worker.engine_harness import chain, run_once

pytestmark = pytest.mark.usefixtures("workers")

JS = """
function main(input, steps, run) {
  console.log("items:", input.items.length, {first: input.items[0]});
  const total = input.items.reduce((sum, item) => sum + item.price, 0);
  return { total, doubled: steps.prepare.output.factor * total, run: run.id, template: "{{ input.items }}" };
}
"""

PY = """
def main(input, steps, run):
    print("items:", len(input["items"]), {"first": input["items"][0]})
    total = sum(item["price"] for item in input["items"])
    return {"total": total, "doubled": steps["prepare"]["output"]["factor"] * total, "run": run["id"],
            "template": "{{ input.items }}"}
"""

FAILING = {
    "javascript": "function main(input) {\n  console.log('about to fail');\n  return input.missing.field;\n}\n",
    "python": "def main(input, steps, run):\n    print('about to fail')\n    return input['missing']['field']\n",
}
LOOPING = {
    "javascript": "function main() {\n  while (true) {}\n}\n",
    "python": "def main(input, steps, run):\n    while True:\n        pass\n",
}


def code(language: str, source: str, **config: Any) -> dict[str, Any]:
    return {
        "id": "code",
        "type": "code",
        "config": {"language": language, "source": source, **config},
        "retry": {"max_attempts": 3, "initial_interval_s": 0.05, "jitter": False},
    }


PREPARE = {"id": "prepare", "type": "transform", "config": {"value": {"factor": 2}}}


@pytest.fixture(params=["javascript", "python"])
async def language(request: pytest.FixtureRequest) -> str:
    if request.param == "python":
        status = await sandbox_status()
        if not status.available:
            missing_service("the bubblewrap sandbox", f"bwrap {status.reason}; apt-get install bubblewrap")
    return str(request.param)


async def test_code_returns_its_output_and_prints_into_the_logs(
    state: AppState, tenant: TenantFixture, language: str
) -> None:
    source = JS if language == "javascript" else PY
    items = [{"price": 3}, {"price": 4}]
    finished = await run_once(state, tenant, chain(PREPARE, code(language, source)), input={"items": items})
    step = finished.steps["code"]
    assert finished.run.status.value == "SUCCEEDED", step.error
    assert step.output == {"total": 7, "doubled": 14, "run": str(finished.run.id), "template": "{{ input.items }}"}
    assert finished.run.output == {"code": step.output}  # the sink's output, by step id
    assert step.input["source"] == source  # kept as written: the source is no template
    assert step.envelope is not None
    first = "items: 2 {'first': {'price': 3}}" if language == "python" else 'items: 2 {"first":{"price":3}}'
    assert step.envelope["logs"] == [first]


async def test_an_error_in_the_code_fails_the_step_once_with_the_line(
    state: AppState, tenant: TenantFixture, language: str
) -> None:
    finished = await run_once(state, tenant, chain(code(language, FAILING[language])), input={"x": 1})
    step = finished.steps["code"]
    assert finished.run.status.value == "FAILED"
    assert step.error["type"] == "CodeError" and step.error["retryable"] is False
    assert step.error["message"].endswith("(line 3)"), step.error
    expected = "KeyError: 'missing'" if language == "python" else "TypeError: Cannot read properties of undefined"
    assert step.error["message"].startswith(expected)
    assert step.attempt == 1  # not retried, though the node allows three attempts
    assert step.envelope is not None and step.envelope["logs"] == ["about to fail"]


async def test_a_timeout_fails_the_step_without_retries(state: AppState, tenant: TenantFixture, language: str) -> None:
    finished = await run_once(state, tenant, chain(code(language, LOOPING[language], timeout_s=0.5)))
    step = finished.steps["code"]
    assert finished.run.status.value == "FAILED"
    assert step.error == {
        "type": "CodeTimeout",
        "message": "the code ran past timeout_s=0.5 and was stopped",
        "retryable": False,
    }
    assert step.attempt == 1


async def test_a_step_may_read_what_an_earlier_code_step_returned(state: AppState, tenant: TenantFixture) -> None:
    first = code("javascript", "function main(input) { return { word: input.word.toUpperCase() }; }")
    second = {**code("javascript", "function main(input, steps) { return steps.code.output.word + '!'; }"), "id": "two"}
    finished = await run_once(state, tenant, chain(first, second), input={"word": "hello"})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["two"].error
    assert finished.steps["two"].output == "HELLO!"
