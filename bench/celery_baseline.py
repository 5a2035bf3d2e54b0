"""The Celery baseline, run by ``.venv-celery/bin/python bench/celery_baseline.py`` (not by the studio's venv).

Celery 5.x with Redis as broker and result backend (kombu's Redis transport needs redis-py >= 6.1, which the
studio's arq cannot use, hence the venv of its own). W10 is a chain of ten no-op tasks, D10 a chain into a
chord (one, eight in a group, one), on a prefork worker with concurrency 2. R chains are started at once and
awaited, then S run one at a time. The timed part keeps every result referenced and the garbage collector
off (celery/celery#10477). Prints one JSON object: steps/s and single-run latencies per workload.

As the worker: ``python bench/celery_baseline.py worker`` (the script starts it itself).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import Celery, chain, chord, group

URL = os.environ.get("STUDIO_BENCH_CELERY_URL", "redis://127.0.0.1:6379/13")
app = Celery("studio_bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    result_expires=600,
)


@app.task(name="noop")
def noop(value: Any = None, *_: Any) -> Any:
    return value


def build(workload: str) -> Any:
    if workload == "W10":
        return chain(noop.s(0), *(noop.s() for _ in range(9)))
    return chain(noop.s(0), chord(group(noop.s() for _ in range(8)), noop.s()))


def start_worker(logs: Path) -> subprocess.Popen[bytes]:
    log = logs / "celery-worker.log"
    command = [sys.executable, __file__, "worker"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the Celery worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def measure(workload: str, runs: int, single: int) -> dict[str, Any]:
    for _ in range(5):  # warm-up: connections, the worker's pool
        build(workload).apply_async().get(timeout=30)
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        results = [build(workload).apply_async() for _ in range(runs)]
        for result in results:
            result.get(timeout=600)
        elapsed = time.perf_counter() - started
        single_ms = []
        for _ in range(single):
            t0 = time.perf_counter()
            build(workload).apply_async().get(timeout=30)
            single_ms.append((time.perf_counter() - t0) * 1000)
        del results
    finally:
        gc.enable()
    return {"steps_per_s": runs * 10 / elapsed, "single_ms": single_ms}


def main() -> int:
    if sys.argv[1:2] == ["worker"]:
        app.worker_main(
            ["worker", "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"]
        )  # fmt: skip
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--workloads", default="W10,D10")
    args = parser.parse_args()
    import redis

    redis.Redis.from_url(URL).flushdb()
    with tempfile.TemporaryDirectory(prefix="studio-bench-celery-") as tmp:
        worker = start_worker(Path(tmp))
        try:
            figures = {w: measure(w, args.runs, args.single) for w in args.workloads.split(",")}
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    import celery

    print(json.dumps({"celery": celery.__version__, "workloads": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
