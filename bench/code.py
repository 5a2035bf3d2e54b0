"""The code node's per-execution cost: a trivial ``main`` run N times in each language, one after another, through
the functions the node calls (JavaScript: a fresh V8 isolate each time; Python: a fresh bubblewrap sandbox and
interpreter each time, or the unsandboxed process with ``--unsafe-no-sandbox``). In-process, no services; prints
p50/p95/max wall-clock milliseconds per execution. The first execution of each language (the V8 platform's start,
the sandbox probe) is a warm-up and is not counted."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from bench.common import percentile
from studio_worker.code import Job
from studio_worker.code.javascript import run_javascript
from studio_worker.code.python import run_python, sandbox_status

NAME = "code"
HELP = "per-execution cost of the code node: p50/p95 ms of a trivial main in JavaScript and Python"

SOURCES = {
    "javascript": "function main(input, steps, run) {\n  return { doubled: input.n * 2 };\n}\n",
    "python": "def main(input, steps, run):\n    return {'doubled': input['n'] * 2}\n",
}


@dataclass(frozen=True)
class Figures:
    label: str
    latencies_ms: list[float]

    def row(self) -> str:
        ms = self.latencies_ms
        return f"| {self.label} | {len(ms)} | {percentile(ms, 50):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} |"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executions", type=int, default=50, help="executions per language (default 50)")
    parser.add_argument(
        "--unsafe-no-sandbox", action="store_true", help="also time Python without bubblewrap (the opt-out)"
    )


async def measure(language: str, executions: int, unsafe_no_sandbox: bool = False) -> Figures:
    job = Job(SOURCES[language], {"n": 21}, {}, {"id": "bench"}, 10, 128)

    async def once() -> None:
        if language == "javascript":
            done = await run_javascript(job)
        else:
            done = await run_python(job, unsafe_no_sandbox=unsafe_no_sandbox)
        if done.value != {"doubled": 42}:
            raise AssertionError(f"{language}: main returned {done.value!r}")

    await once()  # warm-up
    latencies = []
    for _ in range(executions):
        started = time.perf_counter()
        await once()
        latencies.append((time.perf_counter() - started) * 1000)
    label = f"{language}{' (no sandbox)' if unsafe_no_sandbox else ''}"
    return Figures(label, latencies)


async def run(executions: int, unsafe_no_sandbox: bool) -> list[Figures]:
    results = [await measure("javascript", executions)]
    status = await sandbox_status()
    if status.available:
        results.append(await measure("python", executions))
    else:
        print(f"python (bubblewrap): not measured, the sandbox {status.reason}")
    if unsafe_no_sandbox:
        results.append(await measure("python", executions, unsafe_no_sandbox=True))
    return results


def main(args: argparse.Namespace) -> int:
    results = asyncio.run(run(args.executions, args.unsafe_no_sandbox))
    print("| language | executions | p50 ms | p95 ms | max ms |")
    print("| --- | --- | --- | --- | --- |")
    for figures in results:
        print(figures.row())
    return 0
