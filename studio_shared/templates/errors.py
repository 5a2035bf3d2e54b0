"""``TemplateError`` and the messages it carries: what to fix, never more than ~60 characters of the data."""

from __future__ import annotations

import re
from collections.abc import Sequence

from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateSyntaxError, UndefinedError

SHOWN = 60  # longest quoted value an error message may show
_LONG_QUOTED = re.compile(rf"'[^'\n]{{{SHOWN + 1},}}'|\"[^\"\n]{{{SHOWN + 1},}}\"")
_LONG_TOKEN = re.compile(rf"\S{{{SHOWN + 20},}}")
_UNDEFINED_NAME = re.compile(r"has no attribute '([^']*)'|'([^']*)' is undefined")


class TemplateError(Exception):
    """A template that cannot be compiled or rendered: ``path`` says where in the config, the message what to fix."""

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        self.message = message
        self.path: tuple[str, ...] = tuple(path)
        super().__init__(f"{'.'.join(self.path)}: {message}" if self.path else message)


def count_text(n: int) -> str:
    """Format a (possibly astronomically large) size for an error message."""
    return f"{n:,}" if n < 10**15 else "an enormous number of"


def shorten(text: str) -> str:
    """Shorten quoted values and long tokens so no data longer than ~60 characters reaches a message."""
    text = _LONG_QUOTED.sub(lambda m: f"{m.group(0)[: SHOWN // 2]}…{m.group(0)[0]}", text)
    text = _LONG_TOKEN.sub(lambda m: f"{m.group(0)[: SHOWN // 2]}…", text)
    return text if len(text) <= 240 else f"{text[:240]}…"


def excerpt(source: str) -> str:
    """The template source for an error message, shortened."""
    flat = " ".join(source.split())
    return flat if len(flat) <= SHOWN else f"{flat[: SHOWN - 1]}…"


def not_data(value: object) -> TemplateError:
    """The error for a value that is not JSON data."""
    kind = type(value).__name__
    if callable(value):
        return TemplateError(
            f"the expression produced a function ({kind}), not data: call it with (...), or check that the key exists"
        )
    return TemplateError(
        f"the expression must produce JSON data (text, number, boolean, null, list, object), not {kind}"
    )


def describe(exc: BaseException) -> str:
    """A short, data-safe message for an exception raised while compiling or rendering."""
    if isinstance(exc, TemplateError):
        return exc.message
    if isinstance(exc, UndefinedError):
        message = shorten(exc.message or "a value is undefined")
        match = _UNDEFINED_NAME.search(message)
        if match and match.group(2) is not None:
            return f"{message} — templates can read input, steps and run"
        key = match.group(1) if match else ""
        optional = f".get('{key}')" if key.isidentifier() else ".get(...)"
        return f"{message} — check the name, or make it optional with {optional} or | default(...)"
    if isinstance(exc, SecurityError):
        return f"not allowed: {shorten(str(exc))}"
    if isinstance(exc, TemplateAssertionError):
        return shorten(exc.message or str(exc))
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if exc.source and "\n" in exc.source else ""
        return f"syntax error: {shorten(exc.message or str(exc))}{where}"
    if isinstance(exc, RecursionError):
        return "the expression or its data is nested too deeply"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = shorten(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
