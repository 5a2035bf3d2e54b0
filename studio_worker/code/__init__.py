"""Running the ``code`` node's user code: JavaScript in a V8 isolate (``javascript``), Python in a bubblewrap
sandbox (``python``, with ``runner.py`` inside it). Both take the same job and give the same answer."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

MAX_LOG_CHARS = 64 * 1024  # what the code printed, kept for the step's logs
MAX_OUTPUT_BYTES = 8 * 1024 * 1024  # the JSON main may return
TRUNCATED = "… [the code printed {dropped:,} more characters; the logs keep the first {kept:,}]"


class CodeError(Exception):
    """The code failed, or was stopped: a type (CodeError, CodeTimeout, CodeMemoryLimit, CodeOutputTooLarge,
    CodeOutputInvalid, SandboxUnavailable), a message for the user, and what it printed before that."""

    def __init__(self, type: str, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.type, self.message, self.logs = type, message, logs


@dataclass(frozen=True, slots=True)
class Job:
    source: str
    input: Any
    steps: Any
    run: Any
    timeout_s: float
    memory_mb: int


@dataclass(frozen=True, slots=True)
class Execution:
    value: Any
    logs: str  # what the code printed, at most MAX_LOG_CHARS, with a marker when more was printed


def with_marker(logs: str, dropped: int) -> str:
    return logs + ("\n" + TRUNCATED.format(dropped=dropped, kept=len(logs)) if dropped > 0 else "")


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()


def gate(language: str, size: int) -> asyncio.Semaphore:
    """How many executions of ``language`` this process runs at once (one semaphore per event loop)."""
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    if language not in per_loop:
        per_loop[language] = asyncio.Semaphore(size)
    return per_loop[language]
