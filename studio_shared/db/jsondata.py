"""The one encoder for JSON columns: every value the studio stores as JSON passes through ``encode``.

- JSON has no Infinity or NaN. ``json.dumps`` would write them anyway (``Infinity``): PostgreSQL then refuses
  the whole transaction and SQLite stores text that no JSON parser reads back. They are refused here
  (``NotStorable``, kind ``NonFiniteNumber``) with the path of the first one, and so are values that are not
  JSON data at all (a datetime, a set), integers past Python's int/str limit and nesting past the encoder's
  recursion (kind ``NotJSON``).
- PostgreSQL stores neither U+0000 nor unpaired surrogates: both become U+FFFD, so one such character in a node's
  output never fails its run's commits.

``encode`` returns an ``Encoded``: the value, its text and the text's size in UTF-8 bytes. The run engine encodes
a batch before any of its statements runs, so a value that cannot be stored fails its own batch only, and the
sizes counted against the stored-output quotas are those of the text the database receives. The engine's
``json_serializer`` (``storable_json``) passes an ``Encoded`` through and encodes anything else the same way.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

# A JSON escape of U+0000 after an even run of backslashes (an odd run would make it literal text).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, a surrogate code point is always an unpaired one
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN = 40  # longest key an error's path quotes

NON_FINITE = "NonFiniteNumber"
NOT_JSON = "NotJSON"


class NotStorable(ValueError):
    """A value no JSON column can hold; ``kind`` is the error type a step fails with, ``path`` where it is."""

    def __init__(self, kind: str, problem: str, path: str = "") -> None:
        self.kind, self.problem, self.path = kind, problem, path
        super().__init__(f"{path or 'the value'} {problem}")

    def at(self, prefix: str) -> NotStorable:
        """The same problem, located under ``prefix`` (``steps.fetch.output``)."""
        return NotStorable(self.kind, self.problem, f"{prefix}{self.path}")


@dataclass(frozen=True, slots=True)
class Encoded:
    """A value with its stored JSON text and that text's size in UTF-8 bytes."""

    value: Any
    text: str
    size: int


def encode(value: Any) -> Encoded:
    """``value`` as the text a JSON column stores; ``NotStorable`` (located) when JSON cannot hold it."""
    if type(value) is Encoded:
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise _located(value, exc) from None
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return Encoded(value, text, len(text) if text.isascii() else len(text.encode()))


def storable_json(value: Any) -> str:
    """The engine's ``json_serializer``: the text of an ``Encoded``, or ``value`` encoded now."""
    return value.text if type(value) is Encoded else encode(value).text


def loads(text: str | bytes) -> Any:
    """Parse JSON as the standard has it, for data from outside (HTTP bodies, model answers): Python's parser
    also takes ``NaN``, ``Infinity`` and numbers that overflow to them, which nothing could store afterwards.
    Raises ValueError (``json.JSONDecodeError`` for malformed text) like ``json.loads``."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON has no Infinity or NaN)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is beyond what JSON numbers hold")
    return number


def stored_size(value: Any) -> int:
    """Bytes ``value`` takes as stored JSON (0 for None, a NULL), counting what an older database kept as it is."""
    if value is None:
        return 0
    try:
        return encode(value).size
    except NotStorable:  # written before this encoder refused it (SQLite kept "Infinity"): count its text
        return len(json.dumps(value, ensure_ascii=False, default=str).encode(errors="replace"))


def describe(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def _located(value: Any, exc: BaseException) -> NotStorable:
    """The first value under ``value`` that JSON cannot hold, with its path (walked without recursion)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > 2_000:
            return NotStorable(NOT_JSON, "is nested too deeply to store (over 2,000 levels)", path)
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return NotStorable(NON_FINITE, f"is {describe(item)}; JSON has no Infinity or NaN", path)
        elif isinstance(item, int):
            try:
                int.__repr__(item)
            except ValueError:  # past the interpreter's int/str digit limit
                return NotStorable(NOT_JSON, "is a number with too many digits to write as text", path)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if isinstance(key, float) and not math.isfinite(key):
                    return NotStorable(NON_FINITE, f"has the key {describe(key)}; JSON has no Infinity or NaN", path)
                if not (key is None or isinstance(key, str | int | float | bool)):
                    return NotStorable(NOT_JSON, f"has a key of type {type(key).__name__}; JSON keys are text", path)
                children.append((child, f"{path}{_step(key)}", depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item)]))
        else:
            return NotStorable(NOT_JSON, f"is a {type(item).__name__}, not JSON data", path)
    if isinstance(exc, RecursionError):
        return NotStorable(NOT_JSON, "is nested too deeply to store")
    return NotStorable(NOT_JSON, "cannot be stored as JSON (a reference cycle?)")


def _step(key: Any) -> str:
    text = key if isinstance(key, str) else json.dumps(key)
    if _IDENTIFIER.fullmatch(text):
        return f".{text}"
    shown = text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"
    return f"[{json.dumps(shown, ensure_ascii=False)}]"
