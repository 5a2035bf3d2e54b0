"""Strict JSON for request bodies and websocket messages: only JSON that PostgreSQL can store and Python can walk.

PostgreSQL cannot store U+0000, UTF-8 has no unpaired surrogates, JSON has no NaN or Infinity, and a value nested
deeper than ``MAX_JSON_DEPTH`` is refused here rather than by a recursion limit somewhere later. Each is the
client's mistake: a 400 with a message, never a 500 or a masked "internal error".
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 128  # node configs may nest 100 levels (the template engine's limit), plus the request around them
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadJSON(ValueError):
    """A request body or message that is not JSON this API can store; the message says what to fix."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> None:
    raise BadJSON(f"{name} is not JSON: send a number or null")


def loads(data: str | bytes) -> Any:
    """Decode client JSON strictly (see the module's doc); ``BadJSON`` says what is wrong. Undecodable bytes
    raise ``UnicodeDecodeError`` as ``json.loads`` does."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise BadJSON(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (BadJSON, UnicodeDecodeError):
        raise
    except json.JSONDecodeError as exc:
        raise BadJSON(f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError:  # an integer beyond the interpreter's digit limit
        raise BadJSON("a number in the JSON has too many digits") from None
    if problem := unstorable(value):
        raise BadJSON(problem)
    return value


def text_problem(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text may not contain U+0000 (NUL)"
    return f"text may not contain an unpaired surrogate (U+{ord(found.group()):04X}): send valid Unicode"


def unstorable(value: Any) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored, or None; walks without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(item, dict):
                for key, child in item.items():
                    if problem := text_problem(key):
                        return problem
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None
