"""A stop that cannot hang: a process asked to stop is gone within its shutdown grace plus a margin.

``studio serve``, ``studio worker`` and ``studio scheduler`` stop gently on SIGTERM/SIGINT: no new work is taken, the
work in hand gets ``STUDIO_SHUTDOWN_GRACE_S`` to finish, then connections close. Anything that still holds the process
after that (a cancelled task that keeps awaiting, a connection that never answers its close) must not keep a rolling
restart or a container stop waiting for its SIGKILL: ``arm`` starts a timer when the stop is asked; at the deadline
the pending asyncio tasks' stacks go to the log and every thread's to stderr (so the hang can be diagnosed), and the
process exits.

This is safe because the database is the source of truth: a run this process drove is leased, and another process
resumes it as after a ``kill -9`` (released leases at once, held ones when they expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import io
import logging
import os
import sys
import threading
import time

log = logging.getLogger(__name__)

MARGIN_S = 5.0  # after the grace: closing connections and pools takes well under a second when nothing hangs
EXIT_CODE = 70  # EX_SOFTWARE: the stop did not complete by itself
DUMP_AHEAD_S = 0.5  # the asyncio tasks are dumped from the loop this long before the exit, if the loop still turns

_armed = threading.Lock()
_asked_at: float | None = None  # time.monotonic() of the stop request


def remaining(grace_s: float) -> float:
    """What is left of a grace that counts from the stop request (all of it before one): the steps of a stop share
    one grace instead of each taking a whole one."""
    if _asked_at is None:
        return grace_s
    return max(grace_s - (time.monotonic() - _asked_at), 0.0)


def arm(
    grace_s: float, what: str, *, margin_s: float = MARGIN_S, loop: asyncio.AbstractEventLoop | None = None
) -> bool:
    """Exit the process ``grace_s + margin_s`` from now unless it has exited by then; idempotent (a second SIGTERM
    keeps the first deadline). ``loop``, when given, is asked to dump its tasks just before. Returns whether this
    call armed the deadline."""
    global _asked_at
    if not _armed.acquire(blocking=False):
        return False
    _asked_at = time.monotonic()
    deadline_s = max(grace_s, 0.0) + margin_s
    thread = threading.Thread(
        target=_expire, args=(deadline_s, what, loop), name="studio-shutdown-deadline", daemon=True
    )
    thread.start()
    return True


def _expire(deadline_s: float, what: str, loop: asyncio.AbstractEventLoop | None) -> None:
    time.sleep(max(deadline_s - DUMP_AHEAD_S, 0.0))
    if loop is not None and not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # closed in the meantime: the process is on its way out
            loop.call_soon_threadsafe(_dump_tasks)
    time.sleep(min(DUMP_AHEAD_S, deadline_s))
    log.error(
        "%s still running %.1f s after it was asked to stop: exiting now (its runs resume in other processes)",
        what,
        deadline_s,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.write(f"{what}: the threads' stacks at the shutdown deadline:\n")
    sys.stderr.flush()
    faulthandler.dump_traceback(all_threads=True)
    os._exit(EXIT_CODE)


def _dump_tasks() -> None:
    """Every pending asyncio task's stack (runs on the loop, so the tasks hold still while they are read)."""
    tasks = [task for task in asyncio.all_tasks() if not task.done()]
    stacks = io.StringIO()
    for task in tasks:
        task.print_stack(limit=12, file=stacks)
    log.error("%d asyncio task(s) pending at the shutdown deadline:\n%s", len(tasks), stacks.getvalue())
