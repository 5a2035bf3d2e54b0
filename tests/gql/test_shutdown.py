"""A stop that cannot hang: SIGTERM ends ``studio serve`` within its shutdown grace even with a request that never
ends by itself, and a process whose stop hangs is ended at its deadline with the hung tasks' stacks in its log
(``studio_shared.shutdown``)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from studio_shared.db.migrate import upgrade
from studio_shared.settings import Settings
from studio_shared.shutdown import EXIT_CODE, MARGIN_S
from tests.conftest import REPO, StudioProcesses, start_serve

GRACE_S = 1.0


def test_sigterm_ends_serve_with_a_request_in_flight(settings: Settings, tmp_path: Path) -> None:
    """A request that does not end by itself (here a body that never comes; a webhook's ``?wait=`` lasts up to its
    wait): before the stop had a grace, uvicorn waited for it and a rolling restart hung until SIGKILL. Now it is
    cancelled after the grace and the process exits cleanly."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}"
    upgrade(url)
    embedded = settings.model_copy(update={"database_url": url, "redis_url": None, "shutdown_grace_s": GRACE_S})
    env = StudioProcesses(embedded, tmp_path, "serve").env()
    log = tmp_path / "serve.log"
    proc, base = start_serve(env, log)
    port = int(base.rsplit(":", 1)[1])
    try:
        # a request whose body never comes (a stalled upload, a slow client): the app waits on it for ever
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: studio\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"query": "{ me'
            )
            time.sleep(0.5)  # read by the server, which now awaits the rest
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=GRACE_S + MARGIN_S + 20)
            took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    # a clean stop (uvicorn re-raises the SIGTERM it handled once it is done): the grace's own cancellation, not
    # the deadline's forced exit
    assert code in (0, -signal.SIGTERM), text[-3000:]
    assert "timeout graceful shutdown exceeded" in text  # the request was cancelled, not waited for
    assert "shutdown deadline" not in text
    assert took < GRACE_S + MARGIN_S, f"stopped in {took:.1f} s"


HUNG = """
import asyncio, logging, sys
from studio_shared import shutdown

logging.basicConfig(level=logging.INFO, stream=sys.stderr)

async def hang_forever_on_close() -> None:
    await asyncio.Event().wait()

async def main() -> None:
    task = asyncio.create_task(hang_forever_on_close(), name="closing-the-pool")
    await asyncio.sleep(0.05)
    assert shutdown.arm(0.2, "studio test", margin_s=0.6, loop=asyncio.get_running_loop())
    assert not shutdown.arm(0.2, "studio test")  # a second stop request keeps the first deadline
    await task
    print("not reached")

asyncio.run(main())
"""

QUICK = """
import asyncio, sys
from studio_shared import shutdown

async def main() -> None:
    shutdown.arm(0.5, "studio test", margin_s=0.5, loop=asyncio.get_running_loop())
    assert 0 < shutdown.remaining(0.5) <= 0.5
    await asyncio.sleep(0.05)

asyncio.run(main())
sys.exit(3)
"""


def _python(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a script of this test
        [sys.executable, "-c", textwrap.dedent(source)], cwd=REPO, capture_output=True, text=True, timeout=30
    )


def test_a_stop_that_hangs_is_ended_at_its_deadline_with_the_stacks_logged() -> None:
    done = _python(HUNG)
    assert done.returncode == EXIT_CODE, done.stderr
    assert "not reached" not in done.stdout
    assert "studio test still running 0.8 s after it was asked to stop" in done.stderr
    # the hung task, by name and by the line it waits on, and the threads' stacks
    assert "closing-the-pool" in done.stderr and "hang_forever_on_close" in done.stderr, done.stderr
    assert "the threads' stacks at the shutdown deadline" in done.stderr


def test_a_stop_that_completes_keeps_its_own_exit() -> None:
    done = _python(QUICK)
    assert done.returncode == 3, done.stderr
    assert "shutdown deadline" not in done.stderr


def test_remaining_is_the_whole_grace_before_a_stop_is_asked() -> None:
    from studio_shared import shutdown

    assert shutdown.remaining(7.5) == 7.5  # nothing in this process asked to stop
