"""The ``code`` node: the user's JavaScript or Python ``main(input, steps, run)``, sandboxed (see studio_worker.code).

The step's output is what ``main`` returned; what the code printed becomes the step's logs. Every failure of the
code itself (an exception, a timeout, a memory overrun, an output too large or not JSON) is not retryable: running
the same code on the same data again fails the same way. The step has no effect outside itself, so executing it
again after a worker was killed is safe.
"""

from __future__ import annotations

from typing import Any

from studio_shared.settings import Settings
from studio_worker.code import CodeError, Execution, Job, gate
from studio_worker.code.javascript import run_javascript
from studio_worker.code.python import run_python
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec

MAX_TIMEOUT_S = 60
MAX_MEMORY_MB = 512
MIN_MEMORY_MB = 16


def _settings(ctx: NodeContext) -> Settings:
    return ctx.services.settings if ctx.services is not None else Settings()


def _keep_logs(ctx: NodeContext, text: str) -> None:
    if text:
        ctx.logs.extend(text.rstrip("\n").split("\n"))


async def code(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    language = str(config.get("language") or "javascript")
    source = config.get("source")
    if not isinstance(source, str) or not source.strip():
        raise NodeError("InvalidConfig", "source is empty: write a function main(input, steps, run)")
    timeout_s = float(config.get("timeout_s", 5))
    memory_mb = int(config.get("memory_mb", 128))
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise NodeError("InvalidConfig", f"timeout_s must be above 0 and at most {MAX_TIMEOUT_S}")
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise NodeError("InvalidConfig", f"memory_mb must be from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}")
    scope = ctx.scope
    job = Job(source, scope.get("input"), scope.get("steps"), scope.get("run"), timeout_s, memory_mb)
    settings = _settings(ctx)
    execution: Execution
    try:
        async with gate(language, settings.code_max_concurrent):
            if language == "javascript":
                execution = await run_javascript(job)
            elif language == "python":
                execution = await run_python(
                    job,
                    packages=settings.code_python_packages,
                    unsafe_no_sandbox=settings.code_python_unsafe_no_sandbox,
                )
            else:
                raise NodeError("InvalidConfig", f"unknown language {language!r}: use javascript or python")
    except CodeError as exc:
        _keep_logs(ctx, exc.logs)
        raise NodeError(exc.type, exc.message) from None
    _keep_logs(ctx, execution.logs)
    return NodeResult(output=execution.value)


SPECS = [NodeSpec("code", code, raw_fields=frozenset({"source"}))]
