"""Process logs: JSON lines (or text on a terminal) with the ids of what a line is about bound to it.

What a line is about is bound in a context variable where the work starts, and every log line below it carries it
whatever logger writes it: ``request_id`` (the API's middleware: ``X-Request-ID`` or a new one), ``tenant_id`` and
``run_id`` (a run's start in ``Control``, a run's driver in a worker), ``step_id`` (a step's execution) and
``trace_id`` (the current span's, when traces are on). Standard library logging only: ``configure`` installs one
handler on the root logger with ``ContextFields`` (adds the bound ids to each record) and a formatter.

Bound values are ids, never secrets; messages are the code's own, which never format a credential's value
(``tests/worker/test_canary.py`` scans the JSON lines of every process for the canaries).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

from studio_shared import tracing

FIELDS = ("request_id", "tenant_id", "run_id", "step_id", "trace_id")

_bound: ContextVar[dict[str, str]] = ContextVar("studio_log_fields", default={})  # noqa: B039 - never mutated


def bind(**fields: object) -> Token[dict[str, str]]:
    """Bind ``fields`` (None: leave out) for the rest of this context; ``unbind(token)`` restores the previous."""
    return _bound.set({**_bound.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


def unbind(token: Token[dict[str, str]]) -> None:
    _bound.reset(token)


@contextlib.contextmanager
def bound(**fields: object) -> Iterator[None]:
    """``fields`` bound inside the block (and in the tasks it creates)."""
    token = bind(**fields)
    try:
        yield
    finally:
        _bound.reset(token)


def current() -> dict[str, str]:
    """What is bound here, with the current trace id when there is one."""
    fields = dict(_bound.get())
    trace_id = tracing.trace_id()
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields


class ContextFields(logging.Filter):
    """Adds the bound ids to each record, as ``record.context`` (a dict) and as attributes of their own names."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current()
        record.context = fields
        for name, value in fields.items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the bound ids, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, then the bound ids as ``key=value`` (for a developer's terminal)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "context", {})
        if not fields:
            return text
        head, _, rest = text.partition("\n")
        tail = " ".join(f"{name}={fields[name]}" for name in FIELDS if name in fields)
        return f"{head}  [{tail}]" + (f"\n{rest}" if rest else "")


def formatter(kind: str, stream: TextIO) -> logging.Formatter:
    """``json``, ``text``, or ``auto``: text when ``stream`` is a terminal, JSON otherwise."""
    if kind == "auto":
        kind = "text" if stream.isatty() else "json"
    return TextFormatter() if kind == "text" else JsonFormatter()


def configure(kind: str = "auto", level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """The root logger writes to ``stream`` (stderr) through one handler with the bound ids; replaces handlers a
    previous call installed. Uvicorn's loggers propagate here when it is started with ``log_config=None``."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFields())
    handler.setFormatter(formatter(kind, stream))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "studio", False)]:
        root.removeHandler(old)
    handler.studio = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler
